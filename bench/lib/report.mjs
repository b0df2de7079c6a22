// The Markdown report: one table comparing the tools (median [min–max] over the swaps, ratio project/baseline),
// the bundles' cold start and size, and where each failure happened.
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
function failureLines(swaps) {
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

export function markdown(results) {
  const { machine, config, tools, coldStart, durationMs } = results;
  const p = tools.action.summary;
  const b = tools.baseline.summary;
  const lines = [
    '# Blue-green swap benchmark: this project vs the seed pipeline',
    '',
    `${machine.date.slice(0, 16).replace('T', ' ')} UTC · ${machine.cpuModel}, ${machine.cores} cores · Docker ${machine.docker.server} ` +
      `· docker-compose ${machine.compose} · ${machine.nginx} · Node ${machine.node} · load average (1/5/15 min) at start ` +
      `${machine.loadAverage.join(' ')}, at end ${(machine.loadAverageEnd ?? []).join(' ')}`,
    '',
    `${config.swaps} swap(s) per tool (blue → green and back), interleaved; ${config.quick ? 'quick mode; ' : ''}app start-up delay ` +
      `${config.startupDelayMs} ms${config.exitOnSigterm ? ' (the app exits at once on SIGTERM, cutting requests in flight)' : ' (the app finishes its requests in flight on SIGTERM)'}; load through the proxy during each swap: ${config.ratePerSec} req/s for each of 3 client kinds ` +
      `+ one /slow?ms=${config.slowMs} request every ${config.slowEveryMs} ms. Action: health-interval ${config.healthInterval} s, ` +
      `drain-seconds ${config.drainSeconds}, cleanup ${config.cleanup}. The app image's Docker HEALTHCHECK (every 1 s): ` +
      `${config.dockerHealthcheck ? 'on (the action waits for it, the baseline does not)' : 'disabled in the color files (both tools react to the app answering)'}. Whole run (one command): ${(durationMs / 1000).toFixed(0)} s.`,
    '',
    '| figure (median [min–max] over the swaps) | this project (bundled action) | baseline (seed pipeline) | ratio project / baseline |',
    '|---|---:|---:|---:|',
  ];
  for (const [key, label, unit] of METRICS) {
    lines.push(
      `| ${LABELS[key] ?? label} | ${cell(p[key], unit)} | ${cell(b[key], unit)} | ${ratio(p[key]?.median, b[key]?.median)} |`,
    );
  }
  const okCount = (t) => `${t.swaps.filter((s) => s.ok).length}/${t.swaps.length}`;
  lines.push(`| swaps that succeeded | ${okCount(tools.action)} | ${okCount(tools.baseline)} | |`);
  if (coldStart) {
    const kb = (n) => `${(n / 1024).toFixed(0)} KiB (${n} B)`;
    lines.push(
      `| cold start, \`node dist/cli/index.js --help\` (median of ${coldStart.runs}) | ${value(coldStart.cliHelpMs.median, 'ms')} | – | – |`,
      `| cold start, action bundle, invalid input (median of ${coldStart.runs}) | ${value(coldStart.actionInvalidInputMs.median, 'ms')} | – | – |`,
      `| bundle size, dist/action/index.js | ${kb(coldStart.bundleBytes.action)} | – | – |`,
      `| bundle size, dist/cli/index.js | ${kb(coldStart.bundleBytes.cli)} | – | – |`,
    );
  }
  lines.push(
    '',
    'Switch = the first answer of the new color through the proxy. Ready = the `listening ... t=` line of the new container. ' +
      'Slow requests "at the switch" are those in flight at that instant; lost = not answered 200. Compose time: the action\'s ' +
      "`up` + `cleanup` phases; the baseline's `up -d --build` + `down` calls. The baseline has no drain. Below, a " +
      "failure's phase is the deploy phase that was running when the failed request ended (the baseline's switch ends " +
      'as soon as `nginx -s reload` returns, so what follows a reload falls in its cleanup).',
  );
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
