import type { StatusRange } from './config/config.js';
import type { Clock, Http, HttpResponse, Logger } from './io.js';

export interface ProbeResult {
  ok: boolean;
  detail: string;
  /** The answer, when there was one. */
  response?: HttpResponse;
  /** No point in waiting longer (the container exited). */
  fatal?: boolean;
  /** Nothing answered at all (refused, reset): the next probe may come sooner than a whole interval. */
  silent?: boolean;
  /** The probe's own word on when the next one is worth sending, when that is sooner than the interval. */
  againInMs?: number;
}

export interface PollOutcome {
  ok: boolean;
  attempts: number;
  elapsedMs: number;
  detail: string;
}

const MAX_PROBE_MS = 5_000;
/** Even the probe at the deadline gets this long: a probe given a few ms tells nothing. */
const MIN_PROBE_MS = 1_000;
const PROGRESS_EVERY_MS = 10_000;
/** Errors that mean nothing listens on the port yet. */
const SILENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

/**
 * Probes until one answer is good or the deadline passes. The first probe goes at once. The log gets a line
 * when the answer changes and a progress line every 10 s, not a line per probe.
 */
export async function pollUntil(
  probe: (timeoutMs: number) => Promise<ProbeResult>,
  options: { what: string; timeoutMs: number; intervalMs: number; silentIntervalMs?: number },
  deps: { clock: Clock; log: Logger; signal?: AbortSignal },
): Promise<PollOutcome> {
  const { clock, log } = deps;
  const start = clock.now();
  const deadline = start + options.timeoutMs;
  let attempts = 0;
  let lastDetail = '';
  let lastProgress = start;
  for (;;) {
    attempts++;
    const remaining = deadline - clock.now();
    const result = await probe(Math.min(MAX_PROBE_MS, Math.max(MIN_PROBE_MS, remaining)));
    const elapsedMs = clock.now() - start;
    if (result.ok) {
      log.info(`${options.what}: ${result.detail} after ${attempts} probe(s), ${seconds(elapsedMs)}`);
      return { ok: true, attempts, elapsedMs, detail: result.detail };
    }
    if (result.fatal || clock.now() >= deadline) {
      log.info(`${options.what}: gave up after ${attempts} probe(s), ${seconds(elapsedMs)}: ${result.detail}`);
      return { ok: false, attempts, elapsedMs, detail: result.detail };
    }
    if (result.detail !== lastDetail) {
      log.info(`${options.what}: not yet (${result.detail})`);
      lastDetail = result.detail;
    } else if (clock.now() - lastProgress >= PROGRESS_EVERY_MS) {
      log.info(`${options.what}: still waiting, ${attempts} probes in ${seconds(elapsedMs)} (${result.detail})`);
      lastProgress = clock.now();
    }
    // The last wait ends at the deadline, where one more probe goes: a slow start gets every chance it was given.
    const interval = Math.min(
      options.intervalMs,
      result.silent ? (options.silentIntervalMs ?? Infinity) : Infinity,
      result.againInMs ?? Infinity,
    );
    await clock.sleep(Math.min(interval, deadline - clock.now()), deps.signal);
  }
}

export interface HttpExpectation {
  headers: Record<string, string>;
  statuses: StatusRange[];
  body: string;
}

/** One GET whose status and body must match what is expected. */
export async function probeHttp(
  http: Http,
  url: string,
  expect: HttpExpectation,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  try {
    const response = await http.get(url, { headers: expect.headers, timeoutMs, signal });
    if (!expect.statuses.some((r) => response.status >= r.from && response.status <= r.to)) {
      return { ok: false, response, detail: `HTTP ${response.status}, expected ${formatStatuses(expect.statuses)}` };
    }
    if (expect.body && !response.body.includes(expect.body)) {
      return {
        ok: false,
        response,
        detail: `HTTP ${response.status} but the body lacks ${JSON.stringify(expect.body)}`,
      };
    }
    return { ok: true, response, detail: `HTTP ${response.status}` };
  } catch (error) {
    // Refused, or reset before any answer (a published port whose container does not listen yet); a timeout is
    // an app that took the connection, and is asked at the usual pace.
    const code = (error as NodeJS.ErrnoException).code ?? '';
    return { ok: false, silent: SILENT.has(code), detail: describeNetworkError(error) };
  }
}

export function formatStatuses(statuses: StatusRange[]): string {
  return statuses.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

function describeNetworkError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'ECONNREFUSED') return 'connection refused';
  if (e.code === 'ECONNRESET') return 'connection reset';
  return e.message || String(error);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
