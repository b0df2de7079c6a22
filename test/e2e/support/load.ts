// Load generator for zero-downtime checks, built on autocannon.
//
// Fresh connections: autocannon's `reconnectRate: 1` closes the socket after
// every response and opens a new one for the next request. In that mode
// autocannon itself never emits 'response' (httpClient.js resets the
// connection before emitting it), so all counting is done here, on each
// Client's 'request' / 'headers' / 'connError' / 'timeout' events.
import type { Socket } from 'node:net';
import autocannon from 'autocannon';
import { get } from './http.js';

/** byColor key for responses without an X-Color header (e.g. Nginx's own 502). */
export const NO_COLOR = '(none)';

export interface LoadOptions {
  /** Full URL requested over and over, e.g. http://127.0.0.1:8080/ */
  url: string;
  /** Concurrent connections, each with one request in flight (default 10). */
  connections?: number;
  /** Open a new TCP connection for every request (default: keep-alive). */
  freshConnections?: boolean;
  headers?: Record<string, string>;
  /** A request unanswered for this long counts as a timeout (default 10 s). */
  timeoutMs?: number;
  /** Stop by itself after this long (default: run until stop()). */
  durationMs?: number;
  /** Record every answer in the report's timeline (when, which color, which status). Default: off. */
  timeline?: boolean;
}

/** One answer: epoch ms at which its status line and headers arrived, its color (X-Color, or NO_COLOR), its status. */
export type TimelineEntry = [at: number, color: string, status: number];

export interface ColorSeen {
  count: number;
  /** Epoch ms of the first and last response with this color. */
  firstAt: number;
  lastAt: number;
}

export interface LoadReport {
  url: string;
  startedAt: number;
  /** Set once the load has stopped. */
  stoppedAt: number | undefined;
  durationMs: number;
  /** Requests written to a socket. */
  sent: number;
  /** Responses received (counted when the status line and headers arrive). */
  responses: number;
  byStatus: Record<string, number>;
  non200: number;
  /** Socket errors: refused, reset, ... */
  connErrors: number;
  timeouts: number;
  /** Server closed the connection while a request was waiting for its answer. */
  dropped: number;
  /** Requests cut off by stop() itself: sent - responses - failures. */
  inFlightAtStop: number;
  connectionsOpened: number;
  byColor: Record<string, ColorSeen>;
  /** Responses by color (X-Color, or NO_COLOR) and status: who answered what. */
  byColorStatus: Record<string, Record<string, number>>;
  /** responses / duration. */
  responsesPerSec: number;
  /** Every answer in order, when the load was started with `timeline: true` (else empty). */
  timeline: TimelineEntry[];
}

export interface LoadRun {
  /** Live counters while running. */
  snapshot(): LoadReport;
  /** Stops sending (within ~0.1 s) and resolves with the final counts. */
  stop(): Promise<LoadReport>;
}

export function startLoad(opts: LoadOptions): LoadRun {
  const startedAt = Date.now();
  let stoppedAt: number | undefined;
  let sent = 0;
  let responses = 0;
  let connErrors = 0;
  let timeouts = 0;
  let dropped = 0;
  let connectionsOpened = 0;
  const byStatus: Record<string, number> = {};
  const byColor: Record<string, ColorSeen> = {};
  const byColorStatus: Record<string, Record<string, number>> = {};
  const timeline: TimelineEntry[] = [];

  function setupClient(client: autocannon.Client): void {
    let awaitingResponse = false;
    let lastConn: Socket | undefined;
    client.on('request', () => {
      sent++;
      awaitingResponse = true;
      if (client.conn !== lastConn) {
        lastConn = client.conn;
        connectionsOpened++;
        // 'end' = the server closed the connection. Prepended so it runs before
        // autocannon's own 'end' handler, which sends the next request.
        client.conn.prependOnceListener('end', () => {
          if (awaitingResponse) dropped++;
          awaitingResponse = false;
        });
      }
    });
    client.on('headers', ({ statusCode, headers }) => {
      awaitingResponse = false;
      responses++;
      byStatus[statusCode] = (byStatus[statusCode] ?? 0) + 1;
      const color = headerValue(headers, 'x-color') ?? NO_COLOR;
      const now = Date.now();
      const seen = (byColor[color] ??= { count: 0, firstAt: now, lastAt: now });
      seen.count++;
      seen.lastAt = now;
      const statuses = (byColorStatus[color] ??= {});
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (opts.timeline) timeline.push([now, color, statusCode]);
    });
    client.on('connError', () => {
      awaitingResponse = false;
      connErrors++;
    });
    // Emitted after autocannon already sent the replacement request.
    client.on('timeout', () => {
      timeouts++;
    });
  }

  const instance = autocannon({
    url: opts.url,
    connections: opts.connections ?? 10,
    headers: opts.headers ?? {},
    timeout: (opts.timeoutMs ?? 10_000) / 1000,
    // autocannon needs a duration; one day stands for "until stop()".
    duration: (opts.durationMs ?? 86_400_000) / 1000,
    // stop() only takes effect at the next sample tick (default 1 s).
    sampleInt: 100,
    reconnectRate: opts.freshConnections ? 1 : 0, // 0 = never
    setupClient,
  });
  const finished = Promise.resolve(instance).then(() => {
    stoppedAt = Date.now();
  });

  function snapshot(): LoadReport {
    const durationMs = (stoppedAt ?? Date.now()) - startedAt;
    const ok = byStatus['200'] ?? 0;
    return {
      url: opts.url,
      startedAt,
      stoppedAt,
      durationMs,
      sent,
      responses,
      byStatus: { ...byStatus },
      non200: responses - ok,
      connErrors,
      timeouts,
      dropped,
      inFlightAtStop: stoppedAt === undefined ? 0 : sent - responses - connErrors - timeouts - dropped,
      connectionsOpened,
      byColor: structuredClone(byColor),
      byColorStatus: structuredClone(byColorStatus),
      responsesPerSec: durationMs > 0 ? Math.round((responses * 1000) / durationMs) : 0,
      timeline: [...timeline],
    };
  }

  return {
    snapshot,
    async stop() {
      instance.stop();
      await finished;
      return snapshot();
    },
  };
}

/**
 * The answers other than 200, as `<color> <status>` (color NO_COLOR for answers without X-Color, e.g. Nginx's own
 * 502) with their counts: `{ 'green 500': 812 }`.
 */
export function non200ByColor(report: LoadReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [color, statuses] of Object.entries(report.byColorStatus)) {
    for (const [status, count] of Object.entries(statuses)) if (status !== '200') out[`${color} ${status}`] = count;
  }
  return out;
}

/** The answers of a timeline received in [from, to) (epoch ms): how many, and how many of them by each color. */
export function colorShare(
  timeline: readonly TimelineEntry[],
  from: number,
  to: number,
): { total: number; byColor: Record<string, number> } {
  const byColor: Record<string, number> = {};
  let total = 0;
  for (const [at, color] of timeline) {
    if (at < from || at >= to) continue;
    total++;
    byColor[color] = (byColor[color] ?? 0) + 1;
  }
  return { total, byColor };
}

function headerValue(flat: string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i]!.toLowerCase() === name) return flat[i + 1];
  }
  return undefined;
}

export interface SlowResult {
  /** 0 if the request failed without a response. */
  status: number;
  color: string | undefined;
  error: string | undefined;
  durationMs: number;
}

/**
 * Fires n concurrent GET <url>/slow?ms=<ms> requests, each on its own
 * connection; resolves once all have finished, in request order.
 */
export function slowRequests(
  url: string,
  n: number,
  opts: { ms?: number; headers?: Record<string, string> } = {},
): Promise<SlowResult[]> {
  const ms = opts.ms ?? 2_000;
  const target = new URL(url);
  target.pathname = '/slow';
  target.search = `?ms=${ms}`;
  return Promise.all(
    Array.from({ length: n }, async (): Promise<SlowResult> => {
      const started = Date.now();
      try {
        const res = await get(target.href, { headers: opts.headers, timeoutMs: ms + 10_000 });
        return { status: res.status, color: res.color, error: undefined, durationMs: Date.now() - started };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { status: 0, color: undefined, error: message, durationMs: Date.now() - started };
      }
    }),
  );
}
