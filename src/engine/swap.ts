// Steps 3 to 6, shared by deploy and rollback: health, switch, verify through each proxy, drain, cleanup, and undo.
import type { ProxyTarget } from '../config/config.js';
import type { ContainerState } from '../docker/compose.js';
import { pollUntil, probeHttp, type ProbeResult } from '../health.js';
import type { ProxyState } from '../proxy/proxy.js';
import { attribute, proxyUrl, type Attribution, type ColorAddresses } from '../proxy/verify.js';
import { allRunning, longRunning, type Situation } from './detect.js';
import type { Deployment } from './deployment.js';
import { drainOld } from './drain.js';
import { StepFailure } from './errors.js';
import { runHook } from './hooks.js';
import { skipped, TrafficWatch, watchTraffic, watchWindow } from './watch.js';

/** How many log lines of a failed color the result keeps. */
export const LOG_LINES = 50;
/** How long a proxy started by a first deploy has to come up. */
const PROXY_START_MS = 30_000;
const VERIFY_INTERVAL_MS = 200;
/** How long an answer that does not tell its color must hold through a proxy whose reload was not confirmed. */
const UNCONFIRMED_HOLD_MS = 1_000;
/** For about this long after its reload a proxy's old workers may still answer (100 ms or so); asked this often. */
const OLD_WORKERS_MS = 1_000;
const OLD_WORKERS_POLL_MS = 20;
/** How often Docker's own health status is read while the app already answers. */
const DOCKER_HEALTH_WATCH_MS = 100;
/**
 * How often the app is asked while nothing answers on its port at all (it is still starting): a refused connection
 * costs nothing, and is the moment a deploy waits for. Its containers are still inspected every health-interval.
 */
const SILENT_PROBE_MS = 20;

/** One check through a proxy after the switch. */
export interface VerifyCheck {
  /** The proxy container, or verify-url. */
  what: string;
  url: string;
}

/** How a proxy that does not run yet is brought up once its include is written (first deploys only). */
export type ProxyStart = { container: string; service?: string };

/** Steps 3 to 6, the same for a deploy and a rollback. */
export async function swap(d: Deployment, s: Situation, next: string, starts: ProxyStart[]): Promise<void> {
  const nextPort = d.compose.port(next);
  // A rollback does not run one-offs again: their containers may be gone (docker container prune), and need not be.
  const nextServices = d.config.command === 'rollback' ? longRunning(s, next) : (s.services[next] ?? []);
  // 3. Health-check the new color over HTTP (and Docker's own HEALTHCHECK, where defined).
  await d.phase('health', async () => {
    const h = d.config.health;
    const url = `http://${h.host}:${nextPort}${h.path}`;
    // Compose is asked once which containers the color has; each probe then only inspects them.
    const ids = (await d.compose.containers(next, nextServices)).map((c) => c.id);
    d.nextIds = ids;
    let inspectedAt = -Infinity;
    const probe = async (timeoutMs: number): Promise<ProbeResult> => {
      // Between two inspections, only the port is asked, until something answers on it.
      if (d.deps.clock.now() - inspectedAt < h.intervalMs) {
        const http = await probeHttp(d.deps.http, url, h, timeoutMs, d.stepSignal);
        if (http.silent) return http;
      }
      inspectedAt = d.deps.clock.now();
      return probeColor(d, nextServices, ids, url, timeoutMs, s.oneOff[next]);
    };
    const outcome = await pollUntil(
      d.cancellable(probe),
      {
        what: `${next} at ${url}`,
        timeoutMs: h.timeoutMs,
        intervalMs: h.intervalMs,
        silentIntervalMs: SILENT_PROBE_MS,
      },
      d.waits,
    );
    const once = s.oneOff[next] ?? [];
    if (outcome.ok && once.length) {
      // Done with: from here the color is its long-running containers (a one-off pruned later changes nothing).
      d.nextIds = (await d.compose.inspect(ids)).filter((c) => !once.includes(c.service)).map((c) => c.id);
    }
    if (!outcome.ok) {
      d.checkCancelled('during health');
      // The last probe's detail says what was expected of it (the status, or the body).
      throw new StepFailure(
        `${next} did not become healthy within ${h.timeoutMs / 1000} s at ${url} ` +
          `(${outcome.attempts} probes; last: ${outcome.detail})`,
      );
    }
  });
  await d.reach('healthy');
  const hooks = d.config.hooks;
  if (hooks.preSwitch.length && d.runsOnce) {
    await d.phase('pre-switch', () => runHook(d, 'pre-switch', hooks.preSwitch, { BLUEGREEN_STATUS: 'healthy' }));
  }
  if (d.config.canary.steps.length) await canary(d, s, next, nextPort, starts);
  // 4. Point every proxy at the new color: write, test, then reload them all; check each through itself.
  let checks: VerifyCheck[] = [];
  if (d.config.targets.length) {
    checks = await d.phase('switch', () => switchProxies(d, s, next, nextPort, starts));
  } else {
    d.log.warn('No proxy is configured: nothing was switched.');
  }
  if (d.config.verifyUrl) checks.push({ what: 'verify-url', url: d.config.verifyUrl });
  if (checks.length) await d.phase('verify', () => verify(d, s, next, checks));
  // With several hosts, once every proxy of every host serves the new color; each host's journal says the hook may
  // run, so that every host's recovery goes back should the runner die meanwhile.
  if (hooks.postSwitch.length && hooks.postSwitchRequired && d.deps.fleet) await d.record('post-switch');
  await d.reach('verified');
  if (hooks.postSwitch.length && d.runsOnce) await d.phase('post-switch', () => postSwitch(d));
  // 5. Judge the real traffic while requests in flight on the old color finish, then apply cleanup to its
  // services only.
  const old = s.live;
  if (old && old !== next) {
    const { drainMs, watchMs } = watchWindow(d.config, d.switchedAt.size);
    if (!watchMs) {
      d.result.traffic = skipped(
        next,
        !d.switchedAt.size
          ? 'no proxy was switched'
          : drainMs
            ? 'watch-seconds is 0'
            : 'no drain, and no watch-seconds',
      );
    }
    if (drainMs || watchMs) {
      await d.phase(drainMs ? 'drain' : 'watch', async () => {
        // Ended with the phase, whichever way it ends: a failed watch rolls back at once.
        const stop = new AbortController();
        const drain = drainMs ? drained(d, old, drainMs, d.orCancel(stop.signal)) : undefined;
        try {
          if (watchMs) await watchAndDrain(d, s, next, watchMs === 'drain' ? 0 : watchMs, drain, checks);
          else await drain;
        } finally {
          stop.abort();
          await drain;
        }
        d.checkCancelled('during drain');
        await recheck(d, s, next, checks);
      });
    }
  } else {
    d.result.traffic = skipped(next, 'no color served before: there is nothing to go back to');
  }
  // Before the old color stops and before the run says where traffic is, the old workers' last moment of accepting
  // is over (with no drain, or a bound shorter than it; after a first deploy, they serve what the proxy had).
  await settled(d);
  // With several hosts, no old color stops before every host passed its checks: until then, any failure rolls all back.
  await d.reach('cleanup');
  // Past this point the other hosts may be stopping their old colors: this one does not go back either.
  if (d.deps.fleet) d.cleanupStarted = true;
  const stopsOld = Boolean(old && old !== next);
  // With several hosts, every host records its cleanup (after a first deploy too) before any host stops its old
  // color or clears its journal: a runner that dies meanwhile leaves that record on a host that had not finished.
  if (stopsOld || d.deps.fleet) await d.record('cleanup');
  if (d.deps.fleet && !(await d.deps.fleet.committed(d))) {
    d.keepJournal = 'another host ended before it recorded its cleanup: the next run finishes the switch there';
  }
  if (old && stopsOld) {
    d.cleanupStarted = true;
    await d.phase('cleanup', () => cleanup(d, old, s.services[old] ?? []));
  }
  const status = d.config.command === 'rollback' ? 'rolled-back' : 'deployed';
  d.result.rolledBack = d.config.command === 'rollback';
  d.finish(status, 0, next);
}

/**
 * Canary steps: each sends its percent of the requests to the new color at every proxy (written, tested, reloaded
 * and confirmed as in the switch), then watches that step's requests for canary-interval with the same gate. A
 * gate crossed, a failure or a cancel sends every request back to the old color (the switch's undo).
 */
async function canary(d: Deployment, s: Situation, next: string, port: number, starts: ProxyStart[]): Promise<void> {
  const { steps, intervalMs } = d.config.canary;
  const why =
    d.config.command !== 'deploy'
      ? 'a rollback goes back at once'
      : !s.live || starts.length
        ? 'no color served before'
        : undefined;
  if (why) {
    d.log.info(`No canary steps: ${why}.`);
    return;
  }
  for (const percent of steps) {
    await d.phase(`canary ${percent}%`, async () => {
      await switchProxies(d, s, next, port, [], percent);
      const step = { name: `canary ${percent}%`, percent };
      d.log.info(`Watching ${percent}% of the requests on ${next} for ${intervalMs / 1000} s`);
      const watch = new TrafficWatch(d, step, await colorAddresses(d, s, next), next);
      await watchTraffic(d, watch, { minMs: intervalMs }, new Set());
    });
  }
}

/** The drain, spent reading what the proxies answered: a release that fails real requests goes back at once. */
async function watchAndDrain(
  d: Deployment,
  s: Situation,
  next: string,
  minMs: number,
  drain: Promise<unknown> | undefined,
  checks: VerifyCheck[],
): Promise<void> {
  const w = d.config.watch;
  const step = { name: 'after the switch', percent: 100 };
  const watch = new TrafficWatch(d, step, await colorAddresses(d, s, next), next);
  const latency = w.maxLatencyMs === undefined ? '' : `, max-latency-ms ${w.maxLatencyMs}`;
  const how = [minMs ? `for ${minMs / 1000} s` : '', drain ? `while ${s.live} drains` : ''].filter(Boolean);
  d.log.info(
    `Watching the traffic on ${next} through ${[...d.switchedAt.keys()].join(', ')} ${how.join(' and ')} ` +
      `(max-error-rate ${w.maxErrorRate}%, min-requests ${w.minRequests}${latency})`,
  );
  await watchTraffic(d, watch, { minMs, until: drain }, new Set(checks.map((c) => c.what)));
}

/** The old color's drain, said in the log and the result when it ends (not when `stop` ended it). */
async function drained(d: Deployment, old: string, boundMs: number, stop: AbortSignal): Promise<void> {
  d.log.info(
    `Draining ${old}: it runs until every proxy is done with the requests it sent there (at most ${boundMs / 1000} s)`,
  );
  const end = await drainOld(d, boundMs, stop);
  if (!end) return;
  d.result.drain = end;
  d.log.info(`Drain of ${old} ended: ${end.why}.`);
}

/** A failing post-switch hook rolls back while the old color still runs, unless post-switch-required is false. */
async function postSwitch(d: Deployment): Promise<void> {
  // Should this run die while a required hook runs, the next one goes back to the old color rather than finish.
  if (d.config.hooks.postSwitchRequired) await d.record('post-switch');
  try {
    await runHook(d, 'post-switch', d.config.hooks.postSwitch, { BLUEGREEN_STATUS: 'switched' });
  } catch (error) {
    if (d.config.hooks.postSwitchRequired || !(error instanceof StepFailure) || d.deps.signal?.aborted) throw error;
    d.log.warn(`${error.message}\nThe deploy goes on (post-switch-required: false).`);
  }
}

/**
 * One probe of a color: every long-running container runs and the app answers; every one-off container (see
 * ComposeDriver.oneOffServices) has exited 0. A one-off that exited otherwise fails the color at once.
 */
export async function probeColor(
  d: Deployment,
  services: string[],
  ids: string[],
  url: string,
  timeoutMs: number,
  oneOff: readonly string[] = [],
): Promise<ProbeResult> {
  const all = await d.compose.inspect(ids);
  const once = all.filter((c) => oneOff.includes(c.service));
  const containers = all.filter((c) => !oneOff.includes(c.service));
  const dead = containers.find((c) => !c.running || c.status === 'restarting');
  const failed = once.find((c) => c.status === 'exited' && c.exitCode !== 0);
  const removed = ids.filter((id) => !all.some((c) => c.id === id));
  if (dead || failed || removed.length || all.length < services.length) {
    return {
      ok: false,
      fatal: true,
      detail: dead
        ? `container ${dead.name} is ${dead.status} (exit code ${dead.exitCode})`
        : failed
          ? `one-off container ${failed.name} exited with code ${failed.exitCode}`
          : removed.length
            ? `container ${removed.join(', ')} was removed`
            : `no container for ${services.filter((svc) => !all.some((c) => c.service === svc)).join(', ')}`,
    };
  }
  const http = await probeHttp(d.deps.http, url, d.config.health, timeoutMs, d.deps.signal);
  const pending = once.find((c) => c.status !== 'exited');
  if (http.ok && pending) {
    return { ok: false, detail: `${http.detail}, but the one-off container ${pending.name} has not finished` };
  }
  const serving = containers.map((c) => c.id);
  return http.ok ? dockerHealthy(d, serving, containers, http, timeoutMs) : http;
}

/**
 * The app answers; where the container has a Docker HEALTHCHECK, Docker must say healthy too. Its status flips
 * at the check's next run: that is watched closely (an inspect is cheap), not a whole health-interval later.
 */
export async function dockerHealthy(
  d: Deployment,
  ids: string[],
  seen: ContainerState[],
  http: ProbeResult,
  timeoutMs: number,
): Promise<ProbeResult> {
  const until = d.deps.clock.now() + timeoutMs;
  for (let containers = seen; ; containers = await d.compose.inspect(ids)) {
    const waiting = containers.find((c) => c.health !== undefined && c.health !== 'healthy');
    if (!waiting) return http;
    const over = d.deps.clock.now() >= until || d.deps.signal?.aborted || containers.some((c) => !c.running);
    if (waiting.health !== 'starting' || over) {
      return { ok: false, detail: `${http.detail}, but Docker reports ${waiting.name} ${waiting.health}` };
    }
    await d.deps.clock.sleep(DOCKER_HEALTH_WATCH_MS, d.deps.signal);
  }
}

/**
 * Writes and tests every include before any proxy is reloaded, then reloads them all (or starts those that could
 * not run before), and returns where each proxy is to be checked. With `split` (a canary step's percent), the
 * includes send that share of the requests to `next` and the rest to the live color; the includes are put back
 * as they were found by one undo, whichever step fails.
 */
export async function switchProxies(
  d: Deployment,
  s: Situation,
  next: string,
  port: number,
  starts: ProxyStart[],
  split?: number,
): Promise<VerifyCheck[]> {
  const first = !d.switching;
  const st = (d.switching ??= { written: [], reloaded: false, split: new Set() });
  const toStart = new Set(starts.map((p) => p.container));
  const running = d.proxyContainers().filter((c) => !toStart.has(c));
  const listen = new Map<string, number[]>();
  if (first) {
    d.undo.push({
      label: 'restore the proxy includes',
      // Written but never loaded: the files only go back to what the proxies serve. Left on disk, they would make
      // the next run take the wrong live color, and a proxy restart load an include that was never checked.
      // A canary step's split is never left behind either, whatever rollback-on-failure says.
      keepsServing: () => !st.reloaded || st.split.size > 0,
      run: async () => {
        if (st.reloaded && s.live && !(await colorRunning(d, s, s.live))) {
          const split = [...st.split];
          if (!split.length) {
            throw new Error(
              `${s.live} is not running, so the proxies were left on ${next} rather than pointed at nothing`,
            );
          }
          if (d.result.traffic?.verdict === 'failed') {
            throw new Error(
              `${s.live} does not fully run, and ${next} failed its traffic watch: ${split.join(', ')} keep the ` +
                "canary's split, for neither color can take every request",
            );
          }
          // Part of the requests would go to a color that is gone: all of them go to the one that runs.
          for (const w of st.written) await d.proxy.write(w.target, d.proxy.render(w.target, next, port));
          for (const c of running) await d.proxy.testOnly(c);
          for (const c of running) await d.proxy.reload(c);
          st.split.clear();
          throw new Error(
            `${s.live} is not running, so the canary's split was replaced by ${next} alone rather than sending ` +
              `requests to nothing`,
          );
        }
        for (const w of [...st.written].reverse()) {
          // An include that did not exist is emptied: a proxy cannot be made to forget a file it never had.
          await d.proxy.write(w.target, w.previous ?? '');
        }
        if (!st.reloaded) return;
        if (!s.live) {
          // Nothing served before this first deploy. A previous include that loads (a placeholder) is loaded again;
          // one naming a color that does not run (as a repository may commit it) would not, and is only put back.
          d.trafficOnNew = false;
          for (const c of running) {
            if (
              await d.proxy.testOnly(c).then(
                () => true,
                () => false,
              )
            )
              await d.proxy.reload(c);
          }
          d.log.info('No color served before this first deploy: the includes were put back as they were.');
          return;
        }
        for (const c of running) await d.proxy.testOnly(c);
        for (const c of running) await d.proxy.reload(c);
        d.trafficOnNew = false;
        d.undidSplit = st.split.size > 0;
        st.split.clear();
        d.log.info(`Proxies restored to ${s.live} and reloaded.`);
      },
    });
  }
  const test = async (target: ProxyTarget, content: string) => {
    try {
      const ports = await d.proxy.test(target, content);
      listen.set(target.container, [...new Set([...(listen.get(target.container) ?? []), ...ports])]);
    } catch (error) {
      d.checkCancelled('during switch');
      throw new StepFailure((error as Error).message);
    }
  };
  const includes = s.includes.map(({ target: t, content }) => {
    return { container: t.container, file: t.file, path: t.path, previous: content };
  });
  // A canary step is undone by the next run, should this one die: its new color was not judged yet.
  const phase = split === undefined ? 'switch' : 'canary';
  await d.record(phase, { includes });
  // Seen while the includes are written and tested, so that the reload does not wait for it (nor the journal's
  // entry above for it: the engine answers each sooner alone).
  const workers = new Map(running.map((c) => [c, d.proxy.beforeReload(c)]));
  const live = s.live ?? '';
  for (const inc of s.includes) {
    const content =
      split === undefined
        ? d.proxy.render(inc.target, next, port)
        : d.proxy.renderSplit(
            inc.target,
            { color: live, port: d.compose.port(live), percent: 100 - split },
            { color: next, port, percent: split },
          );
    d.log.info(
      `${d.proxy.describe(inc.target)} → ${split === undefined ? next : `${live} ${100 - split}%, ${next} ${split}%`}`,
    );
    if (first) st.written.push({ target: inc.target, previous: inc.content });
    await d.proxy.write(inc.target, content);
    if (!toStart.has(inc.target.container)) await test(inc.target, content);
  }
  // Known before any reload, so that a proxy that cannot be checked (verify-proxies: required) changes nothing: at
  // the first canary step already (whose split is not checked: a check may land on either color).
  const checks = split === undefined || first ? proxyChecks(d, running, listen, s.proxies) : [];
  // With several hosts, every proxy of every host is tested before any reloads.
  await d.reach('reload', split);
  // Only once every test passed: `status` and the next run take a proxy whose reload may have begun for one that
  // may serve the new color.
  await d.record(phase, { reloading: [...running, ...toStart] });
  for (const c of running) {
    d.trafficOnNew = true;
    st.reloaded = true;
    // On a split from the moment it may load one, and until it surely loaded the whole switch.
    if (split !== undefined) st.split.add(c);
    // From the reload on: the new workers' first requests count; the old workers' last ones tell their upstream.
    d.switchedAt.set(c, d.deps.clock.now());
    // Until its new workers run: the old ones' last moment of accepting is waited out by the drain (and by the
    // verify, for an answer that does not tell its color), not here.
    const confirmed = await d.proxy.reload(c, { taken: workers.get(c), signal: d.deps.signal, until: 'started' });
    if (split === undefined) st.split.delete(c);
    if (!confirmed) d.unconfirmed.add(c);
    d.log.info(confirmed ? `Reloaded ${c}: its new workers run the new configuration.` : `Reloaded ${c}.`);
  }
  for (const start of starts) {
    d.trafficOnNew = true;
    st.reloaded = true;
    st.split.delete(start.container);
    if (start.service) {
      d.log.info(
        `Starting the proxy ${start.container} (shared service ${start.service}) now that its include names ${next}.`,
      );
      await d.compose.startShared(next, [start.service]);
      d.startedShared.push(start.service);
    } else {
      d.log.info(`Restarting the proxy ${start.container}, which could not run before its include named ${next}.`);
      await d.proxy.restart(start.container);
    }
    const starting = d.deps.clock.now();
    try {
      await d.proxy.waitStarted(start.container, PROXY_START_MS, d.deps.signal);
    } catch (error) {
      d.checkCancelled('during switch');
      throw new StepFailure((error as Error).message);
    }
    d.switchedAt.set(start.container, starting);
    for (const inc of s.includes.filter((i) => i.target.container === start.container)) {
      await test(inc.target, d.proxy.render(inc.target, next, port));
    }
  }
  if (starts.length) checks.push(...proxyChecks(d, [...toStart], listen, await d.proxy.inspect([...toStart])));
  if (split === undefined) void d.record('switched', {}, false);
  return checks;
}

/** Where each proxy is checked: its verify-url, or the host port its listen port is published on. */
export function proxyChecks(
  d: Deployment,
  containers: string[],
  listen: Map<string, number[]>,
  states: Map<string, ProxyState>,
): VerifyCheck[] {
  const mode = d.config.verifyProxies;
  if (mode === 'off') {
    if (!d.result.proxies.some((p) => p.verified)) {
      d.log.warn(
        'verify-proxies is off: no proxy is checked after the switch, so a proxy that serves errors from the new ' +
          'color would not be noticed.',
      );
    }
    for (const view of d.result.proxies) view.verified = 'not checked (verify-proxies: off)';
    return [];
  }
  const checks: VerifyCheck[] = [];
  const h = d.config.health;
  for (const container of containers) {
    const given = d.config.targets.find((t) => t.container === container && t.verifyUrl)?.verifyUrl;
    const ports = listen.get(container) ?? [];
    const url = given ?? proxyUrl(states.get(container), ports, h.host, h.path);
    if (url) {
      checks.push({ what: container, url });
      for (const view of d.result.proxies.filter((p) => p.container === container)) view.checkedAt = url;
      continue;
    }
    const why =
      `${container} publishes none of the ports it listens on (${ports.join(', ') || 'none seen'}), ` +
      'so the runner cannot check it: give it a verify-url in nginx-targets';
    if (mode === 'required') throw new StepFailure(`${why} (verify-proxies: required).`);
    d.log.warn(`NOT VERIFIED: ${why}.`);
    setVerified(d, container, `NOT VERIFIED: publishes no port for ${ports.join(', ') || 'its listen ports'}`);
  }
  return checks;
}

/**
 * 4b. Each proxy must answer the health expectations through itself, from the new color, before the old color
 * is drained. The reload was confirmed, so a wrong answer is not a moment of transition: the deadline is short.
 */
export async function verify(d: Deployment, s: Situation, next: string, checks: VerifyCheck[]): Promise<void> {
  const colors = await colorAddresses(d, s, next);
  for (const check of checks) {
    const { detail, told } = await checkThrough(d, check, next, colors);
    const unsure = told.color === undefined;
    if (unsure) {
      d.log.info(
        `${check.what}: which color answered cannot be told; set color-header, or have the proxy add ` +
          'X-Bluegreen-Upstream (see the README), to make the check certain.',
      );
    }
    setVerified(d, check.what, `${detail}${unsure ? ' (color not told)' : ''}`);
  }
}

/**
 * After the drain, just before the old color is stopped: the new color must still run and still answer through
 * every proxy. Real traffic may have brought it down meanwhile, and now is the last moment the old color can
 * take traffic back.
 */
export async function recheck(d: Deployment, s: Situation, next: string, checks: VerifyCheck[]): Promise<void> {
  const colors = await colorAddresses(d, s, next);
  const containers = await d.compose.inspect(d.nextIds);
  const down = containers.find((c) => !c.running || c.status === 'restarting');
  if (down) {
    throw new StepFailure(
      `${next} stopped during the drain: container ${down.name} is ${down.status} (exit code ${down.exitCode})`,
    );
  }
  const removed = d.nextIds.filter((id) => !containers.some((c) => c.id === id));
  if (removed.length)
    throw new StepFailure(`${next} lost container ${removed.join(', ')} during the drain: it was removed`);
  for (const check of checks) await checkThrough(d, check, next, colors, 'after the drain');
}

/** Asks through one proxy until it answers as expected from the new color, or the check's deadline passes. */
export async function checkThrough(
  d: Deployment,
  check: VerifyCheck,
  next: string,
  colors: ColorAddresses[],
  when = '',
): Promise<{ detail: string; told: Attribution }> {
  // Named, so that the watch tells this run's own requests from the users' in the proxy's access log.
  const agent = Object.keys(d.config.health.headers).some((name) => name.toLowerCase() === 'user-agent');
  const h = agent
    ? d.config.health
    : { ...d.config.health, headers: { ...d.config.health.headers, 'User-Agent': d.ownAgent } };
  let told: Attribution = {};
  let goodSince: number | undefined;
  // Whether no old worker took requests any more when the probe was sent (known once waited for).
  let oldRetired = false;
  const probe = async (timeoutMs: number): Promise<ProbeResult> => {
    const sentRetired = oldRetired;
    const answer = await probeHttp(d.deps.http, check.url, h, timeoutMs, d.stepSignal);
    if (!answer.ok || !answer.response) {
      goodSince = undefined;
      return answer;
    }
    told = attribute(answer.response, d.config.colorHeader, colors);
    // Nothing in the answer tells the color: it passes on the answer alone, once the reload is confirmed; else
    // the old workers may still be answering, so the answer must hold for a while. An answer that tells of
    // neither color (another server block, another app's container) fails.
    if (told.color === undefined && told.how === undefined) {
      if (!d.unconfirmed.has(check.what)) {
        if (sentRetired) return answer;
        // Sent while an old worker may still have taken it: asked again once none can.
        await settled(d);
        oldRetired = true;
        return { ok: false, detail: `${answer.detail}, maybe from an old worker`, againInMs: 0 };
      }
      goodSince ??= d.deps.clock.now();
      return d.deps.clock.now() - goodSince >= UNCONFIRMED_HOLD_MS
        ? answer
        : { ok: false, detail: `${answer.detail}, to hold ${UNCONFIRMED_HOLD_MS / 1000} s (reload not confirmed)` };
    }
    if (told.color === next) return { ...answer, detail: `${answer.detail} from ${next} (${told.how})` };
    // Right after a reload, an old worker that still accepts answers from the old color: asked again at once.
    const reloadedLast = Math.max(0, ...d.switchedAt.values());
    return {
      ok: false,
      detail: `${answer.detail}, but ${told.color ? `from ${told.color}` : 'the color is unknown'} (${told.how})`,
      ...(d.deps.clock.now() - reloadedLast < OLD_WORKERS_MS ? { againInMs: OLD_WORKERS_POLL_MS } : {}),
    };
  };
  const outcome = await pollUntil(
    d.cancellable(probe),
    { what: `${check.what} at ${check.url}`, timeoutMs: d.config.verifyTimeoutMs, intervalMs: VERIFY_INTERVAL_MS },
    d.waits,
  );
  if (!outcome.ok) {
    d.checkCancelled(`during verify${when ? ` ${when}` : ''}`);
    setVerified(d, check.what, `failed${when ? ` ${when}` : ''}: ${outcome.detail}`);
    throw new StepFailure(
      `${check.what} did not answer as expected from ${next} at ${check.url}${when ? ` ${when}` : ''} within ` +
        `${d.config.verifyTimeoutMs / 1000} s: ${outcome.detail}`,
    );
  }
  return { detail: outcome.detail, told };
}

/**
 * Waits until no switched proxy's old workers take requests any more: until then an answer that does not tell its
 * color may come from the old color, and the old color must not be stopped. The reloads were confirmed, so this
 * lasts a moment (100 ms or so); at once for proxies seen so already.
 */
async function settled(d: Deployment): Promise<void> {
  const confirmed = [...d.switchedAt.keys()].filter((c) => !d.unconfirmed.has(c));
  await Promise.all(confirmed.map((c) => d.proxy.settled(c, d.stepSignal)));
}

export function setVerified(d: Deployment, what: string, text: string): void {
  for (const view of d.result.proxies.filter((p) => p.container === what)) view.verified = text;
  if (what === 'verify-url') d.result.verifyUrl = text;
}

/** The addresses by which a proxy's upstream may show each color. */
export async function colorAddresses(d: Deployment, s: Situation, next: string): Promise<ColorAddresses[]> {
  const nextStates = await d.compose.inspect(d.nextIds);
  return d.config.colors.map((color) => {
    const states = color === next ? nextStates : (s.states[color] ?? []);
    return {
      color,
      port: d.compose.port(color),
      addresses: states.flatMap((c) => c.addresses),
      containerPorts: states.flatMap((c) => c.ports),
    };
  });
}

export async function cleanup(d: Deployment, old: string, services: string[]): Promise<void> {
  const cleanup = d.config.cleanup;
  if (cleanup === 'keep') {
    d.log.info(`Keeping ${old} running (cleanup: keep).`);
  } else if (cleanup === 'stop') {
    d.log.info(`Stopping ${old}; its containers stay for an instant rollback.`);
    await d.compose.stop(old, services);
  } else {
    d.log.info(`Removing ${old}'s containers (cleanup: down).`);
    await d.compose.remove(old, services);
  }
}

export function pushStopNew(d: Deployment, color: string, services: string[]): void {
  d.undo.push({
    label: `stop ${color}`,
    run: async () => {
      // The containers seen before the health check, else asked of compose: `up` may have failed before
      // creating anything, and then there is nothing to stop or read logs of.
      const containers = d.nextIds.length
        ? await d.compose.inspect(d.nextIds)
        : await d.compose.containers(color, services);
      if (!containers.length) return;
      const logs = d.compose.logTail(containers, LOG_LINES);
      if (d.trafficOnNew) {
        d.result.logTail = await logs;
        throw new Error(`${color} still serves traffic, so it was left running`);
      }
      // A cancelled job is killed seconds after its signal: the logs are read while the color stops.
      [d.result.logTail] = await Promise.all([logs, d.compose.stopContainers(containers)]);
      d.stoppedNew = true;
      d.log.info(`Stopped ${color}.`);
    },
  });
}

export async function colorRunning(d: Deployment, s: Situation, color: string): Promise<boolean> {
  const services = longRunning(s, color);
  return allRunning(services, await d.compose.containers(color, services));
}
