// Load through the proxy during a swap, one record per request: { k: kind, s: sent, e: ended (epoch ms),
// st: HTTP status (0 = none), c: X-Color, err: error code, reused: the connection had served before, retried }.
//
// Three kinds of client, each at a steady rate, concurrently, plus a trickle of slow requests:
//   fresh     a new TCP connection per request (node:http with agent: false)
//   keepalive reused connections, no retry (an http.Agent with keepAlive, as Node's fetch does)
//   retry     reused connections; an idempotent GET whose reused connection is reset or closed before any
//             response is sent once more, on a new connection (what curl does; browsers retry too)
//   slow      GET /slow?ms=N on fresh connections, fired every slowEveryMs: some are always in flight at the switch
import http from 'node:http';
import { now } from './proc.mjs';

export const KINDS = ['fresh', 'keepalive', 'retry'];
export const KIND_LABELS = {
  fresh: 'fresh connection per request',
  keepalive: 'keep-alive, no retry',
  retry: 'keep-alive, retry once on reset',
  slow: 'slow requests',
};

/** A reused connection that dies before any response: the one case a client may safely resend a GET. */
const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** One GET; never rejects. */
function get(url, agent, timeoutMs) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      resolve(result);
    };
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      const color = res.headers['x-color'];
      res.on('end', () => finish({ status: res.statusCode, color }));
      // The connection closed in the middle of the body.
      res.on('close', () => {
        if (!res.complete) finish({ status: res.statusCode, color, error: 'BODY_CUT', reused: req.reusedSocket });
      });
      res.on('error', () => {});
      res.resume();
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error) => finish({ status: 0, error: error.code ?? error.message, reused: req.reusedSocket }));
  });
}

/**
 * Starts the load of `kinds` (all three by default), each at ratePerSec, and the slow requests when slowEveryMs is
 * given; returns { stopSlow(), stop() }. stop() stops sending, waits for every request in flight and
 * resolves with { records, skipped } (skipped: ticks left out because too many requests of that kind were in
 * flight, which would mean the client, not the server, was the bottleneck).
 */
export function startLoad(baseUrl, { ratePerSec, slowEveryMs, slowMs, kinds = KINDS }) {
  const records = [];
  const pending = new Set();
  const skipped = Object.fromEntries(kinds.map((k) => [k, 0]));
  const inFlight = Object.fromEntries(kinds.map((k) => [k, 0]));
  const agents = Object.fromEntries(
    kinds.map((k) => [k, k === 'fresh' ? false : new http.Agent({ keepAlive: true, maxSockets: 8 })]),
  );
  const fastUrl = `${baseUrl}/`;
  const slowUrl = `${baseUrl}/slow?ms=${slowMs}`;

  const track = (promise) => {
    pending.add(promise);
    promise.finally(() => pending.delete(promise));
  };

  async function fire(kind) {
    if (inFlight[kind] >= 8) {
      skipped[kind]++;
      return;
    }
    inFlight[kind]++;
    const s = now();
    let r = await get(fastUrl, agents[kind], 10_000);
    let retried;
    if (kind === 'retry' && r.error && r.reused && RETRYABLE.has(r.error)) {
      retried = r.error;
      // On a new connection, as curl does: another pooled one may be closing too.
      r = await get(fastUrl, false, 10_000);
    }
    inFlight[kind]--;
    records.push({ k: kind, s, e: now(), st: r.status, c: r.color, err: r.error, reused: r.reused, retried });
  }

  async function fireSlow() {
    const s = now();
    const r = await get(slowUrl, false, slowMs + 15_000);
    records.push({ k: 'slow', s, e: now(), st: r.status, c: r.color, err: r.error });
  }

  const timers = kinds.map((kind) => setInterval(() => track(fire(kind)), 1000 / ratePerSec));
  let slowTimer = slowEveryMs ? setInterval(() => track(fireSlow()), slowEveryMs) : undefined;

  return {
    stopSlow() {
      clearInterval(slowTimer);
      slowTimer = undefined;
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      if (slowTimer) clearInterval(slowTimer);
      while (pending.size) await Promise.all([...pending]);
      for (const agent of Object.values(agents)) if (agent) agent.destroy();
      records.sort((a, b) => a.s - b.s);
      return { records, skipped };
    },
  };
}

/** A request failed: no answer, a cut answer or a non-2xx status. */
export const failed = (r) => Boolean(r.err) || r.st < 200 || r.st > 299;
