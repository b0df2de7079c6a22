import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ComposeDriver, detectCompose, projectNameOf, type ContainerState, type SharedService } from './compose.js';
import { ConfigError, type Config, type NginxTarget } from './config.js';
import { formatStatuses, pollUntil, probeHttp, type ProbeResult } from './health.js';
import type { Clock, Files, Http, Logger } from './io.js';
import { journalName, type Journal, type JournalEntry, type JournalPhase } from './journal.js';
import { describeHolder, holderAlive, processIdentity, thisProcess, type Locks } from './lock.js';
import { NginxSwitcher, readInclude, renderInclude, type ProxyState } from './nginx.js';
import { RUN_ENV, type Processes } from './processes.js';
import { decideRecovery, needsHealth, type Recovery } from './recovery.js';
import { describeCommand, type Runner } from './runner.js';
import { attribute, proxyUrl, type Attribution, type ColorAddresses } from './verify.js';

export interface Deps {
  runner: Runner;
  http: Http;
  files: Files;
  clock: Clock;
  log: Logger;
  locks: Locks;
  /** Where a deploy records each step before it begins, for the next run to finish or undo it if this one dies. */
  journal: Journal;
  /** Finds and ends the child processes that a dead run left behind. */
  processes: Processes;
  /** Aborted when the run is cancelled (SIGINT/SIGTERM): the step under way ends and the undo runs. */
  signal?: AbortSignal;
}

export type Status = 'deployed' | 'rolled-back' | 'unchanged' | 'planned' | 'failed';

/** 0 success; 1 failed, traffic left where it was; 2 invalid input, nothing changed; 3 failed and not restored. */
export type ExitCode = 0 | 1 | 2 | 3;

export interface Phase {
  name: string;
  ms: number;
  ok: boolean;
}

export interface ProxyView {
  container: string;
  include: string;
  /** The color the include points at, when it can be told. */
  color?: string;
  /** How the proxy was checked after the switch, or why it could not be. */
  verified?: string;
  /** The URL it was checked at. */
  checkedAt?: string;
}

export interface Result {
  command: Config['command'];
  status: Status;
  exitCode: ExitCode;
  /** The color that serves traffic when the run ends. */
  color?: string;
  port?: number;
  /** The color that served traffic when the run began. */
  previousColor?: string;
  previousPort?: number;
  /** The color this run brought up (deploy) or back (rollback). */
  targetColor?: string;
  rolledBack: boolean;
  durationMs: number;
  phases: Phase[];
  proxies: ProxyView[];
  running: Record<string, boolean>;
  plan: string[];
  /** How verify-url answered after the switch. */
  verifyUrl?: string;
  error?: string;
  logTail?: string;
  /** status: the deploy locks held now on the engine, and by whom. */
  locks?: LockView[];
  /** A deploy that did not finish (its process died, or it could not restore), as found when this run began. */
  interrupted?: InterruptedView;
}

export interface InterruptedView {
  command: string;
  pid: number;
  host: string;
  user: string;
  since: string;
  /** The step it was in (see JournalPhase), recorded at `at`. */
  phase: JournalPhase;
  at: string;
  from?: string;
  to: string;
  /** status, dry-run: the run may still be under way (its process runs, or runs on another host). */
  underWay?: boolean;
  /** What this run did about it, or (status, dry-run) what the next deploy or rollback will do. */
  action: string;
  /** The color that serves once it was dealt with, when known. */
  serving?: string;
  /** Child processes of that run that were still running, and that this run ended. */
  orphans: number[];
}

export interface LockView {
  key: string;
  pid: number;
  host: string;
  user: string;
  since: string;
  command: string;
}

const LOG_LINES = 50;
/** How long a proxy started by a first deploy has to come up. */
const PROXY_START_MS = 30_000;
const VERIFY_INTERVAL_MS = 200;
/** How long an answer that does not tell its color must hold through a proxy whose reload was not confirmed. */
const UNCONFIRMED_HOLD_MS = 1_000;
/** A proxy restarted by Docker this recently may be crash-looping, whatever its state says this instant. */
const CRASH_LOOP_WINDOW_MS = 10_000;

/** One check through a proxy after the switch. */
interface VerifyCheck {
  /** The proxy container, or verify-url. */
  what: string;
  url: string;
}
/** How often Docker's own health status is read while the app already answers. */
const DOCKER_HEALTH_WATCH_MS = 100;

/** Where things stand before anything is changed. */
interface Situation {
  services: Record<string, string[]>;
  /** Each color's containers as they were found. */
  states: Record<string, ContainerState[]>;
  shared: SharedService[];
  includes: { target: NginxTarget; content: string | null; color?: string }[];
  /** Each proxy container that exists, as docker inspect tells. */
  proxies: Map<string, ProxyState>;
  running: Record<string, boolean>;
  live?: string;
}

/** How a proxy that does not run yet is brought up once its include is written (first deploys only). */
type ProxyStart = { container: string; service?: string };

interface Undo {
  label: string;
  run: () => Promise<void>;
  /** True when this step only puts back what the proxies still serve: done even without rollback-on-failure. */
  keepsServing?: () => boolean;
}

/** How long the child processes of a dead run get to end on SIGTERM before SIGKILL. */
const ORPHAN_GRACE_MS = 10_000;

/** A step failed for a reason already worded for the user. */
class StepFailure extends Error {}

/** Recovering an unfinished deploy failed: the journal is kept for the next run. */
class RecoveryFailure extends StepFailure {}

export async function execute(config: Config, deps: Deps): Promise<Result> {
  return new Deployment(config, deps).run();
}

class Deployment {
  private readonly started: number;
  private readonly result: Result;
  private readonly nginx: NginxSwitcher;
  private compose!: ComposeDriver;
  /** deps.runner, with the commands of forward steps ended by a cancel; those of the undo never are. */
  private readonly runner: Runner;
  private undoing = false;
  private readonly undo: Undo[] = [];
  /** Set while the proxies send traffic to the new color: it must not be stopped then. */
  private trafficOnNew = false;
  private stoppedNew = false;
  /** Shared services this run started (a first deploy): a failure leaves them running. */
  private startedShared: string[] = [];
  /** Proxies whose reload could not be confirmed (their workers cannot be seen). */
  private readonly unconfirmed = new Set<string>();
  /** The new color's containers, as found before the health check. */
  private nextIds: string[] = [];
  /** The old color's cleanup has begun: from then on the switch is never undone (the old color may be stopping). */
  private cleanupStarted = false;
  /** In the environment of every child process, and in the journal: the next run finds them by it. */
  private readonly runId = randomUUID();
  /** What this run last recorded in the journal, and the writes in order. */
  private entry?: JournalEntry;
  private journalWrites: Promise<void> = Promise.resolve();
  /** An unfinished deploy was found and dealt with: its journal is this run's to clear. */
  private recovered = false;
  private journalKeyOnce?: Promise<string>;

  constructor(
    private readonly config: Config,
    private readonly deps: Deps,
  ) {
    this.started = deps.clock.now();
    this.runner = {
      run: (file, args, options) => {
        const env = { ...options.env, [RUN_ENV]: this.runId };
        return deps.runner.run(file, args, this.undoing ? { ...options, env } : { ...options, env, signal: deps.signal });
      },
    };
    this.nginx = new NginxSwitcher(this.runner, deps.files, deps.clock);
    this.result = {
      command: config.command,
      status: 'failed',
      exitCode: 1,
      rolledBack: false,
      durationMs: 0,
      phases: [],
      proxies: [],
      running: {},
      plan: [],
    };
  }

  private get log(): Logger {
    return this.deps.log;
  }

  async run(): Promise<Result> {
    let release: (() => Promise<void>) | undefined;
    const readOnly = this.config.command === 'status' || this.config.dryRun;
    try {
      if (!readOnly) release = await this.deps.locks.acquire(await this.lockKeys(), this.deps.signal);
      const cli = await detectCompose(this.runner, this.config.composeCommand);
      this.log.info(`Using compose: ${[cli.file, ...cli.prefix].join(' ')} (compose-command: ${this.config.composeCommand})`);
      this.compose = new ComposeDriver(this.runner, cli, this.config, this.deps.files, (line) => this.log.info(line));
      const unfinished = await this.deps.journal.read(await this.journalKey());
      if (unfinished && readOnly) this.reportUnfinished(unfinished);
      else if (unfinished) await this.phase('recover', () => this.recover(unfinished));
      const situation = await this.phase('detect', () => this.detect());
      if (this.config.command === 'rollback' && unfinished && this.undidDeploy(unfinished)) {
        // The unfinished deploy never took over: going to the other color would bring up its unchecked build.
        this.log.info(`The unfinished deploy of ${unfinished.to} was undone and ${unfinished.from} serves as before: nothing to roll back.`);
        this.finish('unchanged', 0, unfinished.from);
      } else if (this.config.command === 'status') {
        await this.showLocks();
        this.finish('unchanged', 0, this.result.interrupted?.serving ?? situation.live);
      } else if (this.config.command === 'rollback') {
        await this.rollback(situation);
      } else {
        await this.deploy(situation);
      }
    } catch (error) {
      await this.fail(error);
    } finally {
      await this.closeJournal();
      await release?.().catch((error: Error) => this.log.warn(`Could not remove the deploy lock: ${error.message}`));
    }
    this.result.durationMs = this.deps.clock.now() - this.started;
    return this.result;
  }

  /** One key per proxy, so deploys that share any proxy exclude each other; without a proxy, the compose project. */
  private async lockKeys(): Promise<string[]> {
    const containers = [...new Set(this.config.targets.map((t) => t.container))].sort();
    // The project as compose names it: runners whose checkouts differ in path still share the one on the engine.
    return containers.length
      ? containers.map((c) => `proxy:${c}`)
      : [`project:${await projectNameOf(this.config, this.deps.files)}`];
  }

  /** status takes no lock, but says who holds one: a deploy under way, or one that died and left it behind. */
  private async showLocks(): Promise<void> {
    let locks: LockView[];
    try {
      const held = await this.deps.locks.holders(await this.lockKeys());
      locks = held.map(({ key, holder: h }) => {
        return { key, pid: h.pid, host: h.host, user: h.user, since: h.since, command: h.command };
      });
    } catch (error) {
      this.log.warn(`Could not read the deploy locks: ${(error as Error).message}`);
      return;
    }
    this.result.locks = locks;
    for (const l of locks) {
      const who = `process ${l.pid} of user ${l.user} on host ${l.host} since ${l.since}`;
      this.log.info(`Deploy lock ${l.key} is held by a ${l.command} (${who}).`);
    }
    if (!locks.length) this.log.info('No deploy holds the lock of these proxies.');
  }

  /** Whether a recovery left the color that served before an unfinished deploy serving (status and dry runs never). */
  private undidDeploy(entry: JournalEntry): boolean {
    const serving = this.result.interrupted?.serving;
    return !this.config.dryRun && entry.command === 'deploy' && entry.from !== undefined && serving === entry.from;
  }

  /** The journal of the compose project: the same for every runner that deploys it, whatever its checkout path. */
  private journalKey(): Promise<string> {
    this.journalKeyOnce ??= projectNameOf(this.config, this.deps.files).then((name) => `project:${name}`);
    return this.journalKeyOnce;
  }

  /** Tells of an unfinished deploy: what it was doing, by whom, and since when. */
  private describeUnfinished(entry: JournalEntry, underWay = false): InterruptedView {
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
      switched: `had switched the proxies to ${to} and was checking it`,
      cleanup: `was stopping ${from ?? 'the old color'} after switching to ${to}`,
      undo: `was putting the proxies back on ${from ?? 'the includes they had before'}`,
    };
    const found = underWay ? 'is under way, or ended without finishing' : 'was found unfinished';
    this.log.warn(`A ${entry.command} of ${to} ${found}: ${describeHolder(run)} ${doing[entry.phase]} (recorded ${entry.at}).`);
    this.result.interrupted = view;
    return view;
  }

  /**
   * status and dry runs change nothing: they say what was left, what the proxies load, and that the next deploy or
   * rollback repairs it first. A run whose process may still run (or ran on another host) may be under way.
   */
  private reportUnfinished(entry: JournalEntry): void {
    const underWay = holderAlive(entry.run);
    const view = this.describeUnfinished(entry, underWay);
    view.underWay = underWay;
    if (entry.phase === 'up' || (entry.phase === 'switch' && !entry.reloading.length)) view.serving = entry.from;
    if (entry.phase === 'switched' || entry.phase === 'cleanup') view.serving = entry.to;
    view.action = underWay
      ? `it may still be under way${entry.run.host === os.hostname() ? '' : ` on ${entry.run.host} (its process cannot be seen from here)`}`
      : 'none yet: the next deploy or rollback finishes or undoes it first';
    this.log.info(
      `${view.serving ? `The proxies load ${view.serving}` : 'What each proxy loads cannot be told from here'}; ${view.action}.`,
    );
  }

  /**
   * An unfinished deploy is dealt with before anything else: its child processes are ended, then the proxies are
   * put on one color that runs (see decideRecovery). Its journal is kept if that fails, for the next run to try.
   */
  private async recover(entry: JournalEntry): Promise<void> {
    const view = this.describeUnfinished(entry);
    if (entry.run.host === os.hostname() && holderAlive(entry.run)) {
      throw new StepFailure(
        `the ${entry.command} that left this journal (process ${entry.run.pid}) still runs, yet this run holds the lock ` +
          '(was it removed by hand?). Nothing was changed: wait for that process to end, then run again.',
      );
    }
    try {
      await this.endOrphans(entry, view);
      const seen = await this.observe();
      const someUp = someRunning(this.config.colors, seen.states);
      const healthy = needsHealth(entry, { allRunning: seen.running }) && (await this.answersHealth(seen, entry.to));
      const decision = decideRecovery(entry, { allRunning: seen.running, someRunning: someUp, healthy });
      this.log.info(`Recovery: ${decision.why}.`);
      if (decision.kind === 'stuck') {
        throw new Error(`${decision.why}. Start the color that served (its containers are kept by cleanup: stop)`);
      }
      // From here this run acts for the dead one: should it die too, the next run finds its children by its token.
      entry.run = thisProcess(this.runId, entry.command, this.deps.clock.now());
      await this.deps.journal.write(await this.journalKey(), entry);
      const outcome = await this.carryOut(entry, seen, decision);
      view.serving = outcome.serving;
      view.action = outcome.action;
      this.log.info(`Recovered: ${view.action}.`);
      await this.deps.journal.clear(await this.journalKey());
    } catch (error) {
      view.action = 'recovery failed; its journal is kept for the next run';
      throw new RecoveryFailure(`recovering the unfinished ${entry.command} failed: ${(error as Error).message}`);
    }
    this.recovered = true;
  }

  /** Acts on the decision; says what was done and which color serves afterwards, when known. */
  private async carryOut(
    entry: JournalEntry,
    seen: Omit<Situation, 'live'>,
    d: Exclude<Recovery, { kind: 'stuck' }>,
  ): Promise<{ serving?: string; action: string }> {
    if (d.kind === 'none') {
      if (d.stop) await this.stopColor(seen, d.stop);
      return {
        serving: d.serving,
        action: d.stop ? `${d.stop}, which never served, was stopped (${d.why})` : `nothing to repair (${d.why})`,
      };
    }
    if (d.kind === 'restore') {
      const checked = await this.pointProxies(seen, entry, d.color, d.reload.filter((c) => this.runningProxies(seen).includes(c)));
      if (d.stop) await this.stopColor(seen, d.stop);
      const where = d.color ?? 'the includes they had before';
      return { serving: d.color, action: `the proxies were put back on ${where}${checked ? ', checked through them' : ''}` };
    }
    let checked: boolean;
    try {
      checked = await this.pointProxies(seen, entry, d.color, d.reloadAll ? this.runningProxies(seen) : []);
    } catch (error) {
      const back = entry.from;
      if (back === undefined) {
        // A first deploy: nothing served before it, so its includes go back and its color stops, to start over.
        this.log.warn(`${d.color} did not pass: ${(error as Error).message}. Undoing the first deploy.`);
        await this.pointProxies(seen, entry, undefined, this.runningProxies(seen));
        await this.stopColor(seen, d.color);
        return { action: `${d.color} failed its check; the first deploy was undone and ${d.color} stopped` };
      }
      if (!seen.running[back]) throw error;
      this.log.warn(`${d.color} did not pass: ${(error as Error).message}. Putting the proxies back on ${back}.`);
      const backChecked = await this.pointProxies(seen, entry, back, this.runningProxies(seen));
      return { serving: back, action: `${d.color} failed its check; the proxies were put back on ${back}${backChecked ? ', checked through them' : ''}` };
    }
    if (d.drain && this.config.drainMs > 0) {
      this.log.info(`Waiting ${this.config.drainMs / 1000} s for requests in flight on ${d.drain} to finish`);
      await this.deps.clock.sleep(this.config.drainMs, this.deps.signal);
    }
    return {
      serving: d.color,
      action: `the switch to ${d.color} was completed${checked ? ' and checked through the proxies' : ' (not checked through the proxies)'}`,
    };
  }

  private runningProxies(seen: Pick<Situation, 'proxies'>): string[] {
    return this.proxyContainers().filter((c) => seen.proxies.get(c)?.running);
  }

  /** Stops a color that never served: left running, the next detection would take it for the live one. */
  private async stopColor(seen: Omit<Situation, 'live'>, color: string): Promise<void> {
    const running = (seen.states[color] ?? []).filter((c) => c.running);
    if (!running.length) return;
    this.log.info(`Stopping ${color}, which never served.`);
    await this.compose.stopContainers(running);
  }

  /**
   * Writes each include for `color` (for the color served before, what the run found; for the new one, rendered),
   * tests it in every running proxy, reloads `reload` (recorded first: should this run die too, the next one knows
   * they may serve it) and checks `color` through them (every running proxy, for the new color). Without a color (a
   * first deploy undone), the includes found are put back and reloaded where they load. Resolves with whether
   * anything was checked through a proxy.
   */
  private async pointProxies(
    seen: Omit<Situation, 'live'>,
    entry: JournalEntry,
    color: string | undefined,
    reload: string[],
  ): Promise<boolean> {
    const running = this.runningProxies(seen);
    const listen = new Map<string, number[]>();
    for (const inc of seen.includes) {
      const { container, file, path: inPath } = inc.target;
      const found = entry.includes.find((i) => i.container === container && i.file === file && i.path === inPath);
      const content =
        color !== undefined && (color === entry.to || !found)
          ? renderInclude(inc.target, color, this.compose.port(color))
          : (found?.previous ?? '');
      if (inc.content !== content) {
        this.log.info(`${this.nginx.describe(inc.target)} → ${color ?? 'as it was before'}`);
        await this.nginx.write(inc.target, content);
        inc.content = content;
      }
      if (color !== undefined && running.includes(container)) {
        const ports = await this.nginx.test(inc.target, content);
        listen.set(container, [...new Set([...(listen.get(container) ?? []), ...ports])]);
      }
    }
    const checks =
      color === undefined ? [] : this.proxyChecks(color === entry.to ? running : reload, listen, seen.proxies);
    if (color === entry.to && this.config.verifyUrl) checks.push({ what: 'verify-url', url: this.config.verifyUrl });
    const more = reload.filter((c) => !entry.reloading.includes(c));
    if (more.length) {
      entry.reloading = [...entry.reloading, ...more];
      await this.deps.journal.write(await this.journalKey(), entry);
    }
    for (const c of reload) {
      if (color === undefined && !(await this.nginx.testOnly(c).then(() => true, () => false))) continue;
      const confirmed = await this.nginx.reload(c, undefined, this.deps.signal);
      if (!confirmed) this.unconfirmed.add(c);
      this.log.info(`Reloaded ${c}.`);
    }
    if (color === undefined || !checks.length) return false;
    this.nextIds = (seen.states[color] ?? []).map((c) => c.id);
    await this.verify({ ...seen, live: undefined }, color, checks);
    return true;
  }

  /** Whether a color the unfinished run brought up answers its health check now (it had passed it then). */
  private async answersHealth(seen: Omit<Situation, 'live'>, color: string): Promise<boolean> {
    const h = this.config.health;
    const url = `http://${h.host}:${this.compose.port(color)}${h.path}`;
    const ids = (seen.states[color] ?? []).map((c) => c.id);
    const outcome = await pollUntil(
      this.cancellable((timeoutMs) => this.probeColor(seen.services[color] ?? [], ids, url, timeoutMs)),
      { what: `${color} at ${url}`, timeoutMs: this.config.verifyTimeoutMs, intervalMs: h.intervalMs },
      this.deps,
    );
    if (!outcome.ok) this.log.info(`${color} does not answer its health check: ${outcome.detail}`);
    return outcome.ok;
  }

  /**
   * Child processes of the dead run (a `compose up`, a build) would go on changing containers under this run: they
   * are found by the run's token in their environment, and ended. Those of a run on another host cannot be seen.
   */
  private async endOrphans(entry: JournalEntry, view: InterruptedView): Promise<void> {
    if (entry.run.host !== os.hostname()) {
      this.log.warn(`The unfinished run was on ${entry.run.host}: child processes it left there cannot be seen from here.`);
      return;
    }
    const boot = processIdentity(process.pid).boot;
    if (entry.run.boot && boot && entry.run.boot !== boot) return;
    const found = await this.deps.processes.find(entry.run.token);
    if (!found.length) return;
    this.log.warn(
      `Ending ${found.length} process(es) that the unfinished run started and that still run:\n` +
        found.map((p) => `  ${p.pid} ${p.command}`).join('\n'),
    );
    view.orphans = found.map((p) => p.pid);
    const left = await this.deps.processes.end(view.orphans, ORPHAN_GRACE_MS);
    if (left.length) throw new Error(`could not end process(es) ${left.join(', ')}; end them by hand and run again`);
  }

  /**
   * Records the step about to begin, and resolves once it is stored: only then may the step begin. `wait: false`
   * records a step already done (the next record still comes after it).
   */
  private record(phase: JournalPhase, patch: Partial<JournalEntry> = {}, wait = true): Promise<void> {
    const now = this.deps.clock.now();
    const command = this.config.command === 'rollback' ? 'rollback' : 'deploy';
    this.entry = {
      ...(this.entry ?? {
        version: 1,
        run: thisProcess(this.runId, command, now),
        command,
        from: this.result.previousColor,
        to: this.result.targetColor ?? '',
        includes: [],
        reloading: [],
      }),
      ...patch,
      phase,
      at: new Date(now).toISOString(),
    };
    const entry = this.entry;
    // Chained at once, so that the writes are stored in the order of the steps.
    this.journalWrites = this.journalWrites.then(async () => this.deps.journal.write(await this.journalKey(), entry));
    if (wait) return this.journalWrites;
    // Its failure surfaces at the next record that waits.
    this.journalWrites.catch(() => undefined);
    return Promise.resolve();
  }

  /**
   * The journal goes once the run ends in a state it reported exactly; one that could not restore (exit 3) keeps
   * it, so that the next run finishes or undoes what it left.
   */
  private async closeJournal(): Promise<void> {
    if (!this.entry && !this.recovered) return;
    await this.journalWrites.catch(() => undefined);
    if (this.result.exitCode === 3) {
      this.log.warn('The journal of this run is kept: the next deploy or rollback repairs what it left first.');
      return;
    }
    try {
      await this.deps.journal.clear(await this.journalKey());
    } catch (error) {
      this.log.warn(`Could not remove the deploy journal: ${(error as Error).message}`);
    }
  }

  // 1. Find the live color from what the proxies point at, cross-checked with what runs.
  private async detect(): Promise<Situation> {
    const { colors } = this.config;
    const seen = await this.observe();
    const { states, includes, running } = seen;
    // A color with one service down still serves through the others: for the live color, any running container counts.
    const live = this.liveColor(includes, someRunning(colors, states));
    this.log.info(
      live
        ? `Live color: ${live} (port ${this.compose.port(live)}); running: ${colors.filter((c) => running[c]).join(', ') || 'none'}`
        : 'No live color: this is a first deploy.',
    );
    this.result.previousColor = live;
    this.result.previousPort = live ? this.compose.port(live) : undefined;
    return { ...seen, live };
  }

  /** What runs and what each include points at, with no conclusion drawn yet. */
  private async observe(): Promise<Omit<Situation, 'live'>> {
    const { colors, ports } = this.config;
    await this.compose.checkColorsApart();
    const services: Record<string, string[]> = {};
    for (const color of colors) services[color] = await this.compose.colorServices(color);
    // Compose v1 takes about half a second to answer: both colors are asked at once.
    const found = await Promise.all(colors.map((c) => this.compose.containers(c, services[c] ?? [])));
    const states = Object.fromEntries(colors.map((c, i) => [c, found[i] ?? []]));
    const running = Object.fromEntries(colors.map((c) => [c, allRunning(services[c] ?? [], states[c] ?? [])]));
    const shared = this.compose.separateProjects ? [] : await this.compose.sharedServices();
    const containers = this.proxyContainers();
    const proxies = containers.length ? await this.nginx.inspect(containers) : new Map<string, ProxyState>();
    const includes = [];
    for (const target of this.config.targets) {
      const content = await this.nginx.read(target);
      const reading = readInclude(content, target, colors, ports);
      if (reading.marker && reading.marker !== reading.color) {
        this.log.warn(
          `${this.nginx.describe(target)} says ${reading.marker} in its marker line but points at ` +
            `${reading.color ?? 'no known color'} (edited by hand?): its content decides.`,
        );
      }
      includes.push({ target, content, color: reading.color });
    }
    this.result.running = running;
    this.result.proxies = includes.map((i) => ({
      container: i.target.container,
      include: this.nginx.describe(i.target),
      color: i.color,
    }));
    for (const i of includes) {
      this.log.info(`${this.nginx.describe(i.target)} points at ${i.color ?? 'no known color'}`);
    }
    return { services, states, shared, includes, proxies, running };
  }

  /**
   * The color that serves: the one the includes point at, if any of its containers runs. A color none of whose
   * containers runs is not live, whatever an include says (a repository commits its include naming the first
   * color): with nothing running, it is a first deploy.
   */
  private liveColor(includes: Situation['includes'], running: Record<string, boolean>): string | undefined {
    const pointed = [...new Set(includes.map((i) => i.color).filter((c): c is string => c !== undefined))];
    const serving = pointed.filter((c) => running[c]);
    if (serving.length > 1) {
      throw new StepFailure(
        `the proxies disagree on the live color (${includes.map((i) => `${i.target.container} → ${i.color ?? '?'}`).join(', ')}). ` +
          'Point every include at the color that should serve, reload, and run again.',
      );
    }
    for (const idle of pointed.filter((c) => !running[c])) {
      this.log.warn(`An include points at ${idle}, which is not running: ${idle} is not live.`);
    }
    if (serving.length) return serving[0];
    const up = this.config.colors.filter((c) => running[c]);
    if (up.length > 1) {
      throw new StepFailure(
        `both ${up.join(' and ')} are running and no proxy include says which one serves. ` +
          'Stop the color that does not serve, or write its include, and run again.',
      );
    }
    return up[0];
  }

  private async deploy(s: Situation): Promise<void> {
    const next = s.live ? this.other(s.live) : this.config.colors[0];
    const nextServices = s.services[next] ?? [];
    this.result.targetColor = next;
    if (this.config.dryRun) return this.planOnly(s, next);
    const starts = this.proxiesToStart(s);
    // 2. Bring up the idle color, touching only its own services.
    await this.phase('up', async () => {
      await this.record('up');
      // Only a first deploy starts shared services: later, one that is stopped (a one-off job, a tool stopped on
      // purpose) is not the deploy's to start. Proxies among them start once their include names a running color.
      if (!s.live) {
        const proxyServices = new Set(starts.map((p) => p.service));
        await this.startShared(next, s.shared.filter((svc) => !proxyServices.has(svc.name)).map((svc) => svc.name));
      }
      if (this.config.pull) await this.compose.pull(next, nextServices);
      this.pushStopNew(next, nextServices);
      await this.compose.up(next, nextServices, this.config.build);
    });
    await this.swap(s, next, starts);
  }

  /**
   * Proxies that must be started after their include is written: on a first deploy, a proxy that is a shared
   * service not yet running, or any proxy that is stopped or crash-looping (Nginx cannot start while its upstream
   * names a container that does not exist yet). Any other proxy must be running: refused before anything changes.
   */
  private proxiesToStart(s: Situation): ProxyStart[] {
    const starts: ProxyStart[] = [];
    for (const container of this.proxyContainers()) {
      const state = s.proxies.get(container);
      if (state?.running && !(!s.live && this.crashLooping(state))) continue;
      const service = this.sharedServiceOf(container, state, s.shared);
      if (!s.live && (state || service)) {
        starts.push({ container, service: state ? undefined : service });
        continue;
      }
      throw new StepFailure(
        state
          ? `the proxy container ${container} is not running (${state.status}). Start it (its include must name a host that ` +
              'resolves, e.g. a placeholder server 127.0.0.1:9) and run again.'
          : `the proxy container ${container} does not exist and is not a service of ${this.config.composeFiles.join(', ') || 'the shared compose files'}. ` +
              'Start its own stack first, then run again.',
      );
    }
    return starts;
  }

  /**
   * Between two of its restarts, a crash-looping Nginx shows as running for a few hundred milliseconds (while it
   * looks up the upstream that does not resolve): one that the restart policy started again moments ago is taken
   * for crash-looping. Only a first deploy asks, where restarting a proxy serves nobody less.
   */
  private crashLooping(state: ProxyState): boolean {
    return state.restartCount > 0 && this.deps.clock.now() - state.startedAt < CRASH_LOOP_WINDOW_MS;
  }

  /** The shared service a proxy container belongs to: by its compose labels, or by the name compose will give it. */
  private sharedServiceOf(container: string, state: ProxyState | undefined, shared: SharedService[]): string | undefined {
    if (state) {
      const ours = state.workingDir !== undefined && path.resolve(state.workingDir) === this.config.workingDirectory;
      return ours ? shared.find((svc) => svc.name === state.service)?.name : undefined;
    }
    return shared.find((svc) => svc.containerNames.includes(container))?.name;
  }

  private proxyContainers(): string[] {
    return [...new Set(this.config.targets.map((t) => t.container))];
  }

  private async rollback(s: Situation): Promise<void> {
    if (!s.live) {
      throw new StepFailure('there is no live color, so there is nothing to roll back from.');
    }
    const back = this.other(s.live);
    const services = s.services[back] ?? [];
    this.result.targetColor = back;
    const containers = await this.compose.containers(back, services);
    const missing = services.filter((svc) => !containers.some((c) => c.service === svc));
    if (missing.length) {
      throw new StepFailure(`${back} has no container for ${missing.join(', ')} to go back to (removed by cleanup: down?). ` +
          'Deploy the version you want instead.',
      );
    }
    if (this.config.dryRun) return this.planOnly(s, back);
    const starts = this.proxiesToStart(s);
    await this.phase('start', async () => {
      await this.record('up');
      if (!s.running[back]) this.pushStopNew(back, services);
      await this.compose.start(back, services);
    });
    await this.swap(s, back, starts);
  }

  /** Steps 3 to 6, the same for a deploy and a rollback. */
  private async swap(s: Situation, next: string, starts: ProxyStart[]): Promise<void> {
    const nextPort = this.compose.port(next);
    const nextServices = s.services[next] ?? [];
    // 3. Health-check the new color over HTTP (and Docker's own HEALTHCHECK, where defined).
    await this.phase('health', async () => {
      const h = this.config.health;
      const url = `http://${h.host}:${nextPort}${h.path}`;
      // Compose is asked once which containers the color has; each probe then only inspects them.
      const ids = (await this.compose.containers(next, nextServices)).map((c) => c.id);
      this.nextIds = ids;
      const outcome = await pollUntil(
        this.cancellable((timeoutMs) => this.probeColor(nextServices, ids, url, timeoutMs)),
        { what: `${next} at ${url}`, timeoutMs: h.timeoutMs, intervalMs: h.intervalMs },
        this.deps,
      );
      if (!outcome.ok) {
        this.checkCancelled('during health');
        // The last probe's detail says what was expected of it (the status, or the body).
        throw new StepFailure(
          `${next} did not become healthy within ${h.timeoutMs / 1000} s at ${url} ` +
            `(${outcome.attempts} probes; last: ${outcome.detail})`,
        );
      }
    });
    // 4. Point every proxy at the new color: write, nginx -t, then reload them all; check each through itself.
    let checks: VerifyCheck[] = [];
    if (this.config.targets.length) {
      checks = await this.phase('switch', () => this.switchProxies(s, next, nextPort, starts));
    } else {
      this.log.warn('No proxy is configured: nothing was switched.');
    }
    if (this.config.verifyUrl) checks.push({ what: 'verify-url', url: this.config.verifyUrl });
    if (checks.length) await this.phase('verify', () => this.verify(s, next, checks));
    // 5. Let requests in flight on the old color finish, then apply cleanup to its services only.
    const old = s.live;
    if (old && old !== next && this.config.drainMs > 0 && this.config.cleanup !== 'keep') {
      await this.phase('drain', async () => {
        this.log.info(`Waiting ${this.config.drainMs / 1000} s for requests in flight on ${old} to finish`);
        await this.deps.clock.sleep(this.config.drainMs, this.deps.signal);
        this.checkCancelled('during drain');
        await this.recheck(s, next, checks);
      });
    }
    if (old && old !== next) {
      await this.record('cleanup');
      this.cleanupStarted = true;
      await this.phase('cleanup', () => this.cleanup(old, s.services[old] ?? []));
    }
    const status = this.config.command === 'rollback' ? 'rolled-back' : 'deployed';
    this.result.rolledBack = this.config.command === 'rollback';
    this.finish(status, 0, next);
  }

  private async probeColor(services: string[], ids: string[], url: string, timeoutMs: number): Promise<ProbeResult> {
    const containers = await this.compose.inspect(ids);
    const dead = containers.find((c) => !c.running || c.status === 'restarting');
    if (dead || containers.length < services.length) {
      return {
        ok: false,
        fatal: true,
        detail: dead
          ? `container ${dead.name} is ${dead.status} (exit code ${dead.exitCode})`
          : `no container for ${services.filter((svc) => !containers.some((c) => c.service === svc)).join(', ')}`,
      };
    }
    const http = await probeHttp(this.deps.http, url, this.config.health, timeoutMs, this.deps.signal);
    return http.ok ? this.dockerHealthy(ids, containers, http, timeoutMs) : http;
  }

  /**
   * The app answers; where the container has a Docker HEALTHCHECK, Docker must say healthy too. Its status flips
   * at the check's next run: that is watched closely (an inspect is cheap), not a whole health-interval later.
   */
  private async dockerHealthy(
    ids: string[],
    seen: ContainerState[],
    http: ProbeResult,
    timeoutMs: number,
  ): Promise<ProbeResult> {
    const until = this.deps.clock.now() + timeoutMs;
    for (let containers = seen; ; containers = await this.compose.inspect(ids)) {
      const waiting = containers.find((c) => c.health !== undefined && c.health !== 'healthy');
      if (!waiting) return http;
      const over = this.deps.clock.now() >= until || this.deps.signal?.aborted || containers.some((c) => !c.running);
      if (waiting.health !== 'starting' || over) {
        return { ok: false, detail: `${http.detail}, but Docker reports ${waiting.name} ${waiting.health}` };
      }
      await this.deps.clock.sleep(DOCKER_HEALTH_WATCH_MS, this.deps.signal);
    }
  }

  /**
   * Writes and tests every include before any proxy is reloaded, then reloads them all (or starts those that could
   * not run before), and returns where each proxy is to be checked.
   */
  private async switchProxies(s: Situation, next: string, port: number, starts: ProxyStart[]): Promise<VerifyCheck[]> {
    const written: { target: NginxTarget; previous: string | null }[] = [];
    const toStart = new Set(starts.map((p) => p.container));
    const running = this.proxyContainers().filter((c) => !toStart.has(c));
    const listen = new Map<string, number[]>();
    let reloaded = false;
    this.undo.push({
      label: 'restore the proxy includes',
      // Written but never loaded: the files only go back to what the proxies serve. Left on disk, they would make
      // the next run take the wrong live color, and a proxy restart load an include that was never checked.
      keepsServing: () => !reloaded,
      run: async () => {
        if (reloaded && s.live && !(await this.colorRunning(s, s.live))) {
          throw new Error(`${s.live} is not running, so the proxies were left on ${next} rather than pointed at nothing`);
        }
        for (const w of [...written].reverse()) {
          // An include that did not exist is emptied: Nginx cannot be made to forget a file it never had.
          await this.nginx.write(w.target, w.previous ?? '');
        }
        if (!reloaded) return;
        if (!s.live) {
          // Nothing served before this first deploy. A previous include that loads (a placeholder) is loaded again;
          // one naming a color that does not run (as a repository may commit it) would not, and is only put back.
          this.trafficOnNew = false;
          for (const c of running) {
            if (await this.nginx.testOnly(c).then(() => true, () => false)) await this.nginx.reload(c);
          }
          this.log.info('No color served before this first deploy: the includes were put back as they were.');
          return;
        }
        for (const c of running) await this.nginx.testOnly(c);
        for (const c of running) await this.nginx.reload(c);
        this.trafficOnNew = false;
        this.log.info(`Proxies restored to ${s.live} and reloaded.`);
      },
    });
    // Seen while the includes are written and tested, so that the reload does not wait for it.
    const workers = new Map(running.map((c) => [c, this.nginx.acceptingWorkers(c)]));
    const test = async (target: NginxTarget, content: string) => {
      try {
        const ports = await this.nginx.test(target, content);
        listen.set(target.container, [...new Set([...(listen.get(target.container) ?? []), ...ports])]);
      } catch (error) {
        this.checkCancelled('during switch');
        throw new StepFailure((error as Error).message);
      }
    };
    const includes = s.includes.map(({ target: t, content }) => {
      return { container: t.container, file: t.file, path: t.path, previous: content };
    });
    await this.record('switch', { includes });
    for (const inc of s.includes) {
      const content = renderInclude(inc.target, next, port);
      this.log.info(`${this.nginx.describe(inc.target)} → ${next}`);
      written.push({ target: inc.target, previous: inc.content });
      await this.nginx.write(inc.target, content);
      if (!toStart.has(inc.target.container)) await test(inc.target, content);
    }
    // Known before any reload, so that a proxy that cannot be checked (verify-proxies: required) changes nothing.
    const checks = this.proxyChecks(running, listen, s.proxies);
    await this.record('switch', { reloading: [...running, ...toStart] });
    for (const c of running) {
      this.trafficOnNew = true;
      reloaded = true;
      const confirmed = await this.nginx.reload(c, workers.get(c), this.deps.signal);
      if (!confirmed) this.unconfirmed.add(c);
      this.log.info(confirmed ? `Reloaded ${c}: its workers now run the new configuration.` : `Reloaded ${c}.`);
    }
    for (const start of starts) {
      this.trafficOnNew = true;
      reloaded = true;
      if (start.service) {
        this.log.info(`Starting the proxy ${start.container} (shared service ${start.service}) now that its include names ${next}.`);
        await this.compose.startShared(next, [start.service]);
        this.startedShared.push(start.service);
      } else {
        this.log.info(`Restarting the proxy ${start.container}, which could not run before its include named ${next}.`);
        await this.nginx.restart(start.container);
      }
      try {
        await this.nginx.waitStarted(start.container, PROXY_START_MS, this.deps.signal);
      } catch (error) {
        this.checkCancelled('during switch');
        throw new StepFailure((error as Error).message);
      }
      for (const inc of s.includes.filter((i) => i.target.container === start.container)) {
        await test(inc.target, renderInclude(inc.target, next, port));
      }
    }
    if (starts.length) checks.push(...this.proxyChecks([...toStart], listen, await this.nginx.inspect([...toStart])));
    void this.record('switched', {}, false);
    return checks;
  }

  /** Where each proxy is checked: its verify-url, or the host port its Nginx listen port is published on. */
  private proxyChecks(containers: string[], listen: Map<string, number[]>, states: Map<string, ProxyState>): VerifyCheck[] {
    const mode = this.config.verifyProxies;
    if (mode === 'off') {
      if (!this.result.proxies.some((p) => p.verified)) {
        this.log.warn(
          'verify-proxies is off: no proxy is checked after the switch, so a proxy that serves errors from the new ' +
            'color would not be noticed.',
        );
      }
      for (const view of this.result.proxies) view.verified = 'not checked (verify-proxies: off)';
      return [];
    }
    const checks: VerifyCheck[] = [];
    const h = this.config.health;
    for (const container of containers) {
      const given = this.config.targets.find((t) => t.container === container && t.verifyUrl)?.verifyUrl;
      const ports = listen.get(container) ?? [];
      const url = given ?? proxyUrl(states.get(container), ports, h.host, h.path);
      if (url) {
        checks.push({ what: container, url });
        for (const view of this.result.proxies.filter((p) => p.container === container)) view.checkedAt = url;
        continue;
      }
      const why =
        `${container} publishes none of the ports its Nginx listens on (${ports.join(', ') || 'none seen'}), ` +
        'so the runner cannot check it: give it a verify-url in nginx-targets';
      if (mode === 'required') throw new StepFailure(`${why} (verify-proxies: required).`);
      this.log.warn(`NOT VERIFIED: ${why}.`);
      this.setVerified(container, `NOT VERIFIED: publishes no port for ${ports.join(', ') || 'its listen ports'}`);
    }
    return checks;
  }

  /**
   * 4b. Each proxy must answer the health expectations through itself, from the new color, before the old color
   * is drained. The reload was confirmed, so a wrong answer is not a moment of transition: the deadline is short.
   */
  private async verify(s: Situation, next: string, checks: VerifyCheck[]): Promise<void> {
    const colors = await this.colorAddresses(s, next);
    for (const check of checks) {
      const { detail, told } = await this.checkThrough(check, next, colors);
      const unsure = told.color === undefined;
      if (unsure) {
        this.log.info(
          `${check.what}: which color answered cannot be told; set color-header, or have Nginx add ` +
            'X-Bluegreen-Upstream (see the README), to make the check certain.',
        );
      }
      this.setVerified(check.what, `${detail}${unsure ? ' (color not told)' : ''}`);
    }
  }

  /**
   * After the drain, just before the old color is stopped: the new color must still run and still answer through
   * every proxy. Real traffic may have brought it down meanwhile, and now is the last moment the old color can
   * take traffic back.
   */
  private async recheck(s: Situation, next: string, checks: VerifyCheck[]): Promise<void> {
    const colors = await this.colorAddresses(s, next);
    const down = (await this.compose.inspect(this.nextIds)).find((c) => !c.running || c.status === 'restarting');
    if (down) {
      throw new StepFailure(`${next} stopped during the drain: container ${down.name} is ${down.status} (exit code ${down.exitCode})`);
    }
    for (const check of checks) await this.checkThrough(check, next, colors, 'after the drain');
  }

  /** Asks through one proxy until it answers as expected from the new color, or the check's deadline passes. */
  private async checkThrough(
    check: VerifyCheck,
    next: string,
    colors: ColorAddresses[],
    when = '',
  ): Promise<{ detail: string; told: Attribution }> {
    const h = this.config.health;
    let told: Attribution = {};
    let goodSince: number | undefined;
    const probe = async (timeoutMs: number): Promise<ProbeResult> => {
      const answer = await probeHttp(this.deps.http, check.url, h, timeoutMs, this.deps.signal);
      if (!answer.ok || !answer.response) {
        goodSince = undefined;
        return answer;
      }
      told = attribute(answer.response, this.config.colorHeader, colors);
      // Nothing in the answer tells the color: it passes on the answer alone, once the reload is confirmed; else
      // the old workers may still be answering, so the answer must hold for a while. An answer that tells of
      // neither color (another server block, another app's container) fails.
      if (told.color === undefined && told.how === undefined) {
        if (!this.unconfirmed.has(check.what)) return answer;
        goodSince ??= this.deps.clock.now();
        return this.deps.clock.now() - goodSince >= UNCONFIRMED_HOLD_MS
          ? answer
          : { ok: false, detail: `${answer.detail}, to hold ${UNCONFIRMED_HOLD_MS / 1000} s (reload not confirmed)` };
      }
      return told.color === next
        ? { ...answer, detail: `${answer.detail} from ${next} (${told.how})` }
        : { ok: false, detail: `${answer.detail}, but ${told.color ? `from ${told.color}` : 'the color is unknown'} (${told.how})` };
    };
    const outcome = await pollUntil(
      this.cancellable(probe),
      { what: `${check.what} at ${check.url}`, timeoutMs: this.config.verifyTimeoutMs, intervalMs: VERIFY_INTERVAL_MS },
      this.deps,
    );
    if (!outcome.ok) {
      this.checkCancelled(`during verify${when ? ` ${when}` : ''}`);
      this.setVerified(check.what, `failed${when ? ` ${when}` : ''}: ${outcome.detail}`);
      throw new StepFailure(
        `${check.what} did not answer as expected from ${next} at ${check.url}${when ? ` ${when}` : ''} within ` +
          `${this.config.verifyTimeoutMs / 1000} s: ${outcome.detail}`,
      );
    }
    return { detail: outcome.detail, told };
  }

  private setVerified(what: string, text: string): void {
    for (const view of this.result.proxies.filter((p) => p.container === what)) view.verified = text;
    if (what === 'verify-url') this.result.verifyUrl = text;
  }

  /** The addresses by which a proxy's upstream may show each color. */
  private async colorAddresses(s: Situation, next: string): Promise<ColorAddresses[]> {
    const nextStates = await this.compose.inspect(this.nextIds);
    return this.config.colors.map((color) => {
      const states = color === next ? nextStates : (s.states[color] ?? []);
      return {
        color,
        port: this.compose.port(color),
        addresses: states.flatMap((c) => c.addresses),
        containerPorts: states.flatMap((c) => c.ports),
      };
    });
  }

  private async cleanup(old: string, services: string[]): Promise<void> {
    const cleanup = this.config.cleanup;
    if (cleanup === 'keep') {
      this.log.info(`Keeping ${old} running (cleanup: keep).`);
    } else if (cleanup === 'stop') {
      this.log.info(`Stopping ${old}; its containers stay for an instant rollback.`);
      await this.compose.stop(old, services);
    } else {
      this.log.info(`Removing ${old}'s containers (cleanup: down).`);
      await this.compose.remove(old, services);
    }
  }

  private pushStopNew(color: string, services: string[]): void {
    this.undo.push({
      label: `stop ${color}`,
      run: async () => {
        // The containers seen before the health check, else asked of compose: `up` may have failed before
        // creating anything, and then there is nothing to stop or read logs of.
        const containers = this.nextIds.length
          ? await this.compose.inspect(this.nextIds)
          : await this.compose.containers(color, services);
        if (!containers.length) return;
        const logs = this.compose.logTail(containers, LOG_LINES);
        if (this.trafficOnNew) {
          this.result.logTail = await logs;
          throw new Error(`${color} still serves traffic, so it was left running`);
        }
        // A cancelled job is killed seconds after its signal: the logs are read while the color stops.
        [this.result.logTail] = await Promise.all([logs, this.compose.stopContainers(containers)]);
        this.stoppedNew = true;
        this.log.info(`Stopped ${color}.`);
      },
    });
  }

  private async startShared(color: string, shared: string[]): Promise<void> {
    const containers = await this.compose.containers(color, shared);
    const down = shared.filter((svc) => !containers.some((c) => c.service === svc && c.running));
    if (!down.length) return;
    this.log.info(`Starting shared services that are not running: ${down.join(', ')}`);
    this.startedShared.push(...down);
    await this.compose.startShared(color, down);
  }

  private async colorRunning(s: Situation, color: string): Promise<boolean> {
    const services = s.services[color] ?? [];
    return allRunning(services, await this.compose.containers(color, services));
  }

  private planOnly(s: Situation, next: string): void {
    const port = this.compose.port(next);
    const services = s.services[next] ?? [];
    const h = this.config.health;
    const cmd = (args: string[]) => describeCommand(this.compose.cli.file, args);
    const u = this.result.interrupted;
    const plan = [
      ...(u ? [`first, finish or undo the unfinished ${u.command} of ${u.to} (left at ${u.phase}); what follows may change`] : []),
      `${s.live ? `live color ${s.live} (port ${this.compose.port(s.live)})` : 'no live color'}; ` +
        `${this.config.command} ${next} (port ${port}), services ${services.join(', ')}`,
      this.config.command === 'rollback'
        ? cmd(this.compose.args(next, ['start', ...services]))
        : cmd(this.compose.upArgs(next, services, this.config.build)),
      `probe http://${h.host}:${port}${h.path} until ${formatStatuses(h.statuses)} (at most ${h.timeoutMs / 1000} s, every ${h.intervalMs / 1000} s)`,
      ...s.includes.map((i) => `write ${this.nginx.describe(i.target)}:\n${renderInclude(i.target, next, port).trimEnd()}`),
      ...[...new Set(this.config.targets.map((t) => t.container))].map(
        (c) => `docker exec ${c} nginx -T, then docker exec ${c} nginx -s reload`,
      ),
      this.config.verifyProxies === 'off'
        ? 'no check through the proxies (verify-proxies: off)'
        : `check each proxy through its published port: ${formatStatuses(h.statuses)} from ${next}` +
          ` within ${this.config.verifyTimeoutMs / 1000} s`,
      ...(this.config.verifyUrl ? [`check ${this.config.verifyUrl}`] : []),
    ];
    if (s.live) {
      const old = s.services[s.live] ?? [];
      plan.push(`wait ${this.config.drainMs / 1000} s, then cleanup: ${this.config.cleanup}`);
      if (this.config.cleanup === 'stop') plan.push(cmd(this.compose.stopArgs(s.live, old)));
      if (this.config.cleanup === 'down') plan.push(cmd(this.compose.removeArgs(s.live, old)));
    }
    this.result.plan = plan;
    this.log.info(`Dry run, nothing changed. The plan:\n${plan.map((p, i) => `  ${i + 1}. ${p}`).join('\n')}`);
    this.finish('planned', 0, s.live);
  }

  private finish(status: Status, exitCode: 0 | 1 | 3, color: string | undefined): void {
    this.result.status = status;
    this.result.exitCode = exitCode;
    this.result.color = color;
    this.result.port = color ? this.compose.port(color) : undefined;
  }

  // 6. On failure: undo what was done, in reverse order, and say what state things are in.
  private async fail(error: unknown): Promise<void> {
    this.undoing = true;
    const message = error instanceof Error ? error.message : String(error);
    this.result.error = message;
    if (error instanceof ConfigError) {
      this.result.exitCode = 2;
      this.result.status = 'failed';
      return;
    }
    if (error instanceof RecoveryFailure) {
      const name = journalName(await this.journalKey());
      this.result.error =
        `${message}\nWhat each proxy serves is as that run left it, or as far as this recovery got (see the log). ` +
        'Its journal is kept: fix the cause and run again, and the recovery is tried again first. To deploy over ' +
        `that state without a recovery (after checking the proxies by hand), remove the journal: docker rm ${name}`;
      this.finish('failed', 3, undefined);
      return;
    }
    const attempted = this.result.targetColor;
    const live = this.result.previousColor;
    if (this.cleanupStarted) {
      this.result.error =
        `${message}\nNot rolled back: traffic is on ${attempted}, which passed its checks, and ${live} may be ` +
        `stopping, so the proxies stay on ${attempted}. Check ${live}'s containers by hand and stop them.`;
      this.finish('failed', 3, attempted);
      return;
    }
    if (!this.undo.length) {
      this.result.error = this.startedShared.length
        ? `${message}\nOnly the shared services ${this.startedShared.join(', ')} were started; they are left running.`
        : `${message}\nNothing was changed.`;
      this.finish('failed', 1, live);
      return;
    }
    const steps = this.config.rollbackOnFailure ? this.undo : this.undo.filter((u) => u.keepsServing?.());
    const problems: string[] = [];
    if (steps.length && this.entry && this.entry.phase !== 'up') {
      // Should this run die while undoing, the next one puts the proxies back rather than finish the switch.
      this.journalWrites = this.journalWrites.catch(() => undefined);
      await this.record('undo').catch((e: Error) => this.log.warn(`Could not record the undo in the journal: ${e.message}`));
    }
    if (steps.length) {
      await this.phase('restore', async () => {
        for (const step of [...steps].reverse()) {
          try {
            await step.run();
          } catch (undoError) {
            problems.push(`could not ${step.label}: ${(undoError as Error).message}`);
          }
        }
      }).catch((error: Error) => problems.push(`could not restore: ${error.message}`));
    }
    if (!this.config.rollbackOnFailure && !problems.length) {
      this.result.error =
        `${message}\nNot rolled back (rollback-on-failure is false): ${attempted} is left as it is` +
        `${steps.length ? '; includes that had not been loaded were put back' : ''}.`;
      this.finish('failed', 1, this.trafficOnNew ? attempted : live);
      return;
    }
    if (this.result.logTail) this.log.info(`Last ${LOG_LINES} log lines of ${attempted}:\n${this.result.logTail}`);
    if (problems.length) {
      this.result.error =
        `${message}\nROLLBACK INCOMPLETE: ${problems.join('; ')}.\n` +
        `Traffic is on ${this.trafficOnNew ? attempted : (live ?? 'the previous includes')}. Check the proxies and containers by hand.`;
      this.finish('failed', 3, this.trafficOnNew ? attempted : live);
      return;
    }
    this.result.rolledBack = true;
    this.result.error =
      `${message}\nRolled back: traffic is on ${live ?? 'the previous includes'} as before` +
      `${this.stoppedNew ? `, ${attempted} was stopped` : ''}. Fix the cause (see ${attempted}'s log) and run again.` +
      (this.startedShared.length
        ? ` The shared services ${this.startedShared.join(', ')} were started by this run and are left running.`
        : '');
    this.finish('rolled-back', 1, live);
  }

  private other(color: string): string {
    const [a, b] = this.config.colors;
    return color === a ? b : a;
  }

  /** A probe that gives up at once when the run is cancelled. */
  private cancellable(probe: (timeoutMs: number) => Promise<ProbeResult>) {
    return async (timeoutMs: number): Promise<ProbeResult> =>
      this.deps.signal?.aborted ? { ok: false, fatal: true, detail: 'cancelled' } : probe(timeoutMs);
  }

  /** The undo itself is never cancelled. */
  private checkCancelled(when: string): void {
    if (this.deps.signal?.aborted && !this.undoing) {
      throw new StepFailure(`cancelled (${(this.deps.signal.reason as Error)?.message ?? 'aborted'}) ${when}`);
    }
  }

  /** Runs one step in its own log group and records its time and outcome. */
  private async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.checkCancelled(`before ${name}`);
    const start = this.deps.clock.now();
    try {
      const value = await this.log.group(name, fn);
      this.result.phases.push({ name, ms: this.deps.clock.now() - start, ok: true });
      return value;
    } catch (error) {
      this.result.phases.push({ name, ms: this.deps.clock.now() - start, ok: false });
      if (error instanceof StepFailure || error instanceof ConfigError) throw error;
      this.checkCancelled(`during ${name}`);
      throw new StepFailure(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function someRunning(colors: readonly string[], states: Record<string, ContainerState[]>): Record<string, boolean> {
  return Object.fromEntries(colors.map((c) => [c, (states[c] ?? []).some((x) => x.running)]));
}

function allRunning(services: string[], containers: ContainerState[]): boolean {
  return services.length > 0 && services.every((svc) => containers.some((c) => c.service === svc && c.running));
}
