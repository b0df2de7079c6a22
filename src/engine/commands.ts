// The commands, one function each, run once the situation is known and any unfinished run dealt with.
import path from 'node:path';
import { maskUrls } from '../config/config.js';
import { projectDirOf, type SharedService } from '../docker/compose.js';
import type { JournalEntry } from '../docker/journal.js';
import { formatStatuses } from '../health.js';
import type { Command } from '../inputs.js';
import type { ProxyState } from '../proxy/proxy.js';
import { longRunning, type Situation } from './detect.js';
import { preDeployService, runPreDeploy, show } from './hooks.js';
import type { Deployment } from './deployment.js';
import { StepFailure } from './errors.js';
import { undidDeploy } from './recover.js';
import type { LockView } from './result.js';
import { pushStopNew, swap, type ProxyStart } from './swap.js';
import { watchWindow } from './watch.js';

/** A proxy restarted by Docker this recently may be crash-looping, whatever its state says this instant. */
const CRASH_LOOP_WINDOW_MS = 10_000;

type CommandRun = (d: Deployment, s: Situation, unfinished?: JournalEntry) => Promise<void>;

/** Each command, once the situation is known and any unfinished deploy dealt with. */
const COMMANDS: Record<Command, CommandRun> = { deploy, rollback, status };

export function runCommand(d: Deployment, s: Situation, unfinished?: JournalEntry): Promise<void> {
  return COMMANDS[d.config.command](d, s, unfinished);
}

async function status(d: Deployment, s: Situation): Promise<void> {
  await showLocks(d);
  d.finish('unchanged', 0, s.live);
}

/** status takes no lock, but says who holds one: a deploy under way, or one that died and left it behind. */
async function showLocks(d: Deployment): Promise<void> {
  let locks: LockView[];
  try {
    const held = await d.deps.locks.holders(await d.lockKeys());
    locks = held.map(({ key, holder: h }) => {
      return { key, pid: h.pid, host: h.host, user: h.user, since: h.since, command: h.command };
    });
  } catch (error) {
    d.log.warn(`Could not read the deploy locks: ${(error as Error).message}`);
    return;
  }
  d.result.locks = locks;
  for (const l of locks) {
    const who = `process ${l.pid} of user ${l.user} on host ${l.host} since ${l.since}`;
    d.log.info(`Deploy lock ${l.key} is held by a ${l.command} (${who}).`);
  }
  if (!locks.length) d.log.info('No deploy holds the lock of these proxies.');
}

async function deploy(d: Deployment, s: Situation): Promise<void> {
  const next = s.live ? d.other(s.live) : d.config.colors[0];
  const nextServices = s.services[next] ?? [];
  d.result.targetColor = next;
  if (d.config.dryRun) return planOnly(d, s, next);
  const starts = proxiesToStart(d, s);
  const preDeploy = d.config.preDeploy.command.length > 0;
  // With several hosts, the first one runs it; the others start their color once it is done.
  const migrates = preDeploy && d.runsOnce;
  // A pre-deploy-service the color file lacks is refused here, before anything changes.
  if (migrates) preDeployService(d, s, next);
  // 2. Bring up the idle color, touching only its own services; with a pre-deploy-command, its images are built
  // (or pulled) first, and the command runs from them before any of its containers starts.
  const prepare = async () => {
    await d.record('up');
    // Only a first deploy starts shared services: later, one that is stopped (a one-off job, a tool stopped on
    // purpose) is not the deploy's to start. Proxies among them start once their include names a running color.
    if (!s.live) {
      const proxyServices = new Set(starts.map((p) => p.service));
      await startShared(
        d,
        next,
        s.shared.filter((svc) => !proxyServices.has(svc.name)).map((svc) => svc.name),
      );
    }
    if (d.config.pull) await d.compose.pull(next, nextServices);
  };
  const up = async (build: boolean) => {
    pushStopNew(d, next, nextServices);
    await d.compose.up(next, nextServices, build);
  };
  await d.reach('up');
  if (migrates) {
    await d.phase('prepare', async () => {
      await prepare();
      if (d.config.build) await d.compose.build(next, nextServices);
    });
    await d.phase('pre-deploy', () => d.shield(() => runPreDeploy(d, s, next)));
    await d.reach('pre-deploy');
    await d.phase('up', () => up(false));
  } else if (preDeploy) {
    await d.phase('up', async () => {
      await prepare();
      if (d.config.build) await d.compose.build(next, nextServices);
      d.log.info(`Waiting for pre-deploy-command on the first host before ${next} starts here.`);
      await d.reach('pre-deploy');
      await up(false);
    });
  } else {
    await d.phase('up', async () => {
      await prepare();
      await up(d.config.build);
    });
  }
  await swap(d, s, next, starts);
}

/**
 * Proxies that must be started after their include is written: on a first deploy, a proxy that is a shared
 * service not yet running, or any proxy that is stopped or crash-looping (a proxy cannot start while its upstream
 * names a container that does not exist yet). Any other proxy must be running: refused before anything changes.
 */
function proxiesToStart(d: Deployment, s: Situation): ProxyStart[] {
  const starts: ProxyStart[] = [];
  for (const container of d.proxyContainers()) {
    const state = s.proxies.get(container);
    if (state?.running && !(!s.live && crashLooping(d, state))) continue;
    const service = sharedServiceOf(d, container, state, s.shared);
    if (!s.live && (state || service)) {
      starts.push({ container, service: state ? undefined : service });
      continue;
    }
    throw new StepFailure(
      state
        ? `the proxy container ${container} is not running (${state.status}). Start it (its include must name a host that ` +
            'resolves, e.g. a placeholder server 127.0.0.1:9) and run again.'
        : `the proxy container ${container} does not exist and is not a service of ${d.config.composeFiles.join(', ') || 'the shared compose files'}. ` +
            'Start its own stack first, then run again.',
    );
  }
  return starts;
}

/**
 * Between two of its restarts, a crash-looping proxy shows as running for a few hundred milliseconds (while it
 * looks up the upstream that does not resolve): one that the restart policy started again moments ago is taken
 * for crash-looping. Only a first deploy asks, where restarting a proxy serves nobody less.
 */
function crashLooping(d: Deployment, state: ProxyState): boolean {
  return state.restartCount > 0 && d.deps.clock.now() - state.startedAt < CRASH_LOOP_WINDOW_MS;
}

/** The shared service a proxy container belongs to: by its compose labels, or by the name compose will give it. */
function sharedServiceOf(
  d: Deployment,
  container: string,
  state: ProxyState | undefined,
  shared: SharedService[],
): string | undefined {
  if (state) {
    const ours = state.workingDir !== undefined && path.resolve(state.workingDir) === projectDirOf(d.config);
    return ours ? shared.find((svc) => svc.name === state.service)?.name : undefined;
  }
  return shared.find((svc) => svc.containerNames.includes(container))?.name;
}

async function rollback(d: Deployment, s: Situation, unfinished?: JournalEntry): Promise<void> {
  if (unfinished && undidDeploy(d, unfinished)) {
    // The unfinished deploy never took over: going to the other color would bring up its unchecked build.
    d.log.info(
      `The unfinished deploy of ${unfinished.to} was undone and ${unfinished.from} serves as before: nothing to roll back.`,
    );
    return d.finish('unchanged', 0, unfinished.from);
  }
  if (s.live && d.deps.fleet?.undoneAnywhere()) {
    // Every host serves what it served before that deploy: none goes further back than the others.
    d.log.info(
      `An unfinished deploy was undone on another host, and ${s.live} serves here as there: nothing to roll back.`,
    );
    return d.finish('unchanged', 0, s.live);
  }
  if (!s.live) {
    throw new StepFailure('there is no live color, so there is nothing to roll back from.');
  }
  const back = d.other(s.live);
  // One-off services (a migration) ran when this color was deployed: going back does not run them again.
  const services = longRunning(s, back);
  d.result.targetColor = back;
  const containers = await d.compose.containers(back, services);
  const missing = services.filter((svc) => !containers.some((c) => c.service === svc));
  if (missing.length) {
    throw new StepFailure(
      `${back} has no container for ${missing.join(', ')} to go back to (removed by cleanup: down?). ` +
        'Deploy the version you want instead.',
    );
  }
  if (d.config.dryRun) return planOnly(d, s, back);
  const starts = proxiesToStart(d, s);
  await d.reach('up');
  await d.phase('start', async () => {
    await d.record('up');
    if (!s.running[back]) pushStopNew(d, back, services);
    await d.compose.start(back, services);
  });
  await swap(d, s, back, starts);
}

async function startShared(d: Deployment, color: string, shared: string[]): Promise<void> {
  const containers = await d.compose.containers(color, shared);
  const down = shared.filter((svc) => !containers.some((c) => c.service === svc && c.running));
  if (!down.length) return;
  d.log.info(`Starting shared services that are not running: ${down.join(', ')}`);
  d.startedShared.push(...down);
  await d.compose.startShared(color, down);
}

/** The canary steps a deploy would take, each a line of the plan. */
function canarySteps(d: Deployment, s: Situation, next: string): string[] {
  const { steps, intervalMs } = d.config.canary;
  const live = s.live;
  if (!steps.length || !live || d.config.command !== 'deploy') return [];
  const w = d.config.watch;
  return steps.map(
    (p) =>
      `canary ${p}%: write every include with ${live} ${100 - p}% and ${next} ${p}%, test it, reload; watch ` +
      `${intervalMs / 1000} s: above max-error-rate ${w.maxErrorRate}% over at least ${w.minRequests} of ${next}'s ` +
      `requests, every request back to ${live}`,
  );
}

function planOnly(d: Deployment, s: Situation, next: string): void {
  const port = d.compose.port(next);
  const rollback = d.config.command === 'rollback';
  const services = rollback ? longRunning(s, next) : (s.services[next] ?? []);
  const h = d.config.health;
  const hooks = d.config.hooks;
  const cmd = (args: string[]) => d.compose.describe(args);
  const onRunner = (input: string, words: string[], then: string) =>
    words.length && d.runsOnce ? [`run ${input} on the runner, ${then}: ${show(words)}`] : [];
  const u = d.result.interrupted;
  const preDeploy = !rollback && d.config.preDeploy.command.length > 0 && d.runsOnce;
  // With several hosts, the others build, wait for the first host's pre-deploy-command, then start.
  const waits = !rollback && d.config.preDeploy.command.length > 0 && !d.runsOnce;
  const once = s.oneOff[next] ?? [];
  const plan = [
    ...(u
      ? [`first, finish or undo the unfinished ${u.command} of ${u.to} (left at ${u.phase}); what follows may change`]
      : []),
    `${s.live ? `live color ${s.live} (port ${d.compose.port(s.live)})` : 'no live color'}; ` +
      `${d.config.command} ${next} (port ${port}), services ${services.join(', ')}` +
      (once.length && !rollback ? ` (run once: ${once.join(', ')})` : ''),
    ...(preDeploy
      ? [
          ...(d.config.build ? [cmd(d.compose.buildArgs(next, services))] : []),
          `run pre-deploy-command once, before ${next} starts (at most ${d.config.preDeploy.timeoutMs / 1000} s; ` +
            `failure: nothing started or switched): ` +
            maskUrls(cmd(d.compose.runArgs(next, preDeployService(d, s, next), d.runId, d.config.preDeploy.command))),
        ]
      : []),
    ...(waits
      ? [
          ...(d.config.build ? [cmd(d.compose.buildArgs(next, services))] : []),
          `wait for pre-deploy-command on the first host of hosts (failure there: ${next} is not started here)`,
        ]
      : []),
    rollback
      ? cmd(d.compose.args(next, ['start', ...services]))
      : cmd(d.compose.upArgs(next, services, d.config.build && !preDeploy && !waits)),
    `probe http://${h.host}:${port}${h.path} until ${formatStatuses(h.statuses)} (at most ${h.timeoutMs / 1000} s, every ${h.intervalMs / 1000} s)`,
    ...onRunner('pre-switch-command', hooks.preSwitch, 'before the switch (failure rolls back)'),
    ...canarySteps(d, s, next),
    ...s.includes.map((i) => `write ${d.proxy.describe(i.target)}:\n${d.proxy.render(i.target, next, port).trimEnd()}`),
    ...d.proxyContainers().map((c) => d.proxy.planSwitch(c)),
    d.config.verifyProxies === 'off'
      ? 'no check through the proxies (verify-proxies: off)'
      : `check each proxy through its published port: ${formatStatuses(h.statuses)} from ${next}` +
        ` within ${d.config.verifyTimeoutMs / 1000} s`,
    ...(d.config.verifyUrl ? [`check ${d.config.verifyUrl}`] : []),
    ...onRunner(
      'post-switch-command',
      hooks.postSwitch,
      `once every proxy serves ${next} (failure ${hooks.postSwitchRequired ? 'rolls back' : 'is only reported'})`,
    ),
  ];
  if (s.live) {
    const old = s.services[s.live] ?? [];
    const { drainMs, watchMs } = watchWindow(d.config, d.config.targets.length);
    const w = d.config.watch;
    const drain = drainMs
      ? `${s.live} drains until every proxy's old workers are done with its requests (at most ${drainMs / 1000} s)`
      : '';
    if (watchMs) {
      const how = watchMs === 'drain' ? 'while' : `for ${watchMs / 1000} s${drain ? ', and while' : ''}`;
      plan.push(
        `watch ${next}'s requests in each proxy's access log ${how}${drain ? ` ${drain}` : ''}: above ` +
          `max-error-rate ${w.maxErrorRate}% over at least ${w.minRequests} requests` +
          `${w.maxLatencyMs === undefined ? '' : `, or a p95 above ${w.maxLatencyMs} ms`}, back to ${s.live}`,
      );
    } else if (drain) {
      plan.push(drain);
    }
    plan.push(`cleanup: ${d.config.cleanup}`);
    if (d.config.cleanup === 'stop') plan.push(cmd(d.compose.stopArgs(s.live, old)));
    if (d.config.cleanup === 'down') plan.push(cmd(d.compose.removeArgs(s.live, old)));
  }
  plan.push(...onRunner('on-failure-command', hooks.onFailure, 'should any step fail, after the undo'));
  d.result.plan = plan;
  d.log.info(`Dry run, nothing changed. The plan:\n${plan.map((p, i) => `  ${i + 1}. ${p}`).join('\n')}`);
  d.finish('planned', 0, s.live);
}
