// Several hosts, one release: each host runs the same sequence as a single host (its own lock, journal, undo), and
// waits for the others at fixed points, so that no proxy reloads before every proxy of every host passed its test,
// and no old color stops before every host passed its checks. A failure anywhere before the cleanup ends every
// host's sequence, and each undoes what it did.
import type { Config } from '../config/config.js';
import type { Clock, Logger } from '../io.js';
import { Deployment, type Deps } from './deployment.js';
import { StepFailure } from './errors.js';
import { fleetRecovery, type HostRecovery, type Recovery } from './recovery.js';
import type { Tally } from './watch.js';
import { failedResult, type HostResult, type Result } from './result.js';

/**
 * The points where a host waits for the others, in the order of a run: every lock is held; the unfinished runs found
 * are weighed together, then carried out, before any journal is cleared (see recover); every host found what it
 * serves (and they agree); a place among max-parallel to bring up its color; the first host's pre-deploy-command is
 * done (the others only wait for that one); its color is healthy; every include is tested (per canary step, then
 * for the switch); every proxy of every host serves the new color; every host passed its checks after the drain;
 * every host recorded its cleanup (before any stops its old color or clears its journal).
 */
export type Gate =
  | 'locked'
  | 'recovery'
  | 'recovered'
  | 'detected'
  | 'up'
  | 'pre-deploy'
  | 'healthy'
  | 'reload'
  | 'verified'
  | 'cleanup'
  | 'committed';

/** How a host's run meets the others (Deps.fleet); a single host has none. */
export interface FleetMember {
  /**
   * Resolves once every host reached `gate` (or went past it); 'up' only waits for a place among max-parallel.
   * Rejects with a StepFailure once another host failed, or the hosts do not agree on what they serve.
   */
  reach(gate: Gate, d: Deployment, step?: number): Promise<void>;
  /**
   * This host's run failed: every other one ends its step under way and undoes what it did (not once every host
   * began its cleanup, nor for status and dry runs, which change nothing: each host reports on its own).
   */
  failed(error: unknown, d: Deployment): void;
  /**
   * What this host's recovery of an unfinished run does (undefined: it found none), once every other host found its
   * own or ended: hosts that a dead run left at different steps end on one color (engine/recovery.ts,
   * fleetRecovery). Another host's failure does not cut this wait, nor the next, short.
   */
  recover(plan: Omit<HostRecovery, 'host'> | undefined, d: Deployment): Promise<Recovery | undefined>;
  /**
   * Resolves once every host carried out its recovery (or found none, or ended): only then may journals be cleared.
   * False when a host ended short of it (its recovery failed or was cancelled): journals are then kept, so that the
   * next run weighs the hosts together again.
   */
  recovered(d: Deployment): Promise<boolean>;
  /**
   * Resolves once every host recorded its cleanup (or ended), before any host stops its old color or clears its
   * journal. False when a host ended without its record: the others keep their journals (their cleanup record is
   * what leads the next run to finish the switch on that host).
   */
  committed(d: Deployment): Promise<boolean>;
  /**
   * Adds this host's count of the new color's requests in a watch step (read when judged); returns the sum over
   * every host that counts that step.
   */
  traffic(step: string, count: () => Tally): () => Tally;
  /** The user's cancel alone: what must not be cut short by another host's failure (a recovery) listens to it. */
  readonly cancel?: AbortSignal;
  /** Some host found an unfinished deploy and undid it: a rollback then goes nowhere on any host. */
  undoneAnywhere(): boolean;
  /** This host runs what runs once for the fleet: pre-deploy-command and the runner hooks (the first of hosts). */
  readonly runsOnce: boolean;
}

export interface FleetHost {
  name: string;
  /** How its engine is reached, as logs say it. */
  docker: string;
  config: Config;
  deps: Deps;
}

/** A canary step's reload comes before the switch's, and the steps in the order of their percents. */
function rankOf(gate: Gate, step?: number): number {
  const ranks: Record<Gate, number> = {
    locked: 10,
    recovery: 15,
    recovered: 16,
    detected: 20,
    up: 30,
    'pre-deploy': 35,
    healthy: 40,
    reload: 51,
    verified: 55,
    cleanup: 60,
    committed: 61,
  };
  return gate === 'reload' && step !== undefined ? 50 + step / 100 : ranks[gate];
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

class Fleet {
  readonly abort = new AbortController();
  /** How far each host went; a host whose run ended went past every gate. */
  private readonly reached = new Map<string, number>();
  /** How far each host whose run ended had gone. */
  private readonly endedAt = new Map<string, number>();
  private readonly runs = new Map<string, Deployment>();
  /** Hosts that found what they serve (a dry run's or status's host that failed before is left out of the table). */
  private readonly detected = new Set<string>();
  private wake: (() => void)[] = [];
  private readonly holding = new Set<string>();
  /** Hosts that took their place to bring up their color, or ended: the next in order may take one. */
  private readonly wentUp = new Set<string>();
  private agreement?: string;
  /** Each host's unfinished run, and what the hosts agreed to do about them (once every host found its own). */
  private readonly recoveries = new Map<string, HostRecovery>();
  private agreedRecoveries?: Map<string, Recovery>;
  /** Each watch step's count of the new color's requests, per host. */
  private readonly traffic = new Map<string, Map<string, () => Tally>>();
  /** Every host passed the cleanup gate: the old colors may be stopping, a failure no longer stops the others. */
  private committed = false;
  /** Why the fleet stopped: the first failure, the hosts' disagreement, or the user's cancel. */
  reason?: string;
  /** Resolved once a host took its lock, or went past the point where it would: the next one in order may take its own. */
  private readonly lockTaken = new Map<string, () => void>();
  readonly lockTurns = new Map<string, Promise<void>>();

  constructor(
    private readonly hosts: FleetHost[],
    private readonly maxParallel: number,
    private readonly log: Logger,
    private readonly cancel?: AbortSignal,
  ) {
    for (const h of hosts) {
      this.reached.set(h.name, 0);
      this.lockTurns.set(h.name, new Promise((resolve) => this.lockTaken.set(h.name, resolve)));
    }
    this.abort.signal.addEventListener('abort', () => this.notify(), { once: true });
    if (cancel?.aborted) this.abort.abort(cancel.reason);
    else cancel?.addEventListener('abort', () => this.abort.abort(cancel.reason), { once: true });
  }

  /** Why the fleet stopped, as the hosts' errors say it. */
  why(): string | undefined {
    if (this.reason) return this.reason;
    const reason = this.abort.signal.reason as Error | undefined;
    return this.abort.signal.aborted ? `cancelled (${reason?.message ?? 'aborted'})` : undefined;
  }

  member(name: string): FleetMember {
    return {
      reach: (gate, d, step) => this.reach(name, gate, d, step),
      failed: (error, d) => {
        if (d.readOnly) return;
        if (this.committed) {
          this.reason ??= `${name} failed: ${firstLine(error)}`;
          this.log.warn(`${name} failed during its cleanup; the other hosts go on: ${firstLine(error)}`);
          return;
        }
        this.fail(`${name} failed: ${firstLine(error)}`);
      },
      recover: (plan, d) => this.recover(name, plan, d),
      recovered: (d) => this.meet(name, 'recovered', d),
      committed: (d) => this.meet(name, 'committed', d),
      traffic: (step, count) => {
        const counts = this.traffic.get(step) ?? new Map<string, () => Tally>();
        this.traffic.set(step, counts.set(name, count));
        return () => {
          const all = [...counts.values()].map((c) => c());
          return {
            requests: all.reduce((sum, t) => sum + t.requests, 0),
            errors: all.reduce((sum, t) => sum + t.errors, 0),
            latencies: all.flatMap((t) => t.latencies),
          };
        };
      },
      cancel: this.cancel,
      undoneAnywhere: () => [...this.runs.values()].some((d) => d.undidUnfinished),
      runsOnce: name === this.hosts[0]?.name,
    };
  }

  fail(reason: string, then = 'Every other host ends its step under way and undoes what it did.'): void {
    if (this.abort.signal.aborted) return;
    this.reason = reason;
    this.log.warn(`${reason}\n${then}`);
    this.abort.abort(new Error(reason));
  }

  /** The host holds its lock (or takes none, or could not take it). */
  tookLock(name: string): void {
    this.lockTaken.get(name)?.();
  }

  ended(name: string): void {
    this.tookLock(name);
    this.holding.delete(name);
    this.wentUp.add(name);
    this.endedAt.set(name, this.reached.get(name) ?? 0);
    this.reached.set(name, Infinity);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }

  /** Waits until `ready` holds; a fleet that failed meanwhile ends the wait with its reason. */
  private async until(ready: () => boolean): Promise<void> {
    for (;;) {
      if (this.abort.signal.aborted) {
        throw new StepFailure(`stopped: ${(this.abort.signal.reason as Error)?.message ?? 'the fleet failed'}`);
      }
      if (ready()) return;
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
  }

  private async recover(
    name: string,
    plan: Omit<HostRecovery, 'host'> | undefined,
    d: Deployment,
  ): Promise<Recovery | undefined> {
    // A host that found nothing to recover has nothing to carry out either: it goes on.
    if (!plan) {
      await this.meet(name, 'recovered', d, false);
      return undefined;
    }
    this.recoveries.set(name, { ...plan, host: name });
    await this.meet(name, 'recovery', d);
    if (!this.agreedRecoveries) {
      const plans = this.hosts.flatMap((h) => this.recoveries.get(h.name) ?? []);
      const { decisions, why } = fleetRecovery(plans);
      if (why) this.log.warn(`Recovery: ${why}.`);
      this.agreedRecoveries = new Map(plans.map((p, i) => [p.host, decisions[i] ?? p.decision]));
    }
    return this.agreedRecoveries.get(name) ?? plan.decision;
  }

  /**
   * Marks the host at `gate`, then (unless told not to) waits until every host is there, went past it or ended.
   * Unlike reach, a failed fleet does not end the wait: what waits here must be done by every host (a recovery, the
   * record of a cleanup), and every host gets there or ends.
   */
  private async meet(name: string, gate: Gate, d: Deployment, wait = true): Promise<boolean> {
    const rank = rankOf(gate);
    this.runs.set(name, d);
    this.reached.set(name, Math.max(this.reached.get(name) ?? 0, rank));
    this.notify();
    while (wait && ![...this.reached.values()].every((r) => r >= rank)) {
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
    return [...this.endedAt.values()].every((r) => r >= rank);
  }

  private async reach(name: string, gate: Gate, d: Deployment, step?: number): Promise<void> {
    const rank = rankOf(gate, step);
    this.tookLock(name);
    this.runs.set(name, d);
    this.reached.set(name, Math.max(this.reached.get(name) ?? 0, rank));
    if (gate === 'healthy') this.holding.delete(name);
    this.notify();
    if (gate === 'up') {
      // In the order of hosts, max-parallel at a time.
      const before = this.hosts
        .slice(
          0,
          this.hosts.findIndex((h) => h.name === name),
        )
        .map((h) => h.name);
      await this.until(() => this.holding.size < this.maxParallel && before.every((b) => this.wentUp.has(b)));
      this.holding.add(name);
      this.wentUp.add(name);
      this.notify();
      return;
    }
    if (gate === 'detected') this.detected.add(name);
    if (gate === 'pre-deploy') {
      // Only the first host runs it: the others start their color once it is done (or that host ended).
      const first = this.hosts[0]?.name ?? name;
      await this.until(() => (this.reached.get(first) ?? 0) >= rank);
      return;
    }
    await this.until(() => [...this.reached.values()].every((r) => r >= rank));
    // status only reports what each host serves, whatever that is.
    if (gate === 'detected' && d.config.command !== 'status') this.agree();
    if (gate === 'cleanup') this.committed = true;
  }

  /** Every host must serve the same color (or none): otherwise nothing changes, and the table says who serves what. */
  private agree(): void {
    this.agreement ??= this.disagreement() ?? '';
    if (this.agreement) {
      this.fail(this.agreement, 'No host goes further.');
      throw new StepFailure(this.agreement);
    }
  }

  private disagreement(): string | undefined {
    const seen = this.hosts
      .filter((h) => this.detected.has(h.name))
      .map((h) => ({ name: h.name, docker: h.docker, r: this.runs.get(h.name)?.result }));
    const colors = new Set(seen.map((s) => s.r?.previousColor ?? 'none'));
    if (colors.size <= 1) return undefined;
    const rows = seen.map(({ name, docker, r }) => {
      const proxies = (r?.proxies ?? []).map((p) => `${p.container} → ${p.color ?? '?'}`).join(', ') || 'no proxy';
      const running = Object.entries(r?.running ?? {})
        .filter(([, up]) => up)
        .map(([c]) => c);
      return `  ${name} (${docker}): serves ${r?.previousColor ?? 'no color'}; ${proxies}; running: ${running.join(', ') || 'none'}`;
    });
    const recovered = seen.filter((s) => s.r?.interrupted).map((s) => s.name);
    return (
      `the hosts do not agree on the live color, so ${recovered.length ? `nothing more was changed (unfinished runs were dealt with on ${recovered.join(', ')}: see each host)` : 'nothing was changed'}:\n` +
      `${rows.join('\n')}\n` +
      'Bring them to one color first (deploy or roll back the odd host alone, with hosts naming only it), then run again.'
    );
  }
}

/** Runs the command on every host together; the result is the fleet's, with each host's own inside. */
export async function executeFleet(
  hosts: FleetHost[],
  options: { maxParallel: number; log: Logger; clock: Clock; signal?: AbortSignal },
): Promise<Result> {
  const started = options.clock.now();
  const fleet = new Fleet(hosts, options.maxParallel, options.log, options.signal);
  // Taken one engine after the other, in the order of their addresses: two runs that name the same hosts in another
  // order do not each hold one lock while waiting for the other's.
  const order = [...hosts].sort((a, b) => (a.docker < b.docker ? -1 : a.docker > b.docker ? 1 : 0));
  const turnOf = (h: FleetHost) => {
    const before = order[order.indexOf(h) - 1];
    return before ? fleet.lockTurns.get(before.name) : undefined;
  };
  const runs = new Map<string, Deployment>();
  const results = await Promise.all(
    hosts.map(async (h) => {
      const deps: Deps = {
        ...h.deps,
        signal: fleet.abort.signal,
        fleet: fleet.member(h.name),
        locks: {
          holders: (keys) => h.deps.locks.holders(keys),
          acquire: async (keys, signal) => {
            try {
              await turnOf(h);
              if (fleet.abort.signal.aborted) throw new StepFailure(`stopped before its lock: ${fleet.reason}`);
              return await h.deps.locks.acquire(keys, signal);
            } finally {
              fleet.tookLock(h.name);
            }
          },
        },
      };
      const run = new Deployment(h.config, deps);
      runs.set(h.name, run);
      try {
        return { host: h, result: await run.run() };
      } catch (error) {
        fleet.fail(`${h.name} failed: unexpected error: ${firstLine(error)}`);
        return {
          host: h,
          result: { ...failedResult(h.config.command, 3), error: `unexpected error: ${(error as Error).message}` },
        };
      } finally {
        fleet.ended(h.name);
      }
    }),
  );
  const result = fleetResult(results, options.clock.now() - started, fleet.why());
  // on-failure-command once, told the fleet's outcome, once every host is settled and every lock released.
  const first = runs.get(hosts[0]?.name ?? '');
  if (first && result.exitCode !== 0) {
    const known = [...runs.values()].every((d) => d.detected) && new Set(results.map((r) => r.result.color)).size === 1;
    await first.onFailure(
      { ...result, targetColor: results.find((r) => r.result.targetColor)?.result.targetColor },
      known,
    );
  }
  result.hooks = results.flatMap((r) => r.result.hooks);
  result.durationMs = options.clock.now() - started;
  return result;
}

/** The fleet's result: one color when every host ends on it; the worst exit code; each host's own inside. */
export function fleetResult(runs: { host: FleetHost; result: Result }[], durationMs: number, reason?: string): Result {
  const first = runs[0]?.result;
  const command = first?.command ?? 'deploy';
  const hosts: HostResult[] = runs.map(({ host, result }) => ({
    host: host.name,
    docker: host.docker,
    ...result,
    hooks: [...result.hooks],
  }));
  const exitCode = Math.max(...runs.map((r) => r.result.exitCode)) as Result['exitCode'];
  const colors = new Set(runs.map((r) => r.result.color));
  const color = colors.size === 1 ? first?.color : undefined;
  const all = (status: Result['status']) => runs.every((r) => r.result.status === status);
  const status: Result['status'] =
    exitCode === 0
      ? (first?.status ?? 'failed')
      : exitCode !== 3 && runs.some((r) => r.result.rolledBack) && !all('failed')
        ? 'rolled-back'
        : 'failed';
  const result: Result = {
    ...failedResult(command, exitCode),
    status,
    color,
    port: color === undefined ? undefined : first?.port,
    previousColor: first?.previousColor,
    previousPort: first?.previousPort,
    targetColor: first?.targetColor,
    rolledBack: runs.some((r) => r.result.rolledBack),
    durationMs,
    proxies: runs.flatMap(({ host, result }) => result.proxies.map((p) => ({ ...p, host: host.name }))),
    hosts,
  };
  if (exitCode !== 0) result.error = fleetError(hosts, color, reason);
  return result;
}

function fleetError(hosts: HostResult[], color: string | undefined, reason: string | undefined): string {
  const colors = (h: HostResult) =>
    `${h.host} ${h.exitCode === 3 ? `${h.color ?? 'unknown'} (not restored)` : (h.color ?? 'unknown')}`;
  const known = new Set(hosts.filter((h) => h.color !== undefined).map((h) => h.color));
  const where = hosts.some((h) => h.exitCode === 3)
    ? `NOT every host could be restored: ${hosts.map(colors).join(', ')}.`
    : color !== undefined
      ? `Every host serves ${color}.`
      : known.size > 1
        ? `The hosts do NOT serve one color: ${hosts.map(colors).join(', ')}.`
        : 'Every host serves what it served before the run.';
  const lines = hosts.map((h) => {
    const text = (h.error ?? '').split('\n').filter(Boolean).join(' ');
    return `  - ${h.host} (${h.docker}): ${h.status}, exit code ${h.exitCode}, serving ${h.color ?? 'unknown'}${text ? `: ${text}` : ''}`;
  });
  return `${reason ?? 'the run failed'}\n${where}\nEach host:\n${lines.join('\n')}`;
}
