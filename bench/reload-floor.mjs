// npm run bench:reload [-- --quick] [-- --k N]
//
// The reload floor: how many fresh-connection requests fail at one reload of Nginx, at the highest rate this
// machine sustains through the proxy, for a bare reload and for a swap by this project, side by side in one run,
// and whether a switch that needs no reload does better. One stack (bench/lib/stack.mjs: the proxy with the
// examples' default.conf, app blue and app green, Compose v2), blue deployed first by the bundled CLI (not
// measured), then, each under the same load (bench/lib/closed-loop.mjs: a closed loop of fresh-connection GETs at
// the concurrency that served the most in a short ramp, plus slow requests always in flight and a keep-alive probe):
//
//   baseline    K windows of 1 s in which nothing is done
//   reload      K `docker exec <proxy> nginx -s reload`, 1 s apart, the include unchanged
//   swap        K deploys of the other color by `node dist/cli/index.js deploy` (each one rewrite + one reload),
//               back to back
//   dnat        K switches without reload, 1 s apart: a netfilter rule in the proxy's network namespace, replaced
//               (bench/lib/no-reload.mjs; needs root on the Docker host, skipped otherwise)
//   dnsOverlap  K/3 switches without reload by a Docker network alias that Nginx re-resolves (`resolver`, a
//               variable in proxy_pass), both colors holding it for 1.2 s
//   dnsMove     K/3 the same, the alias moved at once
//
// For each event: the failed fresh-connection requests by error, the requests per second, the keep-alive probe's
// failures, and for the swaps and switches the slow requests in flight at the switch and whether any was lost,
// the time from the command to the first new-color answer and the old color's answers after it (a split). The
// figures are medians over the events. Writes bench/results/reload-floor/latest.json and latest.md (--quick: fewer
// events, bench/results/runs/quick-reload/, which git ignores); `npm run readme:figures` then rewrites the
// README's `bench:reload-floor` block from the JSON. Every container, network and image it creates is removed at
// the end, on failure and on Ctrl-C. Exits 1 when it cannot run or a swap fails.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTestImages } from '../scripts/images.mjs';
import { CLI_BUNDLE, ROOT, stackInputs } from './lib/action.mjs';
import { startClosedLoop } from './lib/closed-loop.mjs';
import { COMPOSE, composeVersion } from './lib/compose.mjs';
import { machineInfo } from './lib/machine.mjs';
import { median } from './lib/metrics.mjs';
import {
  addressOn,
  dnatSetup,
  dnatSwitch,
  dnatUnavailable,
  DNAT_PORT,
  DNS_PORT,
  dnsSetup,
  dnsSwitch,
  dnsTeardown,
  noReloadConfs,
} from './lib/no-reload.mjs';
import { isAborting, now, onInterrupt, requireEngine, run, runOk, sleep } from './lib/proc.mjs';
import { eventFigures, summarizeEvents } from './lib/reload-metrics.mjs';
import { reloadMarkdown, SCENARIOS } from './lib/reload-report.mjs';
import { createStack, HEALTH_PATH } from './lib/stack.mjs';

/** The shape of latest.json. */
const FORMAT = 1;

function readConfig(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean', default: false }, k: { type: 'string' } },
  });
  const quick = values.quick;
  const k = Number(values.k ?? (quick ? 2 : 12));
  if (!Number.isInteger(k) || k < 1) throw new Error('--k must be a positive integer');
  return {
    quick,
    k,
    swaps: quick ? 1 : k,
    kDns: Math.max(1, Math.ceil(k / 3)), // the DNS variants: fewer, they hold up the load (see the README)
    calibration: quick ? [8] : [4, 8, 16, 32], // concurrencies tried
    calibrationMs: quick ? 1000 : 1500,
    slowMs: 1000,
    slowEveryMs: 125, // 8 in flight at any moment
    keepaliveEveryMs: 20,
    leadMs: 300, // load before the first event
    gapMs: 1000, // between bare reloads, DNAT switches, baseline windows
    dnsOverlapMs: 1200, // both colors hold the name: longer than the resolver's valid=1s
    dnsGapMs: 3000,
    compose: 'v2',
    composeCommand: COMPOSE.v2.command,
    startupDelayMs: 0, // what is measured is the proxy, not the app's start
    healthInterval: 0.2,
    drainSeconds: 10,
    cleanup: 'stop',
  };
}

const RESULTS = path.join(ROOT, 'bench/results');
const outDir = (config) => path.join(RESULTS, config.quick ? 'runs/quick-reload' : 'reload-floor');

// Everything this run created, torn down on success, failure and Ctrl-C alike.
const created = { stack: undefined, load: undefined, dns: false };
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    created.load?.kill();
    if (created.stack) {
      if (created.dns) await dnsTeardown(created.stack);
      await created.stack.cleanup();
    }
  })();
  return cleaning;
}
onInterrupt(cleanup);

async function preflight() {
  await requireEngine();
  if (!(await composeVersion(COMPOSE.v2))) throw new Error('`docker compose` (Compose v2) does not answer');
  // dist/ is another engineer's (and CI's) to build: never rebuilt from here.
  await fs.access(CLI_BUNDLE).catch(() => {
    throw new Error(`${path.relative(ROOT, CLI_BUNDLE)} is missing: run \`npm run bundle\` first`);
  });
}

/** One deploy by the bundled CLI: { ok, result (its --json), startedAt, endedAt, switchAt (its `== switch ==` line) }. */
async function cliDeploy(stack, config, version) {
  const inputs = stackInputs(stack, {
    drainSeconds: config.drainSeconds,
    cleanup: config.cleanup,
    healthInterval: config.healthInterval,
    compose: config.compose,
  });
  const args = ['deploy', ...Object.entries(inputs).flatMap(([k, v]) => [`--${k}`, v]), '--json'];
  const r = await run(process.execPath, [CLI_BUNDLE, ...args], {
    cwd: stack.dir,
    env: { APP_VERSION: String(version) },
    timeoutMs: 120_000,
  });
  let result;
  try {
    result = JSON.parse(r.stdout);
  } catch {
    result = undefined;
  }
  const switchAt = r.lines.find((l) => l.stream === 'stderr' && l.text === '== switch ==')?.t;
  return {
    ok: r.code === 0 && result?.status === 'deployed',
    code: r.code,
    result,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    switchAt,
    log: r.stderr,
  };
}

const loadOptions = (config, base, concurrency) => ({
  url: `${base}/`,
  concurrency,
  slowUrl: `${base}/slow?ms=${config.slowMs}`,
  slowEveryMs: config.slowEveryMs,
  keepaliveEveryMs: config.keepaliveEveryMs,
  timeoutMs: 10_000,
  slowTimeoutMs: config.slowMs + 10_000,
});

/** Each concurrency for calibrationMs: fresh-connection requests served per second. */
async function calibrate(config, base) {
  const out = [];
  for (const concurrency of config.calibration) {
    const load = await startClosedLoop(loadOptions(config, base, concurrency));
    created.load = load;
    const t0 = now();
    await sleep(config.calibrationMs);
    const t1 = now();
    const records = await load.stop();
    created.load = undefined;
    let fresh = 0;
    for (let i = 0; i < records.n; i++) if (records.k[i] === 0 && records.e[i] >= t0 && records.e[i] < t1) fresh++;
    out.push({ concurrency, perSecond: Math.round(fresh / ((t1 - t0) / 1000)) });
    console.log(`  concurrency ${concurrency}: ${out.at(-1).perSecond} fresh-connection requests/s`);
  }
  return out;
}

/**
 * Runs the load against base, then body(events) which makes the events (pushing { t, cmdAt?, from?, to?, ... })
 * and resolves with the end of the last window; then the figures of each event and their summary.
 */
async function scenario(key, config, base, body) {
  const label = SCENARIOS.find((s) => s.key === key).label;
  console.log(`${label}...`);
  const load = await startClosedLoop(loadOptions(config, base, config.concurrency));
  created.load = load;
  await sleep(config.leadMs);
  const events = [];
  let endAt;
  try {
    endAt = await body(events);
  } finally {
    endAt ??= now();
  }
  const records = await load.stop();
  created.load = undefined;
  if (isAborting()) throw new Error('interrupted');
  const { events: figures, failures } = eventFigures(records, events, endAt);
  const summary = summarizeEvents(figures);
  console.log(
    `  ${summary.events} events, ${summary.fresh.perSecond} fresh requests/s, failed per event ` +
      `${summary.fresh.failedPerEvent?.median ?? '–'} (in all ${summary.fresh.failed}), slow lost ${summary.slow.lost}` +
      ` of ${summary.slow.inFlight}, slow failed ${summary.slow.failed}` +
      (summary.switch
        ? `, first new answer ${summary.switch.firstNewMs?.median ?? '–'} ms, split ${summary.switch.splitOldTotal}`
        : ''),
  );
  return { summary, events: figures, failures };
}

/** Sleeps until epoch ms t (now() clock). */
const sleepUntil = (t) => sleep(Math.max(0, t - now()));

/** Starts a stopped color again (the swaps' cleanup stopped it) and waits for it to answer. */
async function startColor(stack, color) {
  await runOk('docker', ['start', stack.appContainer(color)]);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const r = await run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-m',
      '2',
      `http://127.0.0.1:${stack.ports[color]}${HEALTH_PATH}`,
    ]);
    if (r.stdout === '200') return;
    await sleep(100);
  }
  throw new Error(`${stack.appContainer(color)} did not answer within 20 s of its start`);
}

async function benchInfo() {
  const commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout.trim();
  const status = await run('git', ['status', '--porcelain', '--', 'bench', ':!bench/results', 'dist', 'action.yml'], {
    cwd: ROOT,
  });
  return { name: 'reload-floor', format: FORMAT, ...(commit ? { commit, dirty: status.stdout.trim() !== '' } : {}) };
}

const other = (color) => (color === 'blue' ? 'green' : 'blue');

async function main(config) {
  await preflight();
  const images = await ensureTestImages({ log: (m) => console.log(`  ${m}`) });
  const stack = await createStack('reload', { images, startupDelayMs: config.startupDelayMs, compose: COMPOSE.v2 });
  created.stack = stack;
  // The no-reload variants' server blocks, in place before the proxy starts: adding them needs no reload.
  for (const [file, text] of Object.entries(noReloadConfs())) await fs.writeFile(path.join(stack.dir, file), text);
  await stack.startShared();
  const machine = await machineInfo(stack.proxyContainer);
  machine.compose = await composeVersion(COMPOSE.v2);
  machine.composeCommand = COMPOSE.v2.command;
  const proxyIp = await addressOn(stack.proxyContainer, `${stack.name}-net`);
  const base = (port) => `http://${proxyIp}${port === 80 ? '' : `:${port}`}`;

  console.log('First deploy (blue, not measured)...');
  let version = 1;
  const first = await cliDeploy(stack, config, version++);
  if (!first.ok) throw new Error(`the first deploy failed (exit ${first.code}):\n${first.log}`);
  let live = first.result.color;

  console.log(
    `Calibration: fresh-connection requests per second at each concurrency (${config.calibrationMs} ms each)`,
  );
  const calibration = await calibrate(config, base(80));
  config.concurrency = calibration.reduce((a, b) => (b.perSecond > a.perSecond ? b : a)).concurrency;
  console.log(`  → concurrency ${config.concurrency}`);

  const scenarios = {};
  const failures = {};
  const unavailable = {};
  const keep = (key, r, extra = {}) => {
    scenarios[key] = { summary: r.summary, ...extra, events: r.events };
    failures[key] = r.failures;
  };

  keep(
    'baseline',
    await scenario('baseline', config, base(80), async (events) => {
      for (let i = 0; i < config.k; i++) {
        const t = now();
        events.push({ t });
        await sleepUntil(t + config.gapMs);
      }
      return now();
    }),
  );

  keep(
    'reload',
    await scenario('reload', config, base(80), async (events) => {
      for (let i = 0; i < config.k; i++) {
        const t = now();
        const r = await run('docker', ['exec', stack.proxyContainer, 'nginx', '-s', 'reload']);
        events.push({ t, commandMs: Math.round(r.endedAt - t), ok: r.code === 0 });
        if (r.code !== 0) throw new Error(`nginx -s reload failed: ${r.stderr}`);
        await sleepUntil(t + config.gapMs);
      }
      return now();
    }),
  );

  const deploys = [];
  const swaps = await scenario('swap', config, base(80), async (events) => {
    for (let i = 0; i < config.swaps; i++) {
      const t = now();
      const d = await cliDeploy(stack, config, version++);
      deploys.push(d);
      const result = d.result ?? {};
      events.push({
        t,
        cmdAt: d.switchAt ?? t,
        from: result.previousColor ?? live,
        to: result.color ?? other(live),
        deploy: {
          ok: d.ok,
          code: d.code,
          ms: Math.round(d.endedAt - d.startedAt),
          phases: (result.phases ?? []).map((p) => ({ name: p.name, ms: p.ms, ok: p.ok })),
          drain: result.drain,
          ...(d.ok ? {} : { log: d.log.slice(-4000) }),
        },
      });
      if (!d.ok) throw new Error(`swap ${i + 1} failed (exit ${d.code}):\n${d.log.slice(-2000)}`);
      live = result.color;
    }
    return now();
  });
  const deployFigures = (get) => {
    const xs = deploys.map(get).filter((x) => Number.isFinite(x));
    return xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null;
  };
  keep('swap', swaps, {
    deploys: {
      ok: deploys.filter((d) => d.ok).length,
      ms: deployFigures((d) => d.endedAt - d.startedAt),
      drainMs: deployFigures((d) => d.result?.drain?.ms),
    },
  });

  // Both colors run from here on: the no-reload switches move between them.
  await startColor(stack, other(live));

  const why = await dnatUnavailable();
  if (why) {
    unavailable.dnat = why;
    console.log(`DNAT switch skipped: ${why}`);
  } else {
    const dnat = await dnatSetup(stack, live);
    let from = live;
    keep(
      'dnat',
      await scenario('dnat', config, base(DNAT_PORT), async (events) => {
        for (let i = 0; i < config.k; i++) {
          const to = other(from);
          const t = now();
          const r = await dnatSwitch(dnat, to);
          events.push({ t, from, to, commandMs: Math.round(r.switchedAt - t) });
          from = to;
          await sleepUntil(t + config.gapMs);
        }
        return now();
      }),
    );
  }

  created.dns = true;
  await dnsSetup(stack, live);
  let holder = live;
  for (const [key, overlapMs] of [
    ['dnsOverlap', config.dnsOverlapMs],
    ['dnsMove', 0],
  ]) {
    keep(
      key,
      await scenario(key, config, base(DNS_PORT), async (events) => {
        for (let i = 0; i < config.kDns; i++) {
          const from = holder;
          const to = other(from);
          const t = now();
          const r = await dnsSwitch(stack, from, to, { overlapMs, sleep });
          holder = to;
          events.push({
            t,
            from,
            to,
            connectMs: Math.round(r.connectedAt - t),
            disconnectMs: Math.round(r.disconnectedAt - t),
          });
          await sleepUntil(t + config.dnsGapMs);
        }
        return now();
      }),
    );
  }

  machine.loadAverageEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const results = {
    bench: await benchInfo(),
    machine,
    config: { ...config, target: 'the proxy container address on its network' },
    calibration,
    scenarios,
    ...(Object.keys(unavailable).length ? { unavailable } : {}),
    failures,
    durationMs: null,
  };
  return results;
}

const started = now();
let exitCode = 1;
let config;
try {
  config = readConfig(process.argv.slice(2));
  const results = await main(config);
  await cleanup();
  results.durationMs = Math.round(now() - started); // the clean-up included
  const dir = outDir(config);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await fs.writeFile(path.join(dir, 'latest.md'), reloadMarkdown(results));
  console.log(`\n${reloadMarkdown(results)}`);
  console.log(`Written: ${path.relative(ROOT, dir)}/latest.json and latest.md`);
  exitCode = results.scenarios.swap.deploys.ok === results.scenarios.swap.summary.events ? 0 : 1;
} catch (error) {
  if (!isAborting()) console.error(`bench:reload could not run: ${error.stack ?? error}`);
  await cleanup();
}
process.exit(isAborting() ? 130 : exitCode);
