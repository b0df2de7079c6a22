// Cuts a release of the action: node scripts/release.mjs 1.2.3 [--dry-run] [--push]
//
// Checks, before anything changes: on branch main, the working tree clean, the version semver and newer than
// package.json's, no tag of it yet, CHANGELOG.md with a non-empty "## [Unreleased]" section, and dist/ what the
// sources bundle to (node scripts/bundle.mjs, the same as npm run bundle, then git status --porcelain -- dist).
// Then: sets the version in package.json and package-lock.json (npm version --no-git-tag-version), moves the
// Unreleased section into "## [1.2.3] - YYYY-MM-DD" (with its link reference), commits, creates the annotated tag
// v1.2.3 and moves the major tag v1 to it (not for a pre-release such as 1.3.0-rc.1: v1 is what users run).
// It prints the push command and pushes only with --push. --dry-run runs the read-only checks and prints what it
// would do, changing nothing (not even dist/: the bundle is not run).
//
// Every command gets an argument array (execFileSync, no shell). The pure parts are exported for the unit tests
// (test/unit/release.test.ts); the command line runs only when this file is the script node was started with.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Semantic Versioning 2.0.0 (https://semver.org), the regular expression it recommends.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/**
 * The parts of a semantic version, or undefined when it is not one. A leading "v" is not part of a version.
 * @param {string} version
 * @returns {{ major: number, minor: number, patch: number, prerelease: string[], build: string | undefined } | undefined}
 */
export function parseVersion(version) {
  const m = SEMVER.exec(version);
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    prerelease: m[4] ? m[4].split('.') : [],
    build: m[5],
  };
}

/**
 * Semantic Versioning precedence: negative when a < b, 0 when equal (build metadata is ignored), positive when a > b.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
export function compareVersions(a, b) {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x) throw new Error(`not a semantic version: ${a}`);
  if (!y) throw new Error(`not a semantic version: ${b}`);
  for (const key of /** @type {const} */ (['major', 'minor', 'patch'])) {
    if (x[key] !== y[key]) return x[key] - y[key];
  }
  // A pre-release comes before its release: 1.0.0-rc.1 < 1.0.0.
  if (x.prerelease.length === 0 || y.prerelease.length === 0) return y.prerelease.length - x.prerelease.length;
  for (let i = 0; i < Math.min(x.prerelease.length, y.prerelease.length); i++) {
    const p = x.prerelease[i];
    const q = y.prerelease[i];
    if (p === q) continue;
    const pNumeric = /^\d+$/.test(p);
    const qNumeric = /^\d+$/.test(q);
    if (pNumeric && qNumeric) return Number(p) - Number(q);
    if (pNumeric !== qNumeric) return pNumeric ? -1 : 1; // numeric identifiers come first
    return p < q ? -1 : 1; // ASCII order
  }
  return x.prerelease.length - y.prerelease.length; // 1.0.0-alpha < 1.0.0-alpha.1
}

/**
 * The version to release, checked against the current one: semver (a leading "v" is dropped) and newer.
 * Throws an Error saying what is wrong.
 * @param {string} requested e.g. "1.2.3" or "v1.2.3"
 * @param {string} current package.json's version
 * @returns {string} the version without "v"
 */
export function checkVersion(requested, current) {
  const version = requested.trim().replace(/^v(?=\d)/, '');
  if (!parseVersion(version)) {
    throw new Error(`"${requested}" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-rc.1)`);
  }
  if (parseVersion(version)?.build !== undefined) {
    throw new Error(`"${requested}" has build metadata (+...): a release tag names a version without it`);
  }
  if (!parseVersion(current)) throw new Error(`package.json's version "${current}" is not a semantic version`);
  if (compareVersions(version, current) <= 0) {
    throw new Error(`${version} is not newer than package.json's version ${current}`);
  }
  return version;
}

/**
 * The major tag that users name (uses: org/bluegreen-action@v1), or undefined for a pre-release, which must not
 * move it.
 * @param {string} version
 * @returns {string | undefined}
 */
export function majorTag(version) {
  const v = parseVersion(version);
  if (!v) throw new Error(`not a semantic version: ${version}`);
  return v.prerelease.length > 0 ? undefined : `v${v.major}`;
}

const UNRELEASED_HEADING = /^## \[Unreleased\]\s*$/i;
const RELEASE_HEADING = /^## \[([^\]]+)\]/;
const LINK_REFERENCE = /^\[[^\]]+\]:\s/;
const UNRELEASED_LINK = /^\[Unreleased\]:\s*(\S+)\/compare\/(\S+)\.\.\.HEAD\s*$/i;

/**
 * CHANGELOG.md (Keep a Changelog 1.1.0) with its Unreleased section moved into a release: the entries go under
 * "## [version] - date", and an empty "## [Unreleased]" stays above it. When the file has an
 * "[Unreleased]: <repo>/compare/<tag>...HEAD" link, it is moved on to compare from v<version>, and
 * "[version]: <repo>/compare/<tag>...v<version>" is added below it. Throws when there is no Unreleased section, it
 * is empty, or the version is already there.
 * @param {string} text the changelog
 * @param {string} version e.g. 1.2.3
 * @param {string} date YYYY-MM-DD
 * @returns {string}
 */
export function releaseChangelog(text, version, date) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`the date must be YYYY-MM-DD, not "${date}"`);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((line) => UNRELEASED_HEADING.test(line));
  if (start < 0) throw new Error('CHANGELOG.md has no "## [Unreleased]" section');
  if (lines.some((line) => RELEASE_HEADING.exec(line)?.[1] === version)) {
    throw new Error(`CHANGELOG.md already has a section for ${version}`);
  }
  let end = start + 1;
  while (end < lines.length && !RELEASE_HEADING.test(lines[end]) && !LINK_REFERENCE.test(lines[end])) end++;
  const body = lines.slice(start + 1, end);
  while (body.length > 0 && body[0].trim() === '') body.shift();
  while (body.length > 0 && body[body.length - 1].trim() === '') body.pop();
  if (body.length === 0) throw new Error('the "## [Unreleased]" section of CHANGELOG.md is empty: nothing to release');

  const rest = lines.slice(end);
  const linkAt = rest.findIndex((line) => UNRELEASED_LINK.test(line));
  if (linkAt >= 0) {
    const [, repo, previous] = /** @type {RegExpExecArray} */ (UNRELEASED_LINK.exec(rest[linkAt]));
    rest.splice(
      linkAt,
      1,
      `[Unreleased]: ${repo}/compare/v${version}...HEAD`,
      `[${version}]: ${repo}/compare/${previous}...v${version}`,
    );
  }
  return [...lines.slice(0, start), lines[start], '', `## [${version}] - ${date}`, '', ...body, '', ...rest].join(eol);
}

/**
 * The commands of a release once its files are written, in order: commit, tag, move the major tag.
 * @param {string} version
 * @returns {[string, string[]][]}
 */
export function releaseCommands(version) {
  const tag = `v${version}`;
  const major = majorTag(version);
  /** @type {[string, string[]][]} */
  const commands = [
    ['git', ['add', '--', 'package.json', 'package-lock.json', 'CHANGELOG.md']],
    ['git', ['commit', '-m', `Release ${tag}`]],
    ['git', ['tag', '-a', tag, '-m', `Release ${tag}`]],
  ];
  if (major) commands.push(['git', ['tag', '-fa', major, '-m', `${major}: release ${tag}`]]);
  return commands;
}

/**
 * The commands that publish the release: main and the new tag, then the major tag, which moves (force).
 * @param {string} version
 * @returns {[string, string[]][]}
 */
export function pushCommands(version) {
  const major = majorTag(version);
  /** @type {[string, string[]][]} */
  const commands = [['git', ['push', 'origin', 'main', `v${version}`]]];
  if (major) commands.push(['git', ['push', '--force', 'origin', major]]);
  return commands;
}

/**
 * A command as one would type it (for messages only: nothing is ever run through a shell).
 * @param {[string, string[]]} command
 * @returns {string}
 */
export function showCommand([file, args]) {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

const USAGE = `Usage: node scripts/release.mjs <version> [--dry-run] [--push]
  <version>  the new version, semver and newer than package.json's (e.g. 1.2.3, or 1.3.0-rc.1)
  --dry-run  run the read-only checks and print what would be done; change nothing
  --push     push main, the tag and the major tag (otherwise the command is printed)`;

function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith('-')));
  const positional = argv.filter((a) => !a.startsWith('-'));
  if (flags.has('--help') || flags.has('-h')) {
    console.log(USAGE);
    return 0;
  }
  const unknown = [...flags].filter((f) => f !== '--dry-run' && f !== '--push');
  if (unknown.length > 0 || positional.length !== 1) {
    console.error(unknown.length > 0 ? `unknown option: ${unknown.join(' ')}\n${USAGE}` : USAGE);
    return 2;
  }
  const dryRun = flags.has('--dry-run');
  const push = flags.has('--push');
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  process.chdir(root);

  /** @param {string} file @param {string[]} args */
  const read = (file, args) => execFileSync(file, args, { encoding: 'utf8' }).trim();
  /** @param {[string, string[]]} command */
  const run = ([file, args]) => {
    console.log(`$ ${showCommand([file === process.execPath ? 'node' : file, args])}`);
    if (!dryRun) execFileSync(file, args, { stdio: 'inherit' });
  };

  // Checks that change nothing; every problem is listed.
  const problems = [];
  const branch = read('git', ['rev-parse', '--abbrev-ref', 'HEAD']);
  if (branch !== 'main') problems.push(`on branch ${branch}: a release is cut from main`);
  const dirty = read('git', ['status', '--porcelain']);
  if (dirty) problems.push(`the working tree is not clean:\n${dirty}`);
  const current = JSON.parse(readFileSync('package.json', 'utf8')).version;
  let version;
  try {
    version = checkVersion(positional[0], current);
  } catch (error) {
    problems.push(/** @type {Error} */ (error).message);
  }
  const date = new Date().toISOString().slice(0, 10);
  let changelog;
  if (version) {
    if (read('git', ['tag', '--list', `v${version}`])) problems.push(`the tag v${version} exists already`);
    try {
      changelog = releaseChangelog(readFileSync('CHANGELOG.md', 'utf8'), version, date);
    } catch (error) {
      problems.push(/** @type {Error} */ (error).message);
    }
  }
  if (problems.length > 0 || !version || changelog === undefined) {
    console.error(`Cannot release:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return 1;
  }

  console.log(`${dryRun ? 'Dry run: would release' : 'Releasing'} v${version} (package.json: ${current}), ${date}`);
  // dist/ must be what the sources bundle to: the action runs dist/, not src/.
  run([process.execPath, ['scripts/bundle.mjs']]);
  if (dryRun) console.log('(then: git status --porcelain -- dist must print nothing)');
  else {
    const changed = read('git', ['status', '--porcelain', '--', 'dist']);
    if (changed) {
      console.error(`dist/ differs from what the sources bundle to:\n${changed}\nCommit the bundle, then release.`);
      return 1;
    }
  }
  run(['npm', ['version', version, '--no-git-tag-version']]);
  console.log(`(write CHANGELOG.md: the Unreleased section becomes "## [${version}] - ${date}")`);
  if (!dryRun) writeFileSync('CHANGELOG.md', changelog);
  for (const command of releaseCommands(version)) run(command);

  const pushes = pushCommands(version);
  if (push) {
    for (const command of pushes) run(command);
    if (!dryRun) console.log(`Released v${version}.`);
  } else {
    console.log(`\n${dryRun ? 'Then' : 'Done locally. To publish'}: ${pushes.map(showCommand).join(' && ')}`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    // A command that failed has printed its own output; say which and stop.
    console.error(`release: ${/** @type {Error} */ (error).message}`);
    process.exitCode = 1;
  }
}
