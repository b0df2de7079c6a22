// After the switch, while the old color still runs: what the proxies' access logs say the new color answered to
// real requests, judged against the gate (max-error-rate over at least min-requests, max-latency-ms).
import type { Config, Watch } from '../config/config.js';
import type { AccessRecord } from '../proxy/access-log.js';
import { colorOfUpstream, type ColorAddresses } from '../proxy/verify.js';
import type { Deployment } from './deployment.js';
import { StepFailure } from './errors.js';
import type { ColorTraffic, TrafficStep, TrafficVerdict, TrafficView, WatchedProxy } from './result.js';

/** How often the logs are read: a failing release is rolled back within about this long of the gate's crossing. */
export const WATCH_POLL_MS = 1_000;

interface Tally {
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
  from: number | string;
  lines: number;
  format: WatchedProxy['format'];
  problem?: string;
}

/** One step of the watch: reads the proxies' access logs on from their switch, and counts each color's requests. */
export class TrafficWatch {
  private readonly logs = new Map<string, ProxyLog>();
  private readonly tallies = new Map<string, Tally>();
  private readonly started: number;

  constructor(
    private readonly d: Deployment,
    private readonly step: { name: string; percent: number },
    private readonly colors: ColorAddresses[],
    private readonly next: string,
  ) {
    this.started = d.deps.clock.now();
    for (const [container, at] of d.switchedAt) this.logs.set(container, { from: at, lines: 0, format: null });
    for (const c of colors) this.tallies.set(c.color, { requests: 0, errors: 0, latencies: [] });
  }

  async read(): Promise<void> {
    await Promise.all(
      [...this.logs].map(async ([container, log]) => {
        const page = await this.d.proxy
          .accessLog(container, log.from)
          .catch((error: Error) => ({ problem: error.message }));
        if ('problem' in page) {
          log.problem = page.problem;
          return;
        }
        log.problem = undefined;
        if (page.cursor) log.from = page.cursor;
        for (const record of page.records) this.count(log, record);
      }),
    );
  }

  private count(log: ProxyLog, r: AccessRecord): void {
    log.lines++;
    log.format = log.format === 'bluegreen' ? 'bluegreen' : r.format;
    if (r.own) return;
    // The combined format does not tell the upstream: every request counts for the new color. An upstream of
    // neither color is another site of the same proxy; none at all, a request the proxy answered itself.
    const told = r.upstream === undefined ? undefined : colorOfUpstream(r.upstream, this.colors);
    const color = r.format === 'combined' ? this.next : told && 'color' in told ? told.color : undefined;
    const tally = color === undefined ? undefined : this.tallies.get(color);
    if (!tally) return;
    for (const t of color === this.next ? [tally, this.d.trafficTotal] : [tally]) {
      t.requests++;
      if (r.failed) t.errors++;
      if (r.requestMs !== undefined) t.latencies.push(r.requestMs);
    }
  }

  /** The new color's figures in this step, judged. */
  judge(): ReturnType<typeof judge> {
    return judge(
      this.tallies.get(this.next) ?? { requests: 0, errors: 0, latencies: [] },
      this.d.config.watch,
      this.next,
    );
  }

  /** Each proxy's log: read, or why it shows nothing. */
  proxies(checked: ReadonlySet<string>): WatchedProxy[] {
    return [...this.logs].map(([container, log]) => {
      const watched = !log.problem && log.lines > 0;
      const note = log.problem
        ? log.problem
        : watched
          ? `${log.lines} access-log line${log.lines === 1 ? '' : 's'} (${log.format} format)`
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
    this.d.result.traffic = {
      verdict,
      detail,
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
 * How long the old color drains, and how long the traffic is watched meanwhile (0: no watch): the drain is the
 * default watch; cleanup keep has no drain. Only switched proxies have a log to read.
 */
export function watchWindow(config: Config, proxies: number): { drainMs: number; watchMs: number } {
  const drainMs = config.drainMs > 0 && config.cleanup !== 'keep' ? config.drainMs : 0;
  return { drainMs, watchMs: proxies ? (config.watch.ms ?? drainMs) : 0 };
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
 * Watches one step for windowMs, reading the logs every second; a gate crossed ends it at once with a StepFailure,
 * and the undo sends the traffic back to the old color, which still runs. `checked` are the proxies the tool's own
 * check went through (their log must show it).
 */
export async function watchTraffic(
  d: Deployment,
  watch: TrafficWatch,
  windowMs: number,
  checked: ReadonlySet<string>,
): Promise<void> {
  const start = d.deps.clock.now();
  for (;;) {
    const left = start + windowMs - d.deps.clock.now();
    await d.deps.clock.sleep(Math.max(0, Math.min(WATCH_POLL_MS, left)), d.deps.signal);
    d.checkCancelled('during the traffic watch');
    await watch.read();
    const judged = watch.judge();
    const over = d.deps.clock.now() - start >= windowMs;
    if (judged.verdict === 'failed' || over) return settle(d, watch, judged, checked);
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
  watch.settle(verdict, detail, checked);
  if (verdict === 'failed') throw new StepFailure(`The traffic watch failed: ${detail}.`);
  d.log.info(`Traffic watch: ${verdict}: ${detail}.`);
}
