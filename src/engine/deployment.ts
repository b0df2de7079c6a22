import { randomUUID } from 'node:crypto';
import { ConfigError, maskUrls, type Config, type ProxyTarget } from '../config/config.js';
import { ComposeDriver, detectCompose, projectNameOf } from '../docker/compose.js';
import { journalRemoval, type Journal, type JournalEntry, type JournalPhase } from '../docker/journal.js';
import { thisProcess, type Locks } from '../docker/lock.js';
import type { ProbeResult } from '../health.js';
import type { Clock, EngineClock, Files, Http, Logger } from '../io.js';
import { RUN_ENV, type ContainerSignals, type Processes } from '../processes.js';
import { createProxy, type Proxy } from '../proxy/proxy.js';
import type { Runner } from '../runner.js';
import { runCommand } from './commands.js';
import { detect, type Situation } from './detect.js';
import type { FleetMember, Gate } from './fleet.js';
import { runHook } from './hooks.js';
import { RecoveryFailure, StepFailure } from './errors.js';
import { recover, reportUnfinished, undidDeploy } from './recover.js';
import { failedResult, type Result, type Status } from './result.js';
import { LOG_LINES } from './swap.js';

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
  /** Signals a proxy's processes directly when this machine runs them (given with the engine's API only). */
  signals?: ContainerSignals;
  /** Aborted when the run is cancelled (SIGINT/SIGTERM): the step under way ends and the undo runs. */
  signal?: AbortSignal;
  /** With several hosts: where this host's run waits for the others (engine/fleet.ts). */
  fleet?: FleetMember;
  /** The engine's clock, given when it runs on another machine: its logs are read by it. */
  engineClock?: EngineClock;
}

/** One step of the undo stack, run in reverse order on failure or cancel. */
export interface Undo {
  label: string;
  run: () => Promise<void>;
  /** True when this step only puts back what the proxies still serve: done even without rollback-on-failure. */
  keepsServing?: () => boolean;
}

export async function execute(config: Config, deps: Deps): Promise<Result> {
  return new Deployment(config, deps).run();
}

/**
 * One run of a command: its configuration and adapters, the result being written, the undo stack, and the
 * journal. The steps live beside it (detect, recover, swap, commands) and act on it.
 */
export class Deployment {
  readonly started: number;
  readonly result: Result;
  readonly proxy: Proxy;
  compose!: ComposeDriver;
  /** deps.runner, with the commands of forward steps ended by a cancel; those of the undo never are. */
  readonly runner: Runner;
  undoing = false;
  readonly undo: Undo[] = [];
  /** Set while the proxies send traffic to the new color: it must not be stopped then. */
  trafficOnNew = false;
  stoppedNew = false;
  /** Shared services this run started (a first deploy): a failure leaves them running. */
  startedShared: string[] = [];
  /** Proxies whose reload could not be confirmed (their workers cannot be seen). */
  readonly unconfirmed = new Set<string>();
  /**
   * The includes this run wrote (with what they held before), whether any proxy reloaded one, and the proxies
   * whose last reload loaded a canary step's split.
   */
  switching?: { written: { target: ProxyTarget; previous: string | null }[]; reloaded: boolean; split: Set<string> };
  /** The undo took a canary step's split off the proxies. */
  undidSplit = false;
  /** The new color's requests over every step of the traffic watch. */
  readonly trafficTotal = { requests: 0, errors: 0, latencies: [] as number[] };
  /** When each proxy began to serve the new color (its reload confirmed, or it started): its log is read from then. */
  readonly switchedAt = new Map<string, number>();
  /** The new color's containers, as found before the health check. */
  nextIds: string[] = [];
  /** Detection finished: which color served is known (else a failure cannot say where traffic is). */
  detected = false;
  /** pre-deploy-command ran: whatever it changed (a migration) is not undone, and a failure says so. */
  ranPreDeploy = false;
  /** The old color's cleanup has begun: from then on the switch is never undone (the old color may be stopping). */
  cleanupStarted = false;
  /** In the environment of every child process, and in the journal: the next run finds them by it. */
  readonly runId = randomUUID();
  /** The User-Agent of this run's own requests through the proxies: the watch does not count them. */
  readonly ownAgent = `bluegreen-action (run ${this.runId.slice(0, 8)})`;
  /** What this run last recorded in the journal, and the writes in order. */
  entry?: JournalEntry;
  journalWrites: Promise<void> = Promise.resolve();
  /** An unfinished deploy was found and dealt with: its journal is this run's to clear. */
  recovered = false;
  /**
   * A step that another host's failure must not cut short (only the user's cancel): dealing with an unfinished run,
   * a migration.
   */
  shielded = false;
  /** The unfinished deploy found was undone: it never took over (a rollback then has nothing to go back from). */
  undidUnfinished = false;
  /** Why this run's journal stays when it ends (with several hosts: another host fell short of a gate). */
  keepJournal?: string;
  journalKeyOnce?: Promise<string>;

  constructor(
    readonly config: Config,
    readonly deps: Deps,
  ) {
    this.started = deps.clock.now();
    this.runner = {
      run: (file, args, options) => {
        const env = { ...options.env, [RUN_ENV]: this.runId };
        // A command with a signal of its own (a log followed for a while) ends at either.
        const signals = [options.signal, this.stepSignal].filter((x) => x !== undefined);
        const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
        return deps.runner.run(file, args, this.undoing ? { ...options, env } : { ...options, env, signal });
      },
    };
    this.proxy = createProxy({ runner: this.runner, files: deps.files, clock: deps.clock, signals: deps.signals });
    this.result = failedResult(config.command, 1);
  }

  async shield<T>(fn: () => Promise<T>): Promise<T> {
    this.shielded = true;
    try {
      return await fn();
    } finally {
      this.shielded = false;
    }
  }

  /** Runs what runs once for all hosts (pre-deploy-command, the runner hooks): a single host, or the first of hosts. */
  get runsOnce(): boolean {
    return this.deps.fleet?.runsOnce ?? true;
  }

  /** What ends the step under way: the run's cancel, and with several hosts another host's failure. */
  get stepSignal(): AbortSignal | undefined {
    return this.shielded && this.deps.fleet ? this.deps.fleet.cancel : this.deps.signal;
  }

  /** What a poll waits with: the clock, the log, and the signal that ends the step under way. */
  get waits(): { clock: Clock; log: Logger; signal?: AbortSignal } {
    return { clock: this.deps.clock, log: this.deps.log, signal: this.stepSignal };
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** status and dry runs change nothing: no lock, no recovery, no journal. */
  get readOnly(): boolean {
    return this.config.command === 'status' || this.config.dryRun;
  }

  async run(): Promise<Result> {
    let release: (() => Promise<void>) | undefined;
    let failed = false;
    try {
      if (!this.readOnly) release = await this.deps.locks.acquire(await this.lockKeys(), this.deps.signal);
      await this.reach('locked');
      const cli = await detectCompose(this.runner, this.config.composeCommand).catch((error: unknown) => {
        // Its commands were ended by a cancel: that is what to say, not that compose is missing.
        this.checkCancelled('while looking for compose');
        throw error;
      });
      this.log.info(
        `Using compose: ${[cli.file, ...cli.prefix].join(' ')} (compose-command: ${this.config.composeCommand})`,
      );
      this.compose = new ComposeDriver(this.runner, cli, this.config, this.deps.files, (line) => this.log.info(line));
      const unfinished = await this.deps.journal.read(await this.journalKey());
      if (unfinished && this.readOnly) reportUnfinished(this, unfinished);
      else if (unfinished) {
        await this.phase('recover', () => this.shield(() => recover(this, unfinished)));
        this.undidUnfinished = undidDeploy(this, unfinished);
      } else if (!this.readOnly) await this.deps.fleet?.recover(undefined, this);
      const situation = await this.phase('detect', () => detect(this));
      this.detected = true;
      await this.reach('detected');
      await runCommand(this, situation, unfinished);
    } catch (error) {
      this.deps.fleet?.failed(error, this);
      await this.fail(error);
      failed = true;
    } finally {
      await this.closeJournal();
      await release?.().catch((error: Error) => this.log.warn(`Could not remove the deploy lock: ${error.message}`));
    }
    // Once the journal and the lock are settled: a slow hook (a cancelled job is killed seconds after its signal)
    // leaves neither behind, and the hook may itself run the tool.
    // With several hosts, it runs once, told the fleet's outcome (engine/fleet.ts).
    if (failed && !this.deps.fleet) await this.onFailure();
    this.result.durationMs = this.deps.clock.now() - this.started;
    return this.result;
  }

  private engineOffset?: Promise<number>;

  /**
   * A moment of the runner's clock on the engine's clock, by which `docker logs --since` reads: a remote engine's
   * clock may be seconds off, and the watch would then count requests from before the switch, or miss the first.
   */
  engineTimeOf(at: number): Promise<number> {
    const clock = this.deps.engineClock;
    if (!clock) return Promise.resolve(at);
    this.engineOffset ??= (async () => {
      const before = this.deps.clock.now();
      const engine = await clock.now().catch(() => undefined);
      const after = this.deps.clock.now();
      if (engine === undefined) {
        this.log.warn("Could not read the engine's clock: its logs are read by the runner's.");
        return 0;
      }
      const offset = Math.round(engine - (before + after) / 2);
      if (Math.abs(offset) >= 500) {
        this.log.info(
          `The engine's clock is ${Math.abs(offset) / 1000} s ${offset > 0 ? 'ahead of' : 'behind'} the runner's: its logs are read by its own.`,
        );
      }
      return offset;
    })();
    return this.engineOffset.then((offset) => at + offset);
  }

  /** With several hosts, waits there for the others (see engine/fleet.ts); at once for a single host. */
  async reach(gate: Gate, step?: number): Promise<void> {
    await this.deps.fleet?.reach(gate, this, step);
  }

  /** One key per proxy, so deploys that share any proxy exclude each other; without a proxy, the compose project. */
  async lockKeys(): Promise<string[]> {
    const containers = [...new Set(this.config.targets.map((t) => t.container))].sort();
    // The project as compose names it: runners whose checkouts differ in path still share the one on the engine.
    return containers.length
      ? containers.map((c) => `proxy:${c}`)
      : [`project:${await projectNameOf(this.config, this.deps.files)}`];
  }

  /** The journal of the compose project: the same for every runner that deploys it, whatever its checkout path. */
  journalKey(): Promise<string> {
    this.journalKeyOnce ??= projectNameOf(this.config, this.deps.files).then((name) => `project:${name}`);
    return this.journalKeyOnce;
  }

  runningProxies(seen: Pick<Situation, 'proxies'>): string[] {
    return this.proxyContainers().filter((c) => seen.proxies.get(c)?.running);
  }

  /**
   * Records the step about to begin, and resolves once it is stored: only then may the step begin. `wait: false`
   * records a step already done (the next record still comes after it).
   */
  record(phase: JournalPhase, patch: Partial<JournalEntry> = {}, wait = true): Promise<void> {
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
  async closeJournal(): Promise<void> {
    if (!this.entry && !this.recovered) return;
    await this.journalWrites.catch(() => undefined);
    if (this.result.exitCode === 3 || this.keepJournal) {
      await this.deps.journal.settle(await this.journalKey()).catch(() => undefined);
      const why = this.keepJournal ? ` (${this.keepJournal})` : '';
      this.log.warn(`The journal of this run is kept${why}: the next deploy or rollback repairs what it left first.`);
      return;
    }
    try {
      await this.deps.journal.clear(await this.journalKey());
    } catch (error) {
      this.log.warn(`Could not remove the deploy journal: ${(error as Error).message}`);
    }
  }

  proxyContainers(): string[] {
    return [...new Set(this.config.targets.map((t) => t.container))];
  }

  finish(status: Status, exitCode: 0 | 1 | 3, color: string | undefined): void {
    this.result.status = status;
    this.result.exitCode = exitCode;
    this.result.color = color;
    this.result.port = color ? this.compose.port(color) : undefined;
  }

  // 6. On failure: undo what was done, in reverse order, and say what state things are in.
  async fail(error: unknown): Promise<void> {
    this.undoing = true;
    const message = error instanceof Error ? error.message : String(error);
    this.result.error = message;
    if (error instanceof ConfigError) {
      this.result.exitCode = 2;
      this.result.status = 'failed';
      return;
    }
    if (error instanceof RecoveryFailure) {
      const removal = journalRemoval(await this.journalKey());
      this.result.error =
        `${message}\nWhat each proxy serves is as that run left it, or as far as this recovery got (see the log). ` +
        'Its journal is kept: fix the cause and run again, and the recovery is tried again first. To deploy over ' +
        `that state without a recovery (after checking the proxies by hand), ${removal}.`;
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
      const nothing = this.ranPreDeploy
        ? `${attempted} was not started and no proxy was switched; what pre-deploy-command changed itself is not undone.`
        : 'Nothing was changed.';
      this.result.error = this.startedShared.length
        ? `${message}\nOnly the shared services ${this.startedShared.join(', ')} were started; they are left running.` +
          (this.ranPreDeploy ? ` ${nothing}` : '')
        : `${message}\n${nothing}`;
      this.finish('failed', 1, live);
      return;
    }
    const steps = this.config.rollbackOnFailure ? this.undo : this.undo.filter((u) => u.keepsServing?.());
    const problems: string[] = [];
    if (steps.length && this.entry && this.entry.phase !== 'up') {
      // Should this run die while undoing, the next one puts the proxies back rather than finish the switch.
      this.journalWrites = this.journalWrites.catch(() => undefined);
      await this.record('undo').catch((e: Error) =>
        this.log.warn(`Could not record the undo in the journal: ${e.message}`),
      );
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
        `${steps.length ? (this.undidSplit ? `; the canary's split was taken off: every request goes to ${live}` : '; includes that had not been loaded were put back') : ''}.`;
      this.finish('failed', 1, this.trafficOnNew ? attempted : live);
      return;
    }
    if (this.result.logTail) this.log.info(`Last ${LOG_LINES} log lines of ${attempted}:\n${this.result.logTail}`);
    if (problems.length) {
      const split = [...(this.switching?.split ?? [])];
      const where = split.length
        ? `split between ${live} and ${attempted} at ${split.join(', ')}`
        : `on ${this.trafficOnNew ? attempted : (live ?? 'the previous includes')}`;
      this.result.error =
        `${message}\nROLLBACK INCOMPLETE: ${problems.join('; ')}.\n` +
        `Traffic is ${where}. Check the proxies and containers by hand.`;
      this.finish('failed', 3, this.trafficOnNew && !split.length ? attempted : live);
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

  /** on-failure-command, once the failure is dealt with: reported, and never a change to the exit code. */
  /**
   * With several hosts, `r` is the fleet's result and `known` whether every host found what it served and they all
   * end on one color (or none).
   */
  async onFailure(r: Result = this.result, known = this.detected): Promise<void> {
    const words = this.config.hooks.onFailure;
    if (!words.length || this.readOnly) return;
    await this.log.group('on-failure', async () => {
      try {
        const facts = {
          BLUEGREEN_STATUS: r.status,
          BLUEGREEN_SERVING: r.color ?? '',
          BLUEGREEN_SERVING_KNOWN: String(known),
          BLUEGREEN_EXIT_CODE: String(r.exitCode),
          BLUEGREEN_ERROR: maskUrls((r.error ?? '').split('\n')[0] ?? ''),
        };
        await runHook(this, 'on-failure', words, facts, r);
      } catch (error) {
        this.log.warn(`${(error as Error).message}\nThe exit code stays ${r.exitCode}.`);
      }
    });
  }

  other(color: string): string {
    const [a, b] = this.config.colors;
    return color === a ? b : a;
  }

  /** A probe that gives up at once when the run is cancelled. */
  cancellable(probe: (timeoutMs: number) => Promise<ProbeResult>) {
    return async (timeoutMs: number): Promise<ProbeResult> =>
      this.stepSignal?.aborted ? { ok: false, fatal: true, detail: 'cancelled' } : probe(timeoutMs);
  }

  /** A signal that aborts with `signal` or with the run's cancel, whichever comes first. */
  orCancel(signal: AbortSignal): AbortSignal {
    const cancel = this.stepSignal;
    return cancel ? AbortSignal.any([signal, cancel]) : signal;
  }

  /** The undo itself is never cancelled. */
  checkCancelled(when: string): void {
    const signal = this.stepSignal;
    if (signal?.aborted && !this.undoing) {
      throw new StepFailure(`cancelled (${(signal.reason as Error)?.message ?? 'aborted'}) ${when}`);
    }
  }

  /** Runs one step in its own log group and records its time and outcome. */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
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
