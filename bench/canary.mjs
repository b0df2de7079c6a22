// npm run bench:canary
//
// One canary deploy under steady load through Nginx, on this machine's Docker engine with the offline test images:
// one stack (bench/lib/stack.mjs, whose proxy uses examples/nginx/default.conf and so logs the `bluegreen` access-log
// format to stdout, which the tool's watch reads), blue deployed first with the bundled CLI (not measured), then,
// under load, one deploy of green with canary-steps 10,50, canary-interval 10 s and drain-seconds 3, run as
// `node dist/cli/index.js deploy ... --json`.
//
// The load: a steady rate of GETs on fresh connections, plus the same rate on keep-alive connections that resend a
// GET once when a reused connection is reset before any answer (what curl and browsers do: every step is an Nginx
// reload, which closes idle keep-alive connections). What it measures: for each step of the tool's own
// traffic.steps, the share of the responses that came from green as the load saw it (between the step's start +
// 0.3 s and its end) against the percent asked and against the tool's own count from the proxy's access log; the
// deploy's phases and times; every failed request.
//
// Writes bench/results/canary/latest.json, latest.md and canary.svg. Exits 1 if the deploy fails or any request
// fails (or when it cannot run).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureTestImages } from '../scripts/images.mjs';
import { CLI_BUNDLE, ROOT, stackInputs } from './lib/action.mjs';
import { canaryChart } from './lib/canary-svg.mjs';
import { failed, KIND_LABELS, startLoad } from './lib/load.mjs';
import { machineInfo } from './lib/machine.mjs';
import { isAborting, now, onInterrupt, requireEngine, run, sleep } from './lib/proc.mjs';
import { createStack } from './lib/stack.mjs';

const OUT = path.join(ROOT, 'bench/results/canary');

const CONFIG = {
  canarySteps: [10, 50],
  canaryIntervalSeconds: 10,
  drainSeconds: 3, // the watch after the switch lasts as long (watch-seconds defaults to it)
  healthInterval: 0.2,
  cleanup: 'stop',
  startupDelayMs: 1500, // as in npm run bench
  kinds: ['fresh', 'retry'],
  ratePerSec: 60, // per client kind
  leadMs: 2000, // load on blue alone before the deploy starts
  tailMs: 1000, // and on green after it ends
  stepMarginMs: 300, // the load's count of a step leaves out its first 0.3 s (the reload's edge)
};

const pct = (part, whole) => (whole ? Math.round((part / whole) * 1000) / 10 : null);
const round = (x) => (Number.isFinite(x) ? Math.round(x) : null);
const s2 = (ms) => (ms === null || ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
const share = (p) => (p === null || p === undefined ? '–' : `${p.toFixed(1)}%`);

/** The CLI's flags for this stack: the same inputs as the benchmark's action step, plus the canary's. */
function cliArgs(stack, config, canary) {
  const inputs = {
    ...stackInputs(stack, {
      drainSeconds: config.drainSeconds,
      cleanup: config.cleanup,
      healthInterval: config.healthInterval,
    }),
    ...(canary
      ? { 'canary-steps': config.canarySteps.join(','), 'canary-interval': String(config.canaryIntervalSeconds) }
      : {}),
  };
  return ['deploy', ...Object.entries(inputs).flatMap(([k, v]) => [`--${k}`, v]), '--json'];
}

/**
 * One deploy with the bundled CLI: { ok, code, startedAt, endedAt, result (its --json), phases, log }. A phase
 * starts when its `== name ==` line arrives on stderr and lasts the ms the result gives it.
 */
async function cliDeploy(stack, config, { version, canary }) {
  const r = await run(process.execPath, [CLI_BUNDLE, ...cliArgs(stack, config, canary)], {
    cwd: stack.dir,
    env: { APP_VERSION: String(version) },
    timeoutMs: 180_000,
  });
  let result;
  try {
    result = JSON.parse(r.stdout);
  } catch {
    result = undefined;
  }
  const groups = r.lines
    .filter((l) => l.stream === 'stderr')
    .map((l) => ({ t: l.t, name: /^== (.+) ==$/.exec(l.text)?.[1] }))
    .filter((g) => g.name);
  const phases = [];
  let from = 0;
  let last = r.startedAt;
  for (const p of result?.phases ?? []) {
    const i = groups.findIndex((g, j) => j >= from && g.name === p.name);
    const start = i >= 0 ? groups[i].t : last;
    if (i >= 0) from = i + 1;
    phases.push({ name: p.name, start, end: start + p.ms, ms: p.ms, ok: p.ok });
    last = start + p.ms;
  }
  return {
    ok: r.code === 0 && result?.status === 'deployed',
    code: r.code,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    result,
    phases,
    log: r.stderr,
  };
}

/** Responses per second since t0, by the second they ended in. */
function perSecond(records, t0, colors) {
  const bins = new Map();
  for (const r of records) {
    const t = Math.floor((r.e - t0) / 1000);
    const b = bins.get(t) ?? { t, requests: 0, old: 0, next: 0, other: 0, failed: 0 };
    b.requests++;
    if (failed(r)) b.failed++;
    else if (r.c === colors.old) b.old++;
    else if (r.c === colors.next) b.next++;
    else b.other++;
    bins.set(t, b);
  }
  const ts = [...bins.keys()];
  const out = [];
  for (let t = Math.min(...ts); t <= Math.max(...ts); t++) {
    const b = bins.get(t) ?? { t, requests: 0, old: 0, next: 0, other: 0, failed: 0 };
    out.push({ ...b, nextShare: pct(b.next, b.old + b.next) });
  }
  return out;
}

/** Each of the tool's traffic steps, with the load's own count over the same stretch (less its first 0.3 s). */
function stepFigures(steps, records, t0, colors, marginMs) {
  return steps.map((step) => {
    const start = Date.parse(step.startedAt);
    const end = start + step.ms;
    const rs = records.filter((r) => r.e >= start + marginMs && r.e <= end);
    const ok = rs.filter((r) => !failed(r));
    const load = {
      requests: rs.length,
      [colors.old]: ok.filter((r) => r.c === colors.old).length,
      [colors.next]: ok.filter((r) => r.c === colors.next).length,
      failed: rs.filter(failed).length,
    };
    load.nextShare = pct(load[colors.next], load[colors.old] + load[colors.next]);
    const tool = step.colors ?? {};
    const toolOld = tool[colors.old]?.requests ?? 0;
    const toolNext = tool[colors.next]?.requests ?? 0;
    return {
      name: step.name,
      percent: step.percent,
      startedAt: step.startedAt,
      start: round(start - t0),
      end: round(end - t0),
      ms: round(step.ms),
      load: { window: { from: round(start + marginMs - t0), to: round(end - t0) }, ...load },
      loadShareMinusPercent: load.nextShare === null ? null : Math.round((load.nextShare - step.percent) * 10) / 10,
      tool: {
        nextShare: pct(toolNext, toolOld + toolNext),
        colors: tool,
        verdict: step.verdict,
        detail: step.detail,
      },
    };
  });
}

function loadSummary(loadResult, kinds) {
  return Object.fromEntries(
    kinds.map((k) => {
      const rs = loadResult.records.filter((r) => r.k === k);
      return [
        k,
        {
          label: KIND_LABELS[k],
          requests: rs.length,
          failed: rs.filter(failed).length,
          resetsRetried: rs.filter((r) => r.retried).length,
          skipped: loadResult.skipped[k],
        },
      ];
    }),
  );
}

function markdown(results) {
  const { machine, config, deploy, steps, load, failures, colors } = results;
  const m = machine;
  const total = Object.values(load).reduce((n, k) => n + k.requests, 0);
  const failedCount = Object.values(load).reduce((n, k) => n + k.failed, 0);
  const lines = [
    `# Canary deploy under load: ${[...config.canarySteps, 100].map((p) => `${p}%`).join(' → ')}`,
    '',
    `${m.date.slice(0, 16).replace('T', ' ')} UTC · ${m.cpuModel}, ${m.cores} cores · Docker ${m.docker.server} ` +
      `· docker-compose ${m.compose} · ${m.nginx} · Node ${m.node} · load average (1/5/15 min) at start ` +
      `${m.loadAverage.join(' ')}, at end ${(m.loadAverageEnd ?? []).join(' ')}`,
    '',
    `One deploy of ${colors.next} over ${colors.old} with the bundled CLI (\`node dist/cli/index.js deploy ... --json\`): ` +
      `canary-steps ${config.canarySteps.join(',')}, canary-interval ${config.canaryIntervalSeconds} s, drain-seconds ` +
      `${config.drainSeconds} (the watch after the switch as long), health-interval ${config.healthInterval} s, cleanup ` +
      `${config.cleanup}; app start-up delay ${config.startupDelayMs} ms. Load through the proxy from ` +
      `${config.leadMs / 1000} s before the deploy to ${config.tailMs / 1000} s after it: ${config.ratePerSec} req/s ` +
      `for each of ${config.kinds.length} clients (${config.kinds.map((k) => KIND_LABELS[k]).join('; ')}). ` +
      `Whole run (one command): ${(results.durationMs / 1000).toFixed(0)} s.`,
    '',
    `**Deploy: ${deploy.ok ? `${deploy.status}, exit ${deploy.exitCode}` : `FAILED (exit ${deploy.code}, status ${deploy.status ?? '?'})`} ` +
      `in ${s2(deploy.durationMs)}; requests: ${total}, failed: ${failedCount}.**`,
    '',
    `| step | percent asked | ${colors.next} share seen by the load | ${colors.next} share seen by the tool's watch | failed requests (load) | tool's verdict |`,
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const s of steps) {
    const l = s.load;
    const t = s.tool.colors;
    const tOld = t[colors.old]?.requests ?? 0;
    const tNext = t[colors.next]?.requests ?? 0;
    lines.push(
      `| ${s.name} (${s2(s.start)} → ${s2(s.end)}) | ${s.percent}% | ${share(l.nextShare)} (${l[colors.next]} of ${l[colors.old] + l[colors.next]}) ` +
        `| ${share(s.tool.nextShare)} (${tNext} of ${tOld + tNext}) | ${l.failed} | ${s.tool.verdict}: ${s.tool.detail} |`,
    );
  }
  lines.push(
    '',
    `The load's share counts the responses that ended between a step's start + ${config.stepMarginMs / 1000} s and its end ` +
      "(a step starts once its reload is confirmed); the tool's share is its own count of that step's requests in the " +
      "proxy's access log (the `bluegreen` format: by upstream), its own checks left out. Times are seconds since the " +
      'deploy started.',
    '',
    '## Phases',
    '',
    '| phase | start | duration | ok |',
    '|---|---:|---:|---|',
    ...deploy.phases.map((p) => `| ${p.name} | ${s2(p.start)} | ${s2(p.ms)} | ${p.ok ? 'yes' : 'FAILED'} |`),
    '',
    'A phase starts when the CLI prints its `== name ==` line on stderr and lasts what the `--json` result says.',
    '',
    '## Load',
    '',
    '| client | requests | failed | resets absorbed by resending | ticks skipped (8 in flight) |',
    '|---|---:|---:|---:|---:|',
    ...Object.values(load).map(
      (k) => `| ${k.label} | ${k.requests} | ${k.failed} | ${k.resetsRetried} | ${k.skipped} |`,
    ),
    '',
    '## Failed requests',
    '',
    ...(failures.length
      ? failures.map(
          (f) => `- ${f.kind}: ${f.what}${f.reused ? ' on a reused connection' : ''} at ${s2(f.ended)} (${f.phase})`,
        )
      : ['- none']),
    '',
    `Chart: [canary.svg](canary.svg). Raw figures, the per-second buckets included: [latest.json](latest.json).`,
    '',
  );
  return lines.join('\n');
}

// Everything this run created, torn down on success, failure and Ctrl-C alike.
const stacks = [];
let cleaning;
function cleanup() {
  cleaning ??= Promise.all(stacks.map((s) => s.cleanup()));
  return cleaning;
}
onInterrupt(cleanup);

async function preflight() {
  await requireEngine();
  if ((await run('docker-compose', ['version'])).code !== 0) throw new Error('`docker-compose` is missing');
  // dist/ is another engineer's (and CI's) to build: never rebuilt from here.
  await fs.access(CLI_BUNDLE).catch(() => {
    throw new Error(`${path.relative(ROOT, CLI_BUNDLE)} is missing: run \`npm run bundle\` first`);
  });
}

async function main() {
  const started = now();
  const config = CONFIG;
  await preflight();
  const images = await ensureTestImages({ log: (m) => console.log(`  ${m}`) });
  const stack = await createStack('canary', { images, startupDelayMs: config.startupDelayMs });
  stacks.push(stack);
  await stack.startShared();
  const machine = await machineInfo(stack.proxyContainer);

  console.log('First deploy (blue, not measured)...');
  const first = await cliDeploy(stack, config, { version: 0, canary: false });
  if (!first.ok) throw new Error(`the first deploy failed (exit ${first.code}):\n${first.log}`);

  console.log(
    `Canary deploy of green (${config.canarySteps.join(', ')}% for ${config.canaryIntervalSeconds} s each) under ` +
      `${config.ratePerSec} req/s × ${config.kinds.length} clients...`,
  );
  const load = startLoad(stack.proxyUrl, config);
  await sleep(config.leadMs);
  const deploy = await cliDeploy(stack, config, { version: 1, canary: true });
  await sleep(config.tailMs);
  const loadResult = await load.stop();
  if (isAborting()) throw new Error('interrupted');

  const t0 = deploy.startedAt;
  const result = deploy.result ?? {};
  const colors = { old: result.previousColor ?? 'blue', next: result.targetColor ?? 'green' };
  const phases = deploy.phases.map((p) => ({
    name: p.name,
    start: round(p.start - t0),
    end: round(p.end - t0),
    ms: round(p.ms),
    ok: p.ok,
  }));
  const phaseAt = (t) => phases.find((p) => t >= p.start && t <= p.end)?.name ?? (t < 0 ? 'before' : 'after');
  const records = loadResult.records;
  const failures = records.filter(failed).map((r) => ({
    kind: r.k,
    sent: round(r.s - t0),
    ended: round(r.e - t0),
    what: r.err ?? `HTTP ${r.st}`,
    reused: r.reused ?? false,
    color: r.c ?? null,
    phase: phaseAt(r.e - t0),
  }));
  const seconds = perSecond(records, t0, colors);
  const steps = stepFigures(result.traffic?.steps ?? [], records, t0, colors, config.stepMarginMs);
  machine.loadAverageEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const results = {
    machine,
    config,
    durationMs: Math.round(now() - started),
    colors,
    deploy: {
      ok: deploy.ok,
      code: deploy.code,
      status: result.status,
      exitCode: result.exitCode,
      color: result.color,
      durationMs: round(deploy.endedAt - deploy.startedAt),
      toolDurationMs: result.durationMs,
      startedAt: new Date(t0).toISOString(),
      phases,
      traffic: result.traffic,
      error: result.error,
      ...(deploy.ok ? {} : { log: deploy.log }),
    },
    steps,
    load: loadSummary(loadResult, config.kinds),
    failures,
    perSecond: seconds.map((b) => ({
      t: b.t,
      requests: b.requests,
      [colors.old]: b.old,
      [colors.next]: b.next,
      other: b.other,
      failed: b.failed,
      nextShare: b.nextShare,
    })),
  };

  await fs.mkdir(OUT, { recursive: true });
  await fs.writeFile(path.join(OUT, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await fs.writeFile(path.join(OUT, 'latest.md'), markdown(results));
  const title = `One canary deploy under load through Nginx: ${colors.old} → ${colors.next}, ${[...config.canarySteps, 100].map((p) => `${p}%`).join(' → ')}`;
  const subtitle =
    `canary-interval ${config.canaryIntervalSeconds} s, drain ${config.drainSeconds} s; ${config.ratePerSec} req/s × ` +
    `${config.kinds.length} clients (fresh connections; keep-alive, resent once on reset); ${machine.cores} cores, ${machine.date.slice(0, 10)}`;
  const chartSteps = steps.map((s) => ({ name: s.name, percent: s.percent, start: s.start, end: s.end }));
  await fs.writeFile(
    path.join(OUT, 'canary.svg'),
    canaryChart({ seconds, phases, steps: chartSteps, colors, end: round(deploy.endedAt - t0) }, { title, subtitle }),
  );
  return { ok: deploy.ok && failures.length === 0, results };
}

let exitCode = 1;
try {
  const { ok, results } = await main();
  await cleanup();
  console.log(`\n${markdown(results)}`);
  console.log(
    `Written: bench/results/canary/latest.json, latest.md, canary.svg (whole run ${(results.durationMs / 1000).toFixed(0)} s)`,
  );
  if (!results.deploy.ok) console.error('The canary deploy FAILED: see bench/results/canary/latest.json.');
  if (results.failures.length) console.error(`${results.failures.length} request(s) FAILED: see latest.md.`);
  exitCode = ok ? 0 : 1;
} catch (error) {
  if (!isAborting()) console.error(`The benchmark could not run: ${error.stack ?? error}`);
  await cleanup();
}
process.exit(isAborting() ? 130 : exitCode);
