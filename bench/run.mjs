// npm run bench [-- --quick] [-- --swaps N] [-- --compose v2|v1] [-- --cleanup stop|down] [-- --docker-healthcheck]
//   [-- --app-exits-on-sigterm]
//
// Blue-green swaps on this machine's Docker engine with the offline test images, under load through Nginx:
// N swaps with this project's bundled action (run as the GitHub runner runs it) and N with the baseline, a
// re-implementation of the seed's Jenkins pipeline (bench/baseline.mjs), interleaved, each tool in its own compose
// project. Both tools call the same Compose: v2 (`docker compose`) by default, v1 (`docker-compose`) with
// --compose v1; the action is given it as compose-command, and the JSON records the version each tool's containers
// were created by (machine.compose = { action, baseline }). The action runs with drain-seconds 10 as the bound of
// its drain (the drain ends as soon as the old color is free); beside the drain the figures give the longest
// request in flight at the switch, measured from the switch to its end: what the drain had to wait for. Own
// overhead = wall time − compose calls − drain − the app's own start-up (container start → `listening`).
// Writes bench/results/latest.json, latest.md and swap.svg (raw request logs go to bench/results/runs/,
// which git ignores); `npm run readme:figures` then rewrites the README's figures from the JSON. --quick (CI: one
// swap each, lighter load) writes the same files to bench/results/runs/quick/ instead, so that it never replaces
// the figures of a full run. Variants write their own folders: --app-exits-on-sigterm runs an app that exits at
// once on SIGTERM instead of finishing its requests (as many apps do): bench/results/exit-on-sigterm/;
// --docker-healthcheck keeps the app image's HEALTHCHECK (every 1 s), which the action waits for and the baseline
// ignores: bench/results/docker-healthcheck/; --compose v1: bench/results/compose-v1/ (nested when combined).
// Exits 1 when it cannot run (no engine, no such compose, ...) or a swap of this project fails.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTestImages } from '../scripts/images.mjs';
import { baselineDeploy } from './baseline.mjs';
import { ACTION_BUNDLE, actionDeploy, actionNodeVersion, CLI_BUNDLE, ROOT } from './lib/action.mjs';
import { composeCli, composeVersion, composeVersionOf } from './lib/compose.mjs';
import { KINDS, startLoad } from './lib/load.mjs';
import { coldStart, machineInfo } from './lib/machine.mjs';
import { summarize, swapFigures } from './lib/metrics.mjs';
import { isAborting, now, onInterrupt, requireEngine, run, sleep, watch } from './lib/proc.mjs';
import { markdown, ratio } from './lib/report.mjs';
import { createStack, readyTime, startedTime } from './lib/stack.mjs';
import { swapChart } from './lib/svg.mjs';

const RESULTS = path.join(ROOT, 'bench/results');
/** The shape of latest.json: 2 adds machine.compose per tool, the in-flight, start-up and own-overhead figures. */
const FORMAT = 2;

function readConfig(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      swaps: { type: 'string' },
      cleanup: { type: 'string', default: 'stop' },
      // The Compose both tools call: v2 (`docker compose`) or v1 (`docker-compose`).
      compose: { type: 'string', default: 'v2' },
      // The test image's HEALTHCHECK runs every 1 s; the action waits for it, the baseline does not. Off by default,
      // so that both tools react to the same sign of readiness (the app answers); on, it shows what the wait costs.
      'docker-healthcheck': { type: 'boolean', default: false },
      'app-exits-on-sigterm': { type: 'boolean', default: false },
    },
  });
  if (!['stop', 'down'].includes(values.cleanup)) throw new Error('--cleanup must be stop or down');
  composeCli(values.compose); // throws unless v2 or v1
  const quick = values.quick;
  const swaps = Number(values.swaps ?? (quick ? 1 : 10));
  if (!Number.isInteger(swaps) || swaps < 1) throw new Error('--swaps must be a positive integer');
  return {
    quick,
    swaps,
    cleanup: values.cleanup,
    compose: values.compose,
    dockerHealthcheck: values['docker-healthcheck'],
    exitOnSigterm: values['app-exits-on-sigterm'],
    startupDelayMs: 1500, // a realistic start-up: readiness matters
    ratePerSec: quick ? 25 : 60, // per client kind; 3 kinds stay well below what 2 cores can serve
    slowMs: 2000,
    slowEveryMs: 400, // 2000 / 400 = 5 slow requests in flight at any moment, the switch included
    leadMs: 1000, // load on the old color before the deploy starts
    tailMs: 1000, // and on the new one after it ends
    healthInterval: 0.2,
    // The drain's bound (the action's default): it ends as soon as the old color is free (its Nginx workers gone),
    // so a bound far above slowMs costs nothing when requests finish sooner.
    drainSeconds: 10,
    coldStartRuns: quick ? 3 : 10,
  };
}

const TOOLS = {
  action: { label: 'this project (bundled action)', deploy: actionDeploy },
  baseline: { label: 'baseline (seed pipeline)', deploy: baselineDeploy },
};

/** The engine, the chosen compose, curl and the bundles must be there, or nothing can be measured. */
async function preflight(config) {
  await requireEngine();
  const compose = composeCli(config.compose);
  if (!(await composeVersion(compose))) {
    throw new Error(
      `\`${compose.command} version --short\` failed: --compose ${config.compose} needs it. Install it as CI does ` +
        `(sudo bash scripts/provision.sh installs Compose v1 and the v2 plugin), or choose the other with --compose.`,
    );
  }
  if ((await run('curl', ['--version'])).code !== 0) throw new Error('`curl` is missing: the benchmark needs it');
  await actionNodeVersion();
  // dist/ is another engineer's (and CI's) to build: never rebuilt from here.
  for (const bundle of [ACTION_BUNDLE, CLI_BUNDLE]) {
    await fs.access(bundle).catch(() => {
      throw new Error(`${path.relative(ROOT, bundle)} is missing: run \`npm run bundle\` first`);
    });
  }
}

/** The first deploy of a stack (blue), not measured: both tools then start from blue serving. */
async function firstDeploy(name, stack, config) {
  const d = await TOOLS[name].deploy(stack, config, { version: 0 });
  if (!d.ok) throw new Error(`the first deploy with ${TOOLS[name].label} failed:\n${d.log}`);
}

/**
 * Docker's own `health_status: healthy` events (the test image has a HEALTHCHECK every 1 s), to split the time
 * from ready to switched into "Docker says healthy", "the tool's check passed" and "the proxy switched".
 */
function watchDockerHealth() {
  const healthy = [];
  const watcher = watch(
    'docker',
    [
      'events',
      '--filter',
      'type=container',
      '--filter',
      'event=health_status',
      '--format',
      '{{.TimeNano}} {{.Actor.Attributes.name}} {{.Status}}',
    ],
    (line) => {
      const m = /^(\d+) (\S+) health_status: healthy$/.exec(line.trim());
      if (m) healthy.push({ t: Number(BigInt(m[1]) / 1000n) / 1000, container: m[2] });
    },
  );
  return {
    stop: () => watcher.stop(),
    /** When container first reported healthy at or after since (epoch ms). */
    healthyAt: (container, since) => healthy.find((h) => h.container === container && h.t >= since)?.t,
  };
}

/** One measured swap: load on the old color, the deploy, load on the new color; then the figures. */
async function measuredSwap(name, stack, config, index, dockerHealth) {
  const load = startLoad(stack.proxyUrl, config);
  await sleep(config.leadMs);
  const deploy = await TOOLS[name].deploy(stack, config, { version: index });
  load.stopSlow();
  await sleep(config.tailMs);
  const loadResult = await load.stop();
  const from = deploy.from ?? deploy.outputs?.['previous-color'] ?? (index % 2 ? 'blue' : 'green');
  const to = deploy.to ?? deploy.outputs?.color ?? (from === 'blue' ? 'green' : 'blue');
  const readyAt = await readyTime(stack.appContainer(to), to, deploy.startedAt);
  const containerStartedAt = await startedTime(stack.appContainer(to));
  await sleep(200); // the event of a health change arrives a moment after it
  const dockerHealthyAt = dockerHealth.healthyAt(stack.appContainer(to), deploy.startedAt);
  const figures = swapFigures(loadResult, deploy, { from, to, readyAt, dockerHealthyAt, containerStartedAt });
  if (deploy.reportedPhases) figures.reportedPhases = deploy.reportedPhases; // the action's own `phases:` line
  if (!deploy.ok) figures.log = deploy.log;
  return { figures, records: loadResult.records, t0: deploy.startedAt };
}

function progress(name, index, f) {
  const s = (ms) => (ms === null ? '?' : `${(ms / 1000).toFixed(2)} s`);
  const failedBy = KINDS.map((k) => f.perKind[k].failed).join('/');
  console.log(
    `  [${name.padEnd(8)}] swap ${index} ${f.from} → ${f.to}: ${f.ok ? 'ok' : 'FAILED'} in ${s(f.totalMs)}; ` +
      `failed fresh/keep-alive/retry ${failedBy} (retried ${f.perKind.retry.retried}); slow lost ${f.slow.lost}/${f.slow.atSwitch}; ` +
      `ready→switch ${s(f.readyToSwitchMs)}; overlap ${s(f.overlapMs)}; drain ${s(f.drainMs)} ` +
      `(longest in flight after the switch ${s(f.inFlightAfterSwitchMs)}); own overhead ${s(f.ownOverheadMs)}`,
  );
}

/** Where a run's files go; returns that directory. */
async function writeResults(results, rawSwaps, config) {
  const variant = [
    config.exitOnSigterm && 'exit-on-sigterm',
    config.dockerHealthcheck && 'docker-healthcheck',
    config.compose === 'v1' && 'compose-v1',
  ].filter(Boolean);
  const out = config.quick ? path.join(RESULTS, 'runs/quick') : path.join(RESULTS, ...variant);
  await fs.mkdir(out, { recursive: true });
  await fs.writeFile(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await fs.writeFile(path.join(out, 'latest.md'), markdown(results));
  const first = (name) => rawSwaps[name][0];
  const title = 'One blue → green swap under load through Nginx: this project vs the seed pipeline';
  const subtitle =
    `${config.ratePerSec} req/s × 3 client kinds + a /slow?ms=${config.slowMs} request every ${config.slowEveryMs} ms; ` +
    `app start-up ${config.startupDelayMs} ms${config.exitOnSigterm ? ', exits at once on SIGTERM' : ''}; ` +
    `drain-seconds ${config.drainSeconds}; ${composeCli(config.compose).command} for both; ` +
    `${results.machine.cores} cores, ${results.machine.date.slice(0, 10)}`;
  const panels = Object.keys(TOOLS)
    .filter((name) => first(name))
    .map((name) => ({ title: `${TOOLS[name].label}, swap 1`, ...first(name) }));
  await fs.writeFile(path.join(out, 'swap.svg'), swapChart(panels, { title, subtitle }));
  // Every request of every swap, for a closer look; git ignores bench/results/runs/.
  const dir = config.quick ? out : path.join(RESULTS, 'runs', results.machine.date.replace(/[:.]/g, '-'));
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'requests.json'), JSON.stringify(rawSwaps));
  return out;
}

// Everything this run created, torn down on success, failure and Ctrl-C alike.
const stacks = [];
const stopWatchers = [];
let cleaning;
function cleanup() {
  for (const stop of stopWatchers.splice(0)) stop();
  cleaning ??= Promise.all(stacks.map((s) => s.cleanup()));
  return cleaning;
}
onInterrupt(cleanup);

/** Which benchmark made the figures: its format, and the commit of bench/, dist/ and action.yml. */
async function benchInfo() {
  const commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout.trim();
  const status = await run('git', ['status', '--porcelain', '--', 'bench', ':!bench/results', 'dist', 'action.yml'], {
    cwd: ROOT,
  });
  return { format: FORMAT, ...(commit ? { commit, dirty: status.stdout.trim() !== '' } : {}) };
}

/**
 * The Compose each tool really used: the version label Compose puts on the containers it creates, read from the
 * app container of each tool's first deploy; cross-checked against the CLI both were given.
 */
async function composeUsed(stack, config) {
  const cli = composeCli(config.compose);
  const given = await composeVersion(cli);
  const used = {};
  for (const name of Object.keys(TOOLS)) {
    used[name] = await composeVersionOf(stack[name].appContainer('blue'));
    if (!used[name]) throw new Error(`no com.docker.compose.version label on ${stack[name].appContainer('blue')}`);
    // `version --short` may add a packaging suffix (2.26.1-4) that the label has not.
    if (!given?.startsWith(used[name])) {
      throw new Error(
        `${TOOLS[name].label} created its containers with Compose ${used[name]}, not ${cli.command} ${given}`,
      );
    }
  }
  return { command: cli.command, compose: used };
}

async function main() {
  const started = now();
  const config = readConfig(process.argv.slice(2));
  await preflight(config);
  const dockerHealth = watchDockerHealth();
  stopWatchers.push(() => dockerHealth.stop());
  const images = await ensureTestImages({ log: (m) => console.log(`  ${m}`) });
  console.log(`Cold start of the bundles (${config.coldStartRuns} runs each)...`);
  const cold = await coldStart(config.coldStartRuns);
  const stack = {};
  for (const name of Object.keys(TOOLS)) {
    stack[name] = await createStack(name === 'action' ? 'action' : 'seed', {
      images,
      startupDelayMs: config.startupDelayMs,
      dockerHealthcheck: config.dockerHealthcheck,
      exitOnSigterm: config.exitOnSigterm,
      compose: composeCli(config.compose),
    });
    stacks.push(stack[name]);
    await stack[name].startShared();
  }
  const machine = await machineInfo(stack.action.proxyContainer, { action: true });
  console.log('First deploy of each stack (not measured)...');
  for (const name of Object.keys(TOOLS)) await firstDeploy(name, stack[name], config);
  const { command, compose } = await composeUsed(stack, config);
  Object.assign(machine, { composeCommand: command, compose });

  const swaps = { action: [], baseline: [] };
  const raw = { action: [], baseline: [] };
  for (let i = 1; i <= config.swaps; i++) {
    // Alternate which tool goes first, so that neither always follows the other's load.
    const order = i % 2 ? ['action', 'baseline'] : ['baseline', 'action'];
    for (const name of order) {
      if (name === 'baseline' && swaps.baseline.some((s) => !s.ok)) continue; // its failure handler left a wreck
      const { figures, records, t0 } = await measuredSwap(name, stack[name], config, i, dockerHealth);
      if (isAborting()) throw new Error('interrupted');
      swaps[name].push(figures);
      raw[name].push({ records, t0, figures });
      progress(name, i, figures);
    }
    if (swaps.action.some((s) => !s.ok)) break;
  }

  const tools = Object.fromEntries(
    Object.keys(TOOLS).map((name) => [
      name,
      { label: TOOLS[name].label, swaps: swaps[name], summary: summarize(swaps[name]) },
    ]),
  );
  const ratios = Object.fromEntries(
    Object.keys(tools.action.summary).map((k) => [
      k,
      ratio(tools.action.summary[k].median, tools.baseline.summary[k].median),
    ]),
  );
  machine.loadAverageEnd = os.loadavg().map((x) => Math.round(x * 100) / 100); // a shared machine: how busy it was
  const bench = await benchInfo();
  const results = { bench, machine, config, durationMs: Math.round(now() - started), coldStart: cold, tools, ratios };
  const out = await writeResults(results, raw, config);
  const ok = swaps.action.length === config.swaps && swaps.action.every((s) => s.ok);
  return { ok, results, out };
}

let exitCode = 1;
try {
  const { ok, results, out } = await main();
  await cleanup();
  console.log(`\n${markdown(results)}`);
  const where = path.relative(ROOT, out);
  console.log(
    `Written: ${where}/latest.json, latest.md, swap.svg (whole run ${(results.durationMs / 1000).toFixed(0)} s)`,
  );
  if (!ok) console.error('A swap of this project FAILED: see bench/results/latest.json.');
  exitCode = ok ? 0 : 1;
} catch (error) {
  if (!isAborting()) console.error(`The benchmark could not run: ${error.stack ?? error}`);
  await cleanup();
}
process.exit(isAborting() ? 130 : exitCode);
