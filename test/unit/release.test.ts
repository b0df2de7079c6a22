// scripts/release.mjs: the pure parts (version checks, the changelog rewrite, the commands it would run). The
// command line itself (git, npm, the bundle) is not run here.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkVersion,
  compareVersions,
  majorTag,
  parseVersion,
  pushCommands,
  releaseChangelog,
  releaseCommands,
  showCommand,
} from '../../scripts/release.mjs';

const CHANGELOG = `# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

### Added

- A config file.

### Changed

- No defaults in action.yml.

## [1.0.0] - 2026-11-29

### Added

- Deploy, rollback, status.

[Unreleased]: https://github.com/org/bluegreen-action/compare/v1.0.0...HEAD
[1.0.0]: https://github.com/org/bluegreen-action/releases/tag/v1.0.0
`;

describe('releaseChangelog', () => {
  it('moves the Unreleased entries under the new version and its date, leaving Unreleased empty above it', () => {
    expect(releaseChangelog(CHANGELOG, '1.1.0', '2026-12-01')).toBe(`# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

## [1.1.0] - 2026-12-01

### Added

- A config file.

### Changed

- No defaults in action.yml.

## [1.0.0] - 2026-11-29

### Added

- Deploy, rollback, status.

[Unreleased]: https://github.com/org/bluegreen-action/compare/v1.1.0...HEAD
[1.1.0]: https://github.com/org/bluegreen-action/compare/v1.0.0...v1.1.0
[1.0.0]: https://github.com/org/bluegreen-action/releases/tag/v1.0.0
`);
  });

  it('releases twice in a row: the second compares from the first', () => {
    const once = releaseChangelog(CHANGELOG, '1.1.0', '2026-12-01');
    const twice = releaseChangelog(
      once.replace('## [Unreleased]\n', '## [Unreleased]\n\n- A fix.\n'),
      '1.1.1',
      '2026-12-02',
    );
    expect(twice).toContain('## [Unreleased]\n\n## [1.1.1] - 2026-12-02\n\n- A fix.\n\n## [1.1.0] - 2026-12-01\n');
    expect(twice).toContain(
      '[Unreleased]: https://github.com/org/bluegreen-action/compare/v1.1.1...HEAD\n' +
        '[1.1.1]: https://github.com/org/bluegreen-action/compare/v1.1.0...v1.1.1\n' +
        '[1.1.0]: https://github.com/org/bluegreen-action/compare/v1.0.0...v1.1.0\n',
    );
  });

  it('keeps CRLF line endings', () => {
    const crlf = CHANGELOG.replaceAll('\n', '\r\n');
    const out = releaseChangelog(crlf, '1.1.0', '2026-12-01');
    expect(out).toBe(releaseChangelog(CHANGELOG, '1.1.0', '2026-12-01').replaceAll('\n', '\r\n'));
  });

  it('works without link references, and with Unreleased as the only section', () => {
    const text = '# Changelog\n\n## [Unreleased]\n\n- First.\n';
    expect(releaseChangelog(text, '0.1.0', '2026-12-01')).toBe(
      '# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-12-01\n\n- First.\n',
    );
  });

  it('refuses a changelog without an Unreleased section', () => {
    expect(() => releaseChangelog('# Changelog\n\n## [1.0.0] - 2026-11-29\n\n- x\n', '1.1.0', '2026-12-01')).toThrow(
      'no "## [Unreleased]" section',
    );
  });

  it('refuses an empty Unreleased section: nothing to release', () => {
    const empty = CHANGELOG.replace(/## \[Unreleased\][\s\S]*?(?=## \[1\.0\.0\])/, '## [Unreleased]\n\n');
    expect(() => releaseChangelog(empty, '1.1.0', '2026-12-01')).toThrow('is empty');
  });

  it('refuses a version that already has a section, and a date that is not YYYY-MM-DD', () => {
    expect(() => releaseChangelog(CHANGELOG, '1.0.0', '2026-12-01')).toThrow('already has a section for 1.0.0');
    expect(() => releaseChangelog(CHANGELOG, '1.1.0', '1 Dec 2026')).toThrow('YYYY-MM-DD');
  });

  it('releases the repository CHANGELOG.md as it is', () => {
    const real = readFileSync(fileURLToPath(new URL('../../CHANGELOG.md', import.meta.url)), 'utf8');
    const out = releaseChangelog(real, '1.1.0', '2026-12-01');
    expect(out).toMatch(/^## \[Unreleased\]\n\n## \[1\.1\.0\] - 2026-12-01\n\n### Added\n/m);
    expect(out).toContain('[1.1.0]: https://github.com/org/bluegreen-action/compare/v1.0.0...v1.1.0');
  });
});

describe('compareVersions', () => {
  it('orders by major, minor, patch as numbers', () => {
    expect(compareVersions('1.2.3', '1.2.2')).toBeGreaterThan(0);
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
    expect(compareVersions('2.0.0', '10.0.0')).toBeLessThan(0);
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0);
  });

  it('follows the precedence example of semver.org, pre-releases before their release', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1-0',
      '1.0.1',
    ];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareVersions(ordered[i], ordered[i + 1]), `${ordered[i]} < ${ordered[i + 1]}`).toBeLessThan(0);
      expect(compareVersions(ordered[i + 1], ordered[i]), `${ordered[i + 1]} > ${ordered[i]}`).toBeGreaterThan(0);
    }
    expect([...ordered].reverse().sort(compareVersions)).toEqual(ordered);
  });

  it('ignores build metadata', () => {
    expect(compareVersions('1.0.0+build.1', '1.0.0+build.2')).toBe(0);
  });

  it('throws on a version that is not semver', () => {
    expect(() => compareVersions('1.2', '1.0.0')).toThrow('not a semantic version: 1.2');
  });
});

describe('parseVersion', () => {
  it.each(['1.2.3', '0.0.0', '10.20.30', '1.0.0-rc.1', '1.0.0-0.3.7', '1.0.0-x-y-z.--', '1.0.0+20130313144700'])(
    'accepts %s',
    (v) => expect(parseVersion(v)).toBeDefined(),
  );

  it.each(['1', '1.2', '1.2.3.4', 'v1.2.3', '01.2.3', '1.02.3', '1.2.3-', '1.2.3-01', '1.2.3+', ' 1.2.3', 'latest'])(
    'refuses %s',
    (v) => expect(parseVersion(v)).toBeUndefined(),
  );
});

describe('checkVersion', () => {
  it('returns a newer version, a leading v dropped', () => {
    expect(checkVersion('1.1.0', '1.0.0')).toBe('1.1.0');
    expect(checkVersion('v2.0.0', '1.0.0')).toBe('2.0.0');
    expect(checkVersion('1.0.1-rc.1', '1.0.0')).toBe('1.0.1-rc.1');
    expect(checkVersion('1.0.0', '1.0.0-rc.2')).toBe('1.0.0');
  });

  it.each(['1.1', 'one', '1.1.0.0', '1.1.0-', 'vv1.1.0', ''])('refuses "%s", which is not semver', (v) => {
    expect(() => checkVersion(v, '1.0.0')).toThrow('is not a semantic version');
  });

  it('refuses a version that is not newer than package.json', () => {
    expect(() => checkVersion('1.0.0', '1.0.0')).toThrow("1.0.0 is not newer than package.json's version 1.0.0");
    expect(() => checkVersion('0.9.9', '1.0.0')).toThrow('not newer');
    expect(() => checkVersion('1.0.0-rc.1', '1.0.0')).toThrow('not newer');
  });

  it('refuses build metadata, which a tag would not carry', () => {
    expect(() => checkVersion('1.1.0+build.5', '1.0.0')).toThrow('build metadata');
  });
});

describe('tags and commands', () => {
  it('moves the major tag for a release, never for a pre-release', () => {
    expect(majorTag('1.2.3')).toBe('v1');
    expect(majorTag('2.0.0')).toBe('v2');
    expect(majorTag('2.0.0-rc.1')).toBeUndefined();
  });

  it('commits, tags and force-moves v1, then pushes main and the tag, and force-pushes v1', () => {
    expect(releaseCommands('1.2.3').map(showCommand)).toEqual([
      'git add -- package.json package-lock.json CHANGELOG.md',
      "git commit -m 'Release v1.2.3'",
      "git tag -a v1.2.3 -m 'Release v1.2.3'",
      "git tag -fa v1 -m 'v1: release v1.2.3'",
    ]);
    expect(pushCommands('1.2.3').map(showCommand).join(' && ')).toBe(
      'git push origin main v1.2.3 && git push --force origin v1',
    );
  });

  it('a pre-release is tagged but leaves v1 where it is', () => {
    expect(releaseCommands('1.3.0-rc.1').map(([, args]) => args[0])).toEqual(['add', 'commit', 'tag']);
    expect(pushCommands('1.3.0-rc.1')).toEqual([['git', ['push', 'origin', 'main', 'v1.3.0-rc.1']]]);
  });
});
