// After the switch, while the old color still runs: what the proxies' access logs say the new color answered to
// real requests, judged against the gate (max-error-rate over at least min-requests, max-latency-ms).
import type { Config, Watch } from '../config/config.js';
import type { AccessRecord } from '../proxy/access-log.js';
import { colorOfUpstream, type ColorAddresses } from '../proxy/verify.js';
import type { Deployment } from './deployment.js';
import { StepFailure } from './errors.js';
import type { ColorTraffic, TrafficStep, TrafficVerdict, TrafficView, WatchedProxy } from './result.js';

/** How often the figures are judged: a failing release is rolled back within about this long of the gate's crossing. */
export const WATCH_POLL_MS = 1_000;
/**
 * How long a watch that ends waits for the first line of a proxy that showed none yet: `docker logs --follow` takes
 * a few tens of ms to print, and a watch as short as a quick drain would otherwise end before it could.
 */
export const FIRST_LINE_MS = 1_000;

export interface Tally {
  requests: number;
  errors: number;
  latencies: number[];
}

/** The 95th percentile by nearest rank; null for no value. */
export function p95(values: readonly number[]): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * 0.95) - 1] ?? null;
}

export function figures(t: Tally): ColorTraffic {
  return {
    requests: t.requests,
    errors: t.errors,
    errorRate: t.requests ? (100 * t.errors) / t.requests : null,
    p95Ms: p95(t.latencies),
  };
}

export function percent(rate: number | null): string {
  return rate === null ? '—' : `${rate.toFixed(1)}%`;
}

/**
 * The gate. Fewer than min-requests requests tell nothing: passed, and said so. Above max-error-rate fails
 * (exactly at it passes); so does a p95 above max-latency-ms, judged over at least min-requests timed requests.
 */
export function judge(
  t: Tally,
  gate: Watch,
  color: string,
): { verdict: Exclude<TrafficVerdict, 'not watched' | 'skipped'>; detail: string } {
  const f = figures(t);
  const of = `${t.requests} request${t.requests === 1 ? '' : 's'} to ${color}`;
  if (t.requests < gate.minRequests) {
    return { verdict: 'too few requests', detail: `${of}, fewer than min-requests (${gate.minRequests}): not judged` };
  }
  // In whole numbers where it can be: 1 error in 20 requests is exactly 5%, which passes max-error-rate 5.
  const limit = Math.round(gate.maxErrorRate * t.requests * 1e6) / 1e6;
  if (t.errors * 100 > limit) {
    return {
      verdict: 'failed',
      detail: `${t.errors} of ${t.requests} requests to ${color} failed (${percent(f.errorRate)}), above max-error-rate ${gate.maxErrorRate}%`,
    };
  }
  const latency = f.p95Ms === null ? '' : `, p95 ${f.p95Ms} ms`;
  const passed = `${of}, ${t.errors} failed (${percent(f.errorRate)})${latency}`;
  if (gate.maxLatencyMs === undefined) return { verdict: 'passed', detail: passed };
  if (t.latencies.length < gate.minRequests) {
    return { verdict: 'passed', detail: `${passed}; latency not judged: the access log has no request_time` };
  }
  if ((f.p95Ms ?? 0) > gate.maxLatencyMs) {
    return {
      verdict: 'failed',
      detail: `p95 request time of ${color} ${f.p95Ms} ms over ${t.latencies.length} requests, above max-latency-ms ${gate.maxLatencyMs}`,
    };
  }
  return { verdict: 'passed', detail: passed };
}

/** What the watch has read of one proxy. */
interface ProxyLog {
  lines: number;
  format: WatchedProxy['format'];
  /** Why its log cannot be read; undefined while it is followed. */
  problem?: string;
  following: Promise<void>;
  /** Settles at its first line. */
  first: Promise<void>;
  sawFirst: () => void;
}

/**
 * One step of the watch: follows each proxy's access log from its switch, and counts each color's requests as
 * they are logged. stop() ends the follows.
 */
export class TrafficWatch {
  private readonly logs = new Map<string, ProxyLog>();
  private readonly tallies = new Map<string, Tally>();
  private readonly started: number;
  private readonly stopping = new AbortController();
  /** With several hosts: the new color's requests in this step on every host, this one's included. */
  private readonly everyHost?: () => Tally;

  constructor(
    private readonly d: Deployment,
    private readonly step: { name: string; percent: number },
    private readonly colors: ColorAddresses[],
    private readonly next: string,
  ) {
    this.started = d.deps.clock.now();
    for (const c of colors) this.tallies.set(c.color, { requests: 0, errors: 0, latencies: [] });
    this.everyHost = d.deps.fleet?.traffic(step.name, () => this.tally());
    for (const [container, at] of d.switchedAt) {
      let sawFirst = () => {};
      const first = new Promise<void>((resolve) => (sawFirst = resolve));
      const log: ProxyLog = { lines: 0, format: null, following: Promise.resolve(), first, sawFirst };
      log.following = d
        .engineTimeOf(at)
        .then((since) => d.proxy.followAccessLog(container, since, (r) => this.count(log, r), this.stopping.signal))
        .then(
          (problem) => void (log.problem = problem),
          (error: Error) => void (log.problem = error.message),
        );
      this.logs.set(container, log);
    }
  }

  /**
   * Ends the follows, once what they printed is counted. With graceMs, a proxy whose log showed no line yet (whose
   * follow may not have printed yet) gets that long to show its first.
   */
  async stop(graceMs = 0): Promise<void> {
    const silent = [...this.logs.values()].filter((l) => !l.lines && !l.problem);
    if (graceMs && silent.length && !this.stopping.signal.aborted) {
      const done = new AbortController();
      await Promise.race([
        Promise.all(silent.map((l) => Promise.race([l.first, l.following]))),
        this.d.deps.clock.sleep(graceMs, this.d.orCancel(done.signal)),
      ]);
      done.abort();
    }
    this.stopping.abort();
    await Promise.all([...this.logs.values()].map((l) => l.following));
  }

  private count(log: ProxyLog, r: AccessRecord): void {
    if (!log.lines++) log.sawFirst();
    log.format = log.format === 'bluegreen' ? 'bluegreen' : r.format;
    if (r.agent === this.d.ownAgent) return;
    // Each upstream tried counts for its color: one that refused or timed out before the other color answered
    // failed that request. An address of neither color is another site of the same proxy. The combined format
    // tells no upstream: the request counts for the new color; so does, once all requests go to it, a 502 or 504
    // the proxy gave with no upstream (a name of the new color that does not resolve). Other answers of the proxy's
    // own (a 503 of limit_req, a `return`) are no color's.
    const last = r.attempts.length - 1;
    const tried = r.attempts.map((a, i) => ({
      color: this.colorOf(a.address),
      failed: i === last ? r.failed : (a.status ?? 502) >= 500,
    }));
    const unresolved = r.status === 502 || r.status === 504;
    if (!tried.length && (r.format === 'combined' || (unresolved && this.step.percent === 100))) {
      tried.push({ color: this.next, failed: r.failed });
    }
    for (const [i, t] of tried.entries()) {
      const tally = t.color === undefined ? undefined : this.tallies.get(t.color);
      if (!tally) continue;
      for (const x of t.color === this.next ? [tally, this.d.trafficTotal] : [tally]) {
        x.requests++;
        if (t.failed) x.errors++;
        if (i === tried.length - 1 && r.requestMs !== undefined) x.latencies.push(r.requestMs);
      }
    }
  }

  private colorOf(address: string): string | undefined {
    const told = colorOfUpstream(address, this.colors);
    return 'color' in told ? told.color : undefined;
  }

  private tally(): Tally {
    return this.tallies.get(this.next) ?? { requests: 0, errors: 0, latencies: [] };
  }

  /**
   * The new color's figures in this step, judged. With several hosts, also those of every host together: hosts that
   * each saw fewer than min-requests would otherwise each pass a release that fails on all of them.
   */
  judge(): ReturnType<typeof judge> {
    const own = judge(this.tally(), this.d.config.watch, this.next);
    if (!this.everyHost || own.verdict === 'failed') return own;
    const all = judge(this.everyHost(), this.d.config.watch, this.next);
    if (all.verdict === 'failed') return { verdict: 'failed', detail: `over every host, ${all.detail}` };
    if (own.verdict === 'too few requests' && all.verdict === 'passed') {
      return { verdict: 'passed', detail: `${own.detail}; over every host, ${all.detail}` };
    }
    return own;
  }

  /** Each proxy's log: read, or why it shows nothing. */
  proxies(checked: ReadonlySet<string>): WatchedProxy[] {
    return [...this.logs].map(([container, log]) => {
      const watched = log.lines > 0;
      const lines = `${log.lines} access-log line${log.lines === 1 ? '' : 's'} (${log.format} format)`;
      const note = log.problem
        ? `${watched ? `${lines}, then ` : ''}${log.problem}`
        : watched
          ? lines
          : `no access-log line in docker logs since the switch${checked.has(container) ? ", not even the tool's own check" : ''}: access_log off, or written to a file`;
      return { container, watched, format: log.format, lines: log.lines, note };
    });
  }

  /** Adds this step to the result's traffic: its figures per color, and the totals and verdict so far. */
  settle(verdict: TrafficStep['verdict'], detail: string, checked: ReadonlySet<string>): void {
    const ms = this.d.deps.clock.now() - this.started;
    const colors = Object.fromEntries([...this.tallies].map(([color, t]) => [color, figures(t)]));
    const step: TrafficStep = {
      ...this.step,
      startedAt: new Date(this.started).toISOString(),
      ms,
      colors,
      verdict,
      detail,
    };
    const before = this.d.result.traffic?.steps ?? [];
    const total = figures(this.d.trafficTotal);
    // A step too short to judge (the watch after a quick drain) does not undo what the canary steps before it
    // showed: the release is then judged on all its requests so far.
    const overall =
      verdict === 'too few requests' && before.length
        ? judge(this.d.trafficTotal, this.d.config.watch, this.next)
        : { verdict, detail };
    const kept = overall.verdict === 'passed' ? overall : { verdict, detail };
    this.d.result.traffic = {
      verdict: kept.verdict,
      detail: kept.verdict === verdict ? detail : `${kept.detail}, over every step`,
      color: this.next,
      requests: total.requests,
      errors: total.errors,
      errorRate: total.errorRate,
      p95Ms: total.p95Ms,
      windowMs: before.reduce((sum, b) => sum + b.ms, ms),
      steps: [...before, step],
      proxies: this.proxies(checked),
    };
  }
}

/**
 * How long the old color may drain (0: no drain; cleanup keep has none), and how long the traffic is watched
 * meanwhile: 0, no watch; 'drain', as long as the drain (the default); a number, at least that long, and the drain
 * too. Only switched proxies have a log to read.
 */
export function watchWindow(config: Config, proxies: number): { drainMs: number; watchMs: number | 'drain' } {
  const drainMs = config.drainMs > 0 && config.cleanup !== 'keep' ? config.drainMs : 0;
  const watchMs = !proxies ? 0 : (config.watch.ms ?? (drainMs ? 'drain' : 0));
  return { drainMs, watchMs };
}

export function skipped(next: string, detail: string): TrafficView {
  return {
    verdict: 'skipped',
    detail,
    color: next,
    requests: 0,
    errors: 0,
    errorRate: null,
    p95Ms: null,
    windowMs: 0,
    steps: [],
    proxies: [],
  };
}

/**
 * Watches one step for at least minMs and until `until` settles (the drain), reading the logs every second; a gate
 * crossed ends it at once with a StepFailure, and the undo sends the traffic back to the old color, which still
 * runs. `checked` are the proxies the tool's own check went through (their log must show it).
 */
export async function watchTraffic(
  d: Deployment,
  watch: TrafficWatch,
  window: { minMs: number; until?: Promise<unknown> },
  checked: ReadonlySet<string>,
): Promise<void> {
  const start = d.deps.clock.now();
  let drained = !window.until;
  // The drain's end wakes the watch at once: the old color's cleanup should not wait for the next poll.
  const wake = new AbortController();
  const woken = () => {
    drained = true;
    wake.abort();
  };
  void window.until?.then(woken, woken);
  try {
    for (;;) {
      const left = start + window.minMs - d.deps.clock.now();
      if (!drained || left > 0) {
        const ms = left > 0 ? Math.min(WATCH_POLL_MS, left) : WATCH_POLL_MS;
        await d.deps.clock.sleep(ms, drained ? d.deps.signal : d.orCancel(wake.signal));
      }
      d.checkCancelled('during the traffic watch');
      const over = drained && d.deps.clock.now() - start >= window.minMs;
      if (over) await watch.stop(FIRST_LINE_MS);
      const judged = watch.judge();
      if (judged.verdict === 'failed' || over) {
        settle(d, watch, judged, checked);
        // Only a rollback gets here with a failed verdict: the color it leaves still drains, and the step lasts.
        await window.until;
        await d.deps.clock.sleep(start + window.minMs - d.deps.clock.now(), d.deps.signal);
        d.checkCancelled('during the drain');
        return;
      }
    }
  } finally {
    await watch.stop();
  }
}

function settle(
  d: Deployment,
  watch: TrafficWatch,
  judged: ReturnType<typeof judge>,
  checked: ReadonlySet<string>,
): void {
  const proxies = watch.proxies(checked);
  for (const p of proxies.filter((x) => !x.watched)) d.log.warn(`NOT WATCHED: ${p.container}: ${p.note}.`);
  const none = !proxies.some((p) => p.watched);
  const verdict = none && judged.verdict !== 'failed' ? 'not watched' : judged.verdict;
  const detail = verdict === 'not watched' ? 'no proxy access log could be read (see the proxies)' : judged.detail;
  const unwatched = proxies.filter((p) => !p.watched).map((p) => p.container);
  const fullDetail = unwatched.length && !none ? `${detail}; not watched: ${unwatched.join(', ')}` : detail;
  watch.settle(verdict, fullDetail, checked);
  // A rollback is the way out of a bad release: it is never reversed by the watch, only reported.
  if (verdict === 'failed' && d.config.command === 'rollback') {
    d.log.warn(`The traffic watch failed: ${fullDetail}. The rollback stands (a rollback is not reversed by it).`);
    return;
  }
  if (verdict === 'failed') throw new StepFailure(`The traffic watch failed: ${fullDetail}.`);
  d.log.info(`Traffic watch: ${verdict}: ${fullDetail}.`);
}
