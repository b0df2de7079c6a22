// npm run readme:figures [-- --check]
//
// Rewrites the README's benchmark figures from the benchmark's results: every block between
// `<!-- bench:<name>:begin -->` and `<!-- bench:<name>:end -->` in README.md is generated from
// bench/results/<name>/latest.json (`main`: bench/results/latest.json; a variant such as `exit-on-sigterm` or
// `compose-v1`: its folder): the machine line, the settings, the table (bench/lib/report.mjs's rows), a few
// sentences of what the figures say, and the chart. A run's figures are never copied into the README by hand.
// It reads both shapes of latest.json: format 1 (the runs before issue 12) shows "–" for what it lacks.
//
// --check writes nothing: it prints the lines that differ and exits 1 when README.md is not what this script would
// write (test/unit/readme-figures.test.ts checks the same in CI). Exits 2 when it cannot generate (a results
// folder with no block in the README, a block with no results and no placeholder).
//
// The `reload-floor` block is another benchmark's (npm run bench:reload): it is made from
// bench/results/reload-floor/latest.json by bench/lib/reload-report.mjs's table and sentences, and shows a
// placeholder until that file exists.
//
// The pure part, readmeWithFigures(readme, resultsDir), is exported for the unit test; the command line runs only
// when this file is the script node was started with.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from '../bench/lib/metrics.mjs';
import {
  METHODS,
  reloadBenchOf,
  reloadMachineLine,
  reloadSayLines,
  reloadSettingsLine,
  reloadTableLines,
  SCENARIOS,
} from '../bench/lib/reload-report.mjs';
import { benchOf, composeOf, machineLine, settingsLine, tableLines } from '../bench/lib/report.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const README = path.join(ROOT, 'README.md');
export const RESULTS = path.join(ROOT, 'bench/results');
/** Where the README links the charts from, whatever directory the results were read from. */
const LINK_ROOT = 'bench/results';
/** The block of bench:reload's results (bench/results/reload-floor/latest.json), not a swap benchmark's. */
const RELOAD_FLOOR = 'reload-floor';
/** Folders under bench/results that are not a swap benchmark's results. */
const NOT_SWAPS = new Set(['runs', 'canary', RELOAD_FLOOR]);

const BLOCK = /<!-- bench:([\w/-]+):begin -->\n([\s\S]*?)<!-- bench:\1:end -->/g;

/**
 * Each block's rows (METRICS keys; all of them when absent), whether it has the ratio column and the cold start,
 * the chart's alt text, and the sentence shown while a variant has no results yet.
 */
const BLOCKS = {
  main: { ratio: true, coldStart: true, alt: 'One swap of each tool under load' },
  'docker-healthcheck': {
    keys: [
      'failed.fresh',
      'slow.lost',
      'readyToSwitchMs',
      'readyToDockerHealthyMs',
      'readyToCheckPassedMs',
      'checkPassedToSwitchMs',
      'totalMs',
    ],
    alt: "One swap of each tool, with the image's HEALTHCHECK",
  },
  'exit-on-sigterm': {
    keys: [
      'failed.fresh',
      'failed.keepalive',
      'slow.lost',
      'slow.atSwitch',
      'overlapMs',
      'drainMs',
      'inFlightAfterSwitchMs',
      'totalMs',
    ],
    alt: 'One swap of each tool, app that exits at once on SIGTERM',
  },
  'compose-v1': {
    keys: [
      'failed.fresh',
      'slow.lost',
      'readyToSwitchMs',
      'totalMs',
      'composeMs',
      'drainMs',
      'inFlightAfterSwitchMs',
      'appStartupMs',
      'ownOverheadMs',
      'overheadMs',
    ],
    alt: 'One swap of each tool, both on Compose v1',
    missing:
      'No run with Compose v1 yet: `npm run bench -- --compose v1` writes `bench/results/compose-v1/`, and ' +
      '`npm run readme:figures` then puts its figures here.',
  },
};

const s2 = (ms) => (ms === null || ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const count = (n, one, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** Every swap benchmark's results under dir: { name: results }, `main` for dir itself. */
export function readResults(dir) {
  const found = {};
  const walk = (rel) => {
    const file = path.join(dir, rel, 'latest.json');
    if (existsSync(file)) {
      const results = JSON.parse(readFileSync(file, 'utf8'));
      if (!results.tools?.action || !results.tools?.baseline) {
        throw new Error(
          `${path.join(rel, 'latest.json')} is not a swap benchmark's results (no tools.action/baseline)`,
        );
      }
      found[rel ? rel.split(path.sep).join('/') : 'main'] = results;
    }
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (entry.isDirectory() && !(rel === '' && NOT_SWAPS.has(entry.name))) walk(path.join(rel, entry.name));
    }
  };
  walk('');
  return found;
}

/** A figure's median over the swaps from the summary, or null. */
const medianOf = (results, tool, key) => results.tools[tool].summary[key]?.median ?? null;

/** The failures of one kind over every swap of a tool. */
const failuresOf = (results, tool, kind) =>
  results.tools[tool].swaps.flatMap((s) => s.failures.filter((f) => f.kind === kind));

const range = (xs) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? `${lo} ms` : `${lo} to ${hi} ms`;
};

/** The action's phases, median duration of each over the swaps, and the time before its first phase. */
function phaseLine(results) {
  const swaps = results.tools.action.swaps.filter((s) => s.ok && s.phases.length);
  if (!swaps.length) return undefined;
  // The phases the action's closing `phases:` line names (not other ::group:: blocks, such as its configuration).
  const reported = (s) => s.phases.filter((p) => !s.reportedPhases || s.reportedPhases.some((r) => r.name === p.name));
  const names = [...new Set(swaps.flatMap((s) => reported(s).map((p) => p.name)))];
  const parts = names.map((name) => {
    const ms = swaps.map((s) => reported(s).find((p) => p.name === name)).filter(Boolean);
    return `${name} ${s2(median(ms.map((p) => p.end - p.start)))}`;
  });
  const before = median(swaps.map((s) => reported(s)[0]?.start ?? NaN));
  // What no phase covers: the process's start and end, and the steps between phases (the journal's records).
  const between = median(
    swaps.map((s) => {
      const phases = reported(s);
      return s.totalMs - phases[0].start - sum(phases.map((p) => p.end - p.start));
    }),
  );
  return (
    `${s2(before)} before its first phase (Node's start, reading the inputs), then ${parts.join(', ')}; ` +
    `${s2(between)} between and after its phases`
  );
}

/** Sentences of what the figures say, every number from the results. */
function sayLines(name, results) {
  const lines = [];
  const { tools } = results;
  const both = (key) =>
    `${s2(medianOf(results, 'action', key))} for this project, ${s2(medianOf(results, 'baseline', key))} for the baseline`;
  const total = (tool, get) => sum(tools[tool].swaps.map(get));
  const swapsOf = (tool) => tools[tool].swaps.length;
  // Failures and lost requests, over every swap.
  const failedFresh = (tool) => total(tool, (s) => s.perKind.fresh.failed);
  const lost = (tool) => total(tool, (s) => s.slow.lost);
  const atSwitch = (tool) => total(tool, (s) => s.slow.atSwitch);
  lines.push(
    `- Over ${count(swapsOf('action'), 'swap')} of each tool: ${count(failedFresh('action'), 'failed request')} with a fresh ` +
      `connection for this project, ${failedFresh('baseline')} for the baseline; slow requests lost at the switch: ` +
      `${lost('action')} of ${atSwitch('action')} in flight for this project, ${lost('baseline')} of ${atSwitch('baseline')} for the baseline.`,
  );
  for (const tool of ['action', 'baseline']) {
    const slow = failuresOf(results, tool, 'slow');
    if (!slow.length) continue;
    const what = [...new Set(slow.map((f) => f.what))].join(', ');
    const phases = [...new Set(slow.map((f) => f.phase))].join(', ');
    lines.push(
      `- ${tool === 'action' ? 'This project' : 'The baseline'}'s failed slow requests: ${slow.length} (${what}), ` +
        `${range(slow.map((f) => f.sinceSwitch))} after the switch, during ${phases}.`,
    );
  }
  lines.push(`- Ready → first new-color response (median): ${both('readyToSwitchMs')}.`);
  if (name === 'docker-healthcheck') {
    lines.push(
      `- Of that, ready → Docker's \`healthy\`: ${s2(medianOf(results, 'action', 'readyToDockerHealthyMs'))}; ready → ` +
        `the action's own check passed: ${s2(medianOf(results, 'action', 'readyToCheckPassedMs'))}.`,
    );
  }
  const drain = medianOf(results, 'action', 'drainMs');
  const inFlight = medianOf(results, 'action', 'inFlightAfterSwitchMs');
  lines.push(
    `- The action's drain (median): ${s2(drain)} with drain-seconds ${results.config.drainSeconds}; ` +
      (inFlight === null
        ? 'the longest request in flight at the switch was not measured by this format.'
        : `beside it, the longest request in flight at the switch lasted ${s2(inFlight)} after the switch.`),
  );
  const ratio = (key) => {
    const a = medianOf(results, 'action', key);
    const b = medianOf(results, 'baseline', key);
    return a === null || !b ? '–' : `${(a / b).toFixed(2)}×`;
  };
  lines.push(
    `- Deploy wall time (median): ${both('totalMs')} (${ratio('totalMs')}); the action's own overhead ` +
      `(wall time − compose − drain − app start-up): ${s2(medianOf(results, 'action', 'ownOverheadMs'))}; the earlier ` +
      `definition (wall time − compose − drain): ${s2(medianOf(results, 'action', 'overheadMs'))}.`,
  );
  if (name === 'main') {
    const phases = phaseLine(results);
    if (phases) lines.push(`- The action's time (medians over its swaps): ${phases}.`);
    const requests = (tool) =>
      total(tool, (s) => s.perKind.fresh.requests + s.perKind.keepalive.requests + s.perKind.retry.requests);
    const resets = (tool) => failuresOf(results, tool, 'keepalive');
    const retried = (tool) => total(tool, (s) => s.perKind.retry.retried);
    const retryFailed = (tool) => total(tool, (s) => s.perKind.retry.failed);
    const when = ['action', 'baseline'].flatMap((tool) => resets(tool).map((f) => f.sinceSwitch));
    lines.push(
      `- Keep-alive at the reload, over ${count(requests('action'), 'request')} (this project) and ` +
        `${count(requests('baseline'), 'request')} (baseline): the client without retry failed ${resets('action').length} ` +
        `and ${resets('baseline').length} times, the retrying client retried ${retried('action')} and ${retried('baseline')} ` +
        `times and failed ${retryFailed('action')} and ${retryFailed('baseline')} times` +
        (when.length ? `; those failures came ${range(when)} after the switch.` : '.'),
    );
  }
  return lines;
}

/** bench:reload's results, or undefined when that benchmark has not written them. */
function readReloadFloor(dir) {
  const file = path.join(dir, RELOAD_FLOOR, 'latest.json');
  if (!existsSync(file)) return undefined;
  const results = JSON.parse(readFileSync(file, 'utf8'));
  if (results.bench?.name !== RELOAD_FLOOR || !results.scenarios) {
    throw new Error(`${RELOAD_FLOOR}/latest.json is not bench:reload's results (no bench.name ${RELOAD_FLOOR})`);
  }
  return results;
}

const RELOAD_FLOOR_MISSING =
  'No run of the reload floor yet: `npm run bench:reload` writes `bench/results/reload-floor/latest.json`, and ' +
  '`npm run readme:figures` then puts its figures here.';

/** The reload-floor block: bench:reload's machine, settings, table, methods and sentences. */
function reloadFloorText(results) {
  const dir = `${LINK_ROOT}/${RELOAD_FLOOR}`;
  return [
    `<!-- Generated by \`npm run readme:figures\` from ${dir}/latest.json: edit the script or re-run the bench, not this block. -->`,
    '',
    `**Measured:** ${reloadMachineLine(results)}. Made by ${reloadBenchOf(results)}.`,
    '',
    `**Settings.** ${reloadSettingsLine(results)}`,
    '',
    ...reloadTableLines(results),
    '',
    'How each event is made:',
    '',
    ...SCENARIOS.filter((s) => results.scenarios[s.key]).map((s) => `- ${s.label}: ${METHODS[s.key]}.`),
    '',
    'What these figures say, generated from the same file:',
    '',
    ...reloadSayLines(results),
    '',
    `Every event, and the failed requests one by one: [${dir}/latest.md](${dir}/latest.md).`,
    '',
  ].join('\n');
}

/** The generated text of one block, without its markers. */
export function blockText(name, results) {
  if (name === RELOAD_FLOOR) return reloadFloorText(results);
  const spec = BLOCKS[name] ?? { alt: `One swap of each tool (${name})` };
  const dir = name === 'main' ? LINK_ROOT : `${LINK_ROOT}/${name}`;
  const compose = composeOf(results.machine);
  const lines = [
    `<!-- Generated by \`npm run readme:figures\` from ${dir}/latest.json: edit the script or re-run the bench, not this block. -->`,
    '',
    `**Measured:** ${machineLine(results)}. Made by the ${benchOf(results)}` +
      (compose.action === '–' ? '; the action then chose its own Compose (auto), which was not recorded.' : '.'),
    '',
    `**Settings.** ${settingsLine(results)}`,
    '',
    ...tableLines(results, { keys: spec.keys, ratio: spec.ratio ?? false, coldStart: spec.coldStart ?? false }),
    '',
    'What these figures say, generated from the same file:',
    '',
    ...sayLines(name, results),
    '',
    `![${spec.alt}](${dir}/swap.svg)`,
    '',
  ];
  return lines.join('\n');
}

/**
 * The README with every bench block generated from the results under resultsDir. Throws when a results folder
 * has no block, or a block has neither results nor a placeholder.
 */
export function readmeWithFigures(readme, resultsDir) {
  const results = readResults(resultsDir);
  const reloadFloor = readReloadFloor(resultsDir);
  if (reloadFloor) results[RELOAD_FLOOR] = reloadFloor;
  const blocks = new Set([...readme.matchAll(BLOCK)].map((m) => m[1]));
  for (const name of Object.keys(results)) {
    if (!blocks.has(name)) {
      throw new Error(
        `${name === 'main' ? '' : `${name}/`}latest.json has no block in the README: add ` +
          `<!-- bench:${name}:begin --> and <!-- bench:${name}:end --> where its figures go`,
      );
    }
  }
  return readme.replace(BLOCK, (_all, name) => {
    let body;
    if (results[name]) body = blockText(name, results[name]);
    else if (name === RELOAD_FLOOR) body = `${RELOAD_FLOOR_MISSING}\n`;
    else if (BLOCKS[name]?.missing) body = `${BLOCKS[name].missing}\n`;
    else throw new Error(`the README's block bench:${name} has no results (${name}/latest.json) to be made from`);
    return `<!-- bench:${name}:begin -->\n${body}<!-- bench:${name}:end -->`;
  });
}

/** The lines of a and b that differ, as a unified-diff-like listing (longest common subsequence). */
export function lineDiff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`- ${x[i++]} (line ${i})`);
    } else {
      out.push(`+ ${y[j++]} (line ${j})`);
    }
  }
  return out;
}

function main(argv) {
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`readme:figures: unknown argument ${unknown.join(' ')} (only --check)`);
    return 2;
  }
  const readme = readFileSync(README, 'utf8');
  let next;
  try {
    next = readmeWithFigures(readme, RESULTS);
  } catch (error) {
    console.error(`readme:figures: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  if (next === readme) {
    console.log('README.md: the benchmark figures are what bench/results/**/latest.json gives.');
    return 0;
  }
  if (check) {
    console.error('README.md differs from what bench/results/**/latest.json gives (- README, + generated):');
    for (const line of lineDiff(readme, next)) console.error(line);
    console.error('Run `npm run readme:figures` to rewrite the figures (never edit a generated block by hand).');
    return 1;
  }
  writeFileSync(README, next);
  console.log('README.md: the benchmark figures rewritten from bench/results/**/latest.json.');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
