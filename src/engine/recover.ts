// An unfinished run found in the journal: described, then finished or undone (decideRecovery) before anything else.
import os from 'node:os';
import type { JournalEntry, JournalPhase } from '../docker/journal.js';
import { describeHolder, holderAlive, processIdentity, thisProcess } from '../docker/lock.js';
import { pollUntil } from '../health.js';
import { longRunning, longRunningStates, observe, someRunning, type Situation } from './detect.js';
import type { Deployment } from './deployment.js';
import { drainOld } from './drain.js';
import { RecoveryFailure, StepFailure } from './errors.js';
import { decideRecovery, needsHealth, type Recovery } from './recovery.js';
import type { InterruptedView } from './result.js';
import { probeColor, proxyChecks, verify } from './swap.js';

/** How long the child processes of a dead run get to end on SIGTERM before SIGKILL. */
const ORPHAN_GRACE_MS = 10_000;

/** Whether a recovery left the color that served before an unfinished deploy serving (status and dry runs never). */
export function undidDeploy(d: Deployment, entry: JournalEntry): boolean {
  const serving = d.result.interrupted?.serving;
  return !d.config.dryRun && entry.command === 'deploy' && entry.from !== undefined && serving === entry.from;
}

/** Tells of an unfinished deploy: what it was doing, by whom, and since when. */
export function describeUnfinished(d: Deployment, entry: JournalEntry, underWay = false): InterruptedView {
  const { run, from, to } = entry;
  const view: InterruptedView = {
    command: entry.command,
    pid: run.pid,
    host: run.host,
    user: run.user,
    since: run.since,
    phase: entry.phase,
    at: entry.at,
    from,
    to,
    action: '',
    orphans: [],
  };
  const doing: Record<JournalPhase, string> = {
    up: `was bringing up ${to}`,
    switch:
      `was switching the proxies from ${from ?? 'nothing'} to ${to} ` +
      (entry.reloading.length ? `(reload begun in ${entry.reloading.join(', ')})` : '(no proxy reloaded yet)'),
    canary: `was sending part of the requests to ${to} (a canary step)`,
    switched: `had switched the proxies to ${to} and was checking it`,
    'post-switch': `had switched the proxies to ${to} and was running its post-switch-command`,
    cleanup: `was stopping ${from ?? 'the old color'} after switching to ${to}`,
    undo: `was putting the proxies back on ${from ?? 'the includes they had before'}`,
  };
  const found = underWay ? 'is under way, or ended without finishing' : 'was found unfinished';
  d.log.warn(
    `A ${entry.command} of ${to} ${found}: ${describeHolder(run)} ${doing[entry.phase]} (recorded ${entry.at}).`,
  );
  d.result.interrupted = view;
  return view;
}

/**
 * status and dry runs change nothing: they say what was left, what the proxies load, and that the next deploy or
 * rollback repairs it first. A run whose process may still run (or ran on another host) may be under way.
 */
export function reportUnfinished(d: Deployment, entry: JournalEntry): void {
  const underWay = holderAlive(entry.run);
  const view = describeUnfinished(d, entry, underWay);
  view.underWay = underWay;
  if (entry.phase === 'up' || (entry.phase === 'switch' && !entry.reloading.length)) view.serving = entry.from;
  if (entry.phase === 'switched' || entry.phase === 'post-switch' || entry.phase === 'cleanup') {
    view.serving = entry.to;
  }
  view.action = underWay
    ? `it may still be under way${entry.run.host === os.hostname() ? '' : ` on ${entry.run.host} (its process cannot be seen from here)`}`
    : 'none yet: the next deploy or rollback finishes or undoes it first';
  d.log.info(
    `${view.serving ? `The proxies load ${view.serving}` : 'What each proxy loads cannot be told from here'}; ${view.action}.`,
  );
}

/**
 * An unfinished deploy is dealt with before anything else: its child processes are ended, then the proxies are
 * put on one color that runs (see decideRecovery). Its journal is kept if that fails, for the next run to try.
 */
export async function recover(d: Deployment, entry: JournalEntry): Promise<void> {
  const view = describeUnfinished(d, entry);
  if (entry.run.host === os.hostname() && holderAlive(entry.run)) {
    throw new StepFailure(
      `the ${entry.command} that left this journal (process ${entry.run.pid}) still runs, yet this run holds the lock ` +
        '(was it removed by hand?). Nothing was changed: wait for that process to end, then run again.',
    );
  }
  try {
    await endOrphans(d, entry, view);
    // A migration the dead run started would go on beside the one this run may start: it is ended too.
    const oneOffs = await d.compose.removeRunContainers(entry.run.token);
    if (oneOffs.length) d.log.warn(`Removed the one-off container(s) the unfinished run left: ${oneOffs.join(', ')}.`);
    const seen = await observe(d);
    const someUp = someRunning(d.config.colors, seen.states);
    const several = d.deps.fleet !== undefined;
    const healthy =
      needsHealth(entry, { allRunning: seen.running }, several) && (await answersHealth(d, seen, entry.to));
    const observed = { allRunning: seen.running, someRunning: someUp, healthy };
    const alone = decideRecovery(entry, observed);
    const decision = (await d.deps.fleet?.recover({ entry, observed, decision: alone }, d)) ?? alone;
    d.log.info(`Recovery: ${decision.why}.`);
    if (decision.kind === 'stuck') {
      throw new Error(`${decision.why}. Start the color that served (its containers are kept by cleanup: stop)`);
    }
    // From here this run acts for the dead one: should it die too, the next run finds its children by its token.
    entry.run = thisProcess(d.runId, entry.command, d.deps.clock.now());
    await d.deps.journal.write(await d.journalKey(), entry);
    const outcome = await carryOut(d, entry, seen, decision);
    view.serving = outcome.serving;
    view.action = outcome.action;
    d.log.info(`Recovered: ${view.action}.`);
    if (d.deps.fleet) {
      // The hosts clear their journals one by one: until every one has, each journal says what its host serves now
      // (read alone by a next run, it leads there again), and none is cleared before every host carried its out.
      if (decision.kind !== 'none') {
        entry.phase = outcome.serving === entry.to ? 'cleanup' : 'undo';
        await d.deps.journal.write(await d.journalKey(), entry);
      }
      if (!(await d.deps.fleet.recovered(d))) {
        d.keepJournal = "another host's recovery did not end: the next run weighs the hosts together again";
      }
    }
    if (!d.keepJournal) await d.deps.journal.clear(await d.journalKey());
  } catch (error) {
    view.action = 'recovery failed; its journal is kept for the next run';
    throw new RecoveryFailure(`recovering the unfinished ${entry.command} failed: ${(error as Error).message}`);
  }
  d.recovered = true;
}

/** Acts on the decision; says what was done and which color serves afterwards, when known. */
export async function carryOut(
  d: Deployment,
  entry: JournalEntry,
  seen: Omit<Situation, 'live'>,
  r: Exclude<Recovery, { kind: 'stuck' }>,
): Promise<{ serving?: string; action: string }> {
  if (r.kind === 'none') {
    if (r.stop) await stopColor(d, seen, r.stop);
    return {
      serving: r.serving,
      action: r.stop ? `${r.stop}, which never served, was stopped (${r.why})` : `nothing to repair (${r.why})`,
    };
  }
  if (r.kind === 'restore') {
    const checked = await pointProxies(
      d,
      seen,
      entry,
      r.color,
      r.reload.filter((c) => d.runningProxies(seen).includes(c)),
    );
    if (r.stop) await stopColor(d, seen, r.stop);
    const where = r.color ?? 'the includes they had before';
    return {
      serving: r.color,
      action: `the proxies were put back on ${where}${checked ? ', checked through them' : ''}`,
    };
  }
  let checked: boolean;
  try {
    checked = await pointProxies(d, seen, entry, r.color, r.reloadAll ? d.runningProxies(seen) : []);
  } catch (error) {
    const back = entry.from;
    if (back === undefined) {
      // A first deploy: nothing served before it, so its includes go back and its color stops, to start over.
      d.log.warn(`${r.color} did not pass: ${(error as Error).message}. Undoing the first deploy.`);
      await pointProxies(d, seen, entry, undefined, d.runningProxies(seen));
      await stopColor(d, seen, r.color);
      return { action: `${r.color} failed its check; the first deploy was undone and ${r.color} stopped` };
    }
    if (!seen.running[back]) throw error;
    d.log.warn(`${r.color} did not pass: ${(error as Error).message}. Putting the proxies back on ${back}.`);
    const backChecked = await pointProxies(d, seen, entry, back, d.runningProxies(seen));
    return {
      serving: back,
      action: `${r.color} failed its check; the proxies were put back on ${back}${backChecked ? ', checked through them' : ''}`,
    };
  }
  if (r.drain && d.config.drainMs > 0) {
    d.log.info(
      `Draining ${r.drain}, until the proxies are done with its requests (at most ${d.config.drainMs / 1000} s)`,
    );
    const stop = d.stepSignal ?? new AbortController().signal;
    const end = await drainOld(d, d.config.drainMs, stop, d.runningProxies(seen));
    if (end) d.log.info(`Drain of ${r.drain} ended: ${end.why}.`);
  }
  return {
    serving: r.color,
    action: `the switch to ${r.color} was completed${checked ? ' and checked through the proxies' : ' (not checked through the proxies)'}`,
  };
}

/** Stops a color that never served: left running, the next detection would take it for the live one. */
export async function stopColor(d: Deployment, seen: Omit<Situation, 'live'>, color: string): Promise<void> {
  const running = (seen.states[color] ?? []).filter((c) => c.running);
  if (!running.length) return;
  d.log.info(`Stopping ${color}, which never served.`);
  await d.compose.stopContainers(running);
}

/**
 * Writes each include for `color` (for the color served before, what the run found; for the new one, rendered),
 * tests it in every running proxy, reloads `reload` (recorded first: should this run die too, the next one knows
 * they may serve it) and checks `color` through them (every running proxy, for the new color). Without a color (a
 * first deploy undone), the includes found are put back and reloaded where they load. Resolves with whether
 * anything was checked through a proxy.
 */
export async function pointProxies(
  d: Deployment,
  seen: Omit<Situation, 'live'>,
  entry: JournalEntry,
  color: string | undefined,
  reload: string[],
): Promise<boolean> {
  const running = d.runningProxies(seen);
  const listen = new Map<string, number[]>();
  for (const inc of seen.includes) {
    const { container, file, path: inPath } = inc.target;
    const found = entry.includes.find((i) => i.container === container && i.file === file && i.path === inPath);
    const content =
      color !== undefined && (color === entry.to || !found)
        ? d.proxy.render(inc.target, color, d.compose.port(color))
        : (found?.previous ?? '');
    if (inc.content !== content) {
      d.log.info(`${d.proxy.describe(inc.target)} → ${color ?? 'as it was before'}`);
      await d.proxy.write(inc.target, content);
      inc.content = content;
    }
    if (color !== undefined && running.includes(container)) {
      const ports = await d.proxy.test(inc.target, content);
      listen.set(container, [...new Set([...(listen.get(container) ?? []), ...ports])]);
    }
  }
  const checks = color === undefined ? [] : proxyChecks(d, color === entry.to ? running : reload, listen, seen.proxies);
  if (color === entry.to && d.config.verifyUrl) checks.push({ what: 'verify-url', url: d.config.verifyUrl });
  const more = reload.filter((c) => !entry.reloading.includes(c));
  if (more.length) {
    entry.reloading = [...entry.reloading, ...more];
    await d.deps.journal.write(await d.journalKey(), entry);
  }
  for (const c of reload) {
    if (
      color === undefined &&
      !(await d.proxy.testOnly(c).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const confirmed = await d.proxy.reload(c, { signal: d.stepSignal });
    if (!confirmed) d.unconfirmed.add(c);
    d.log.info(`Reloaded ${c}.`);
  }
  if (color === undefined || !checks.length) return false;
  d.nextIds = longRunningStates(seen, color).map((c) => c.id);
  await verify(d, { ...seen, live: undefined }, color, checks);
  return true;
}

/** Whether a color the unfinished run brought up answers its health check now (it had passed it then). */
export async function answersHealth(d: Deployment, seen: Omit<Situation, 'live'>, color: string): Promise<boolean> {
  const h = d.config.health;
  const url = `http://${h.host}:${d.compose.port(color)}${h.path}`;
  // The color as it serves: its long-running services (its one-offs did their work, or were pruned since).
  const services = longRunning(seen, color);
  const ids = longRunningStates(seen, color).map((c) => c.id);
  const outcome = await pollUntil(
    d.cancellable((timeoutMs) => probeColor(d, services, ids, url, timeoutMs)),
    { what: `${color} at ${url}`, timeoutMs: d.config.verifyTimeoutMs, intervalMs: h.intervalMs },
    d.waits,
  );
  if (!outcome.ok) d.log.info(`${color} does not answer its health check: ${outcome.detail}`);
  return outcome.ok;
}

/**
 * Child processes of the dead run (a `compose up`, a build) would go on changing containers under this run: they
 * are found by the run's token in their environment, and ended. Those of a run on another host cannot be seen.
 */
export async function endOrphans(d: Deployment, entry: JournalEntry, view: InterruptedView): Promise<void> {
  if (entry.run.host !== os.hostname()) {
    d.log.warn(`The unfinished run was on ${entry.run.host}: child processes it left there cannot be seen from here.`);
    return;
  }
  const boot = processIdentity(process.pid).boot;
  if (entry.run.boot && boot && entry.run.boot !== boot) return;
  const found = await d.deps.processes.find(entry.run.token);
  if (!found.length) return;
  d.log.warn(
    `Ending ${found.length} process(es) that the unfinished run started and that still run:\n` +
      found.map((p) => `  ${p.pid} ${p.command}`).join('\n'),
  );
  const pids = found.map((p) => p.pid);
  const left = await d.deps.processes.end(pids, ORPHAN_GRACE_MS);
  view.orphans = pids.filter((pid) => !left.includes(pid));
  if (left.length) throw new Error(`could not end process(es) ${left.join(', ')}; end them by hand and run again`);
}
