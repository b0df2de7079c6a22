// The Markdown report: one table comparing the tools (median [min–max] over the swaps, ratio project/baseline),
// the bundles' cold start and size, and where each failure happened. Its parts (machineLine, settingsLine,
// tableLines) also make the README's generated blocks (scripts/readme-figures.mjs); they read the results of
// every format (an older run lacks some figures: "–").
import { KIND_LABELS } from './load.mjs';
import { METRICS } from './metrics.mjs';

const LABELS = {
  'failed.fresh': `failed requests, ${KIND_LABELS.fresh}`,
  'failed.keepalive': `failed requests, ${KIND_LABELS.keepalive}`,
  'failed.retry': `failed requests, ${KIND_LABELS.retry}`,
};

function value(x, unit) {
  if (x === null || x === undefined) return '–';
  if (unit === 'ms') return `${(x / 1000).toFixed(2)} s`;
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

function cell(s, unit) {
  if (!s || s.median === null) return '–';
  const range = unit === 'ms' ? `${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)}` : `${s.min}–${s.max}`;
  return `${value(s.median, unit)} [${range}]`;
}

export function ratio(a, b) {
  if (a === null || b === null || a === undefined || b === undefined) return '–';
  if (b === 0) return a === 0 ? '= (both 0)' : '∞ (baseline 0)';
  return `${(a / b).toFixed(2)}×`;
}

/** Every failure of one tool grouped by client kind, error and phase, with when it ended relative to the switch. */
export function failureLines(swaps) {
  const groups = new Map();
  swaps.forEach((s, i) => {
    for (const f of s.failures) {
      const key = `${f.kind}|${f.what}${f.reused ? ' on a reused connection' : ''}|${f.phase}`;
      const g = groups.get(key) ?? { count: 0, swaps: new Set(), since: [] };
      g.count++;
      g.swaps.add(i + 1);
      g.since.push(f.sinceSwitch);
      groups.set(key, g);
    }
  });
  return [...groups.entries()].map(([key, g]) => {
    const [kind, what, phase] = key.split('|');
    const lo = Math.min(...g.since);
    const hi = Math.max(...g.since);
    const when = lo === hi ? `${lo} ms` : `${lo} to ${hi} ms`;
    return `- ${kind}: ${g.count} × ${what}, during ${phase}, ${when} after the switch (swap${g.swaps.size > 1 ? 's' : ''} ${[...g.swaps].join(', ')})`;
  });
}

/** What each tool's Compose was: `docker compose 2.26.1`; runs before it was recorded named docker-compose's only. */
export function composeOf(machine) {
  const c = machine.compose;
  if (c && typeof c === 'object') {
    const command = machine.composeCommand ? `${machine.composeCommand} ` : '';
    return { action: c.action ? `${command}${c.action}` : '–', baseline: c.baseline ? `${command}${c.baseline}` : '–' };
  }
  // Format 1: `docker-compose version --short`, which the baseline called; the action chose its own (auto).
  return { action: '–', baseline: c ? `docker-compose ${c}` : '–' };
}

/** Which benchmark made these figures: format 2 (this file's) records itself; older runs do not. */
export function benchOf(results) {
  const b = results.bench;
  if (!b) {
    return 'benchmark format 1 (before issue 12: Compose not recorded per tool, no in-flight, start-up or new overhead figures)';
  }
  return `benchmark format ${b.format}${b.commit ? ` at commit ${b.commit}${b.dirty ? ' with uncommitted changes' : ''}` : ''}`;
}

/** The machine: date, CPU, engine, each tool's Compose, Nginx, Node and how busy it was. */
export function machineLine(results) {
  const { machine } = results;
  const compose = composeOf(machine);
  return (
    `${machine.date.slice(0, 16).replace('T', ' ')} UTC · ${machine.cpuModel}, ${machine.cores} cores · Docker ${machine.docker.server} ` +
    `· Compose: action ${compose.action}, baseline ${compose.baseline} · ${machine.nginx} · Node ${machine.node}${machine.actionNode ? ` (the action: ${machine.actionNode}, as action.yml's using: node24)` : ''} · load average (1/5/15 min) at start ` +
    `${machine.loadAverage.join(' ')}, at end ${(machine.loadAverageEnd ?? []).join(' ')}`
  );
}

/** The run's settings: swaps, app, load, the action's inputs, the HEALTHCHECK, the run's length. */
export function settingsLine(results) {
  const { config, durationMs } = results;
  return (
    `${config.swaps} swap(s) per tool (blue → green and back), interleaved; ${config.quick ? 'quick mode; ' : ''}app start-up delay ` +
    `${config.startupDelayMs} ms${config.exitOnSigterm ? ' (the app exits at once on SIGTERM, cutting requests in flight)' : ' (the app finishes its requests in flight on SIGTERM)'}; load through the proxy during each swap: ${config.ratePerSec} req/s for each of 3 client kinds ` +
    `+ one /slow?ms=${config.slowMs} request every ${config.slowEveryMs} ms. Action: health-interval ${config.healthInterval} s, ` +
    `drain-seconds ${config.drainSeconds}, cleanup ${config.cleanup}${config.compose ? `, compose-command ${composeCommandOf(config.compose)}` : ''}. The app image's Docker HEALTHCHECK (every 1 s): ` +
    `${config.dockerHealthcheck ? 'on (the action waits for it, the baseline does not)' : 'disabled in the color files (both tools react to the app answering)'}. Whole run (one command): ${(durationMs / 1000).toFixed(0)} s.`
  );
}

const composeCommandOf = (which) => ({ v2: 'docker compose', v1: 'docker-compose' })[which] ?? which;

/**
 * The table comparing the tools: one row per figure of METRICS (only `keys`, in METRICS' order, when given), the
 * swaps that succeeded, and the bundles' cold start and size (coldStart). ratio: the project / baseline column.
 */
export function tableLines(results, { keys, ratio: withRatio = true, coldStart: withColdStart = true } = {}) {
  const { tools, coldStart } = results;
  const p = tools.action.summary;
  const b = tools.baseline.summary;
  const end = withRatio ? ' ratio project / baseline |' : '';
  const lines = [
    `| figure (median [min–max] over the swaps) | this project (bundled action) | baseline (seed pipeline) |${end}`,
    `|---|---:|---:|${withRatio ? '---:|' : ''}`,
  ];
  const row = (cells, r) => `| ${cells.join(' | ')} |${withRatio ? (r ? ` ${r} |` : ' |') : ''}`;
  for (const [key, label, unit] of METRICS) {
    if (keys && !keys.includes(key)) continue;
    lines.push(
      row([LABELS[key] ?? label, cell(p[key], unit), cell(b[key], unit)], ratio(p[key]?.median, b[key]?.median)),
    );
  }
  const okCount = (t) => `${t.swaps.filter((s) => s.ok).length}/${t.swaps.length}`;
  lines.push(row(['swaps that succeeded', okCount(tools.action), okCount(tools.baseline)], ''));
  if (coldStart && withColdStart) {
    const kb = (n) => `${(n / 1024).toFixed(0)} KiB (${n} B)`;
    lines.push(
      row(
        [
          `cold start, \`node dist/cli/index.js --help\` (median of ${coldStart.runs})`,
          value(coldStart.cliHelpMs.median, 'ms'),
          '–',
        ],
        '–',
      ),
      row(
        [
          `cold start, action bundle, invalid input (median of ${coldStart.runs})`,
          value(coldStart.actionInvalidInputMs.median, 'ms'),
          '–',
        ],
        '–',
      ),
      row(['bundle size, dist/action/bundle.js', kb(coldStart.bundleBytes.action), '–'], '–'),
      row(['bundle size, dist/cli/bundle.js', kb(coldStart.bundleBytes.cli), '–'], '–'),
    );
  }
  return lines;
}

/** What the table's figures mean. */
export const NOTES =
  'Switch = the first answer of the new color through the proxy. Ready = the `listening ... t=` line of the new container. ' +
  'Slow requests "at the switch" are those in flight at that instant; lost = not answered 200. Compose time: the action\'s ' +
  "`up` + `cleanup` phases; the baseline's `up -d --build` + `down` calls. Drain: the action's `drain` phase (`watch` " +
  'when only a watch runs), from the end of the switch and its checks until cleanup; the baseline has no drain. Beside ' +
  'it, the longest request in flight at the switch: of the requests sent before the switch and ended after it that the ' +
  'new color did not answer (the old color did, or nobody: cut), the time from the switch to the end of the longest, ' +
  "what a drain has to wait for. App start-up: from the container's start (`docker inspect .State.StartedAt`) to its " +
  "`listening` line. Own overhead: wall time − compose time − drain − the part of the app's start-up after `up` " +
  'returned (the container starts inside `up`: that part is already compose time). Below, a ' +
  "failure's phase is the deploy phase that was running when the failed request ended (the baseline's switch ends " +
  'as soon as `nginx -s reload` returns, so what follows a reload falls in its cleanup).';

export function markdown(results) {
  const { tools } = results;
  const lines = [
    '# Blue-green swap benchmark: this project vs the seed pipeline',
    '',
    machineLine(results),
    '',
    `${settingsLine(results)} Made by the ${benchOf(results)}.`,
    '',
    ...tableLines(results),
    '',
    NOTES,
  ];
  for (const [name, t] of [
    ['This project', tools.action],
    ['Baseline', tools.baseline],
  ]) {
    const failures = failureLines(t.swaps);
    lines.push('', `## Failures seen by the clients: ${name.toLowerCase()}`, '');
    lines.push(...(failures.length ? failures : ['- none']));
    const broken = t.swaps.map((s, i) => [s, i + 1]).filter(([s]) => !s.ok);
    for (const [, i] of broken) lines.push(`- swap ${i}: the deploy itself FAILED (see latest.json for its log)`);
  }
  lines.push('', 'Chart of one swap of each tool: [swap.svg](swap.svg). Raw figures: [latest.json](latest.json).', '');
  return lines.join('\n');
}
