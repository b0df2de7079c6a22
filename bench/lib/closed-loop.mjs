// The load of bench:reload, in a worker thread: a closed loop of fresh-connection GETs as fast as the machine serves
// them, plus two light probes at a steady rate.
//
//   fresh      `concurrency` loops, each sending one GET on a new TCP connection (no keep-alive) and the next as
//              soon as the answer ends: exactly that many requests are in flight at any moment
//   slow       GET /slow?ms=N on a new connection every slowEveryMs: some are always in flight at a switch
//   keepalive  a GET every keepaliveEveryMs on a small pool of keep-alive connections, never resent: what a reload
//              does to idle keep-alive connections
//
// A closed loop runs at whatever rate the proxy and the app sustain, with no queue building up in the client (an
// open loop above that rate would time requests out in the client: failures that are not the reload's). The worker
// thread keeps the main thread's event loop free to run `docker exec`, the CLI and the events' timers while the
// load saturates its own.
//
// Records are kept in typed arrays (thousands of requests a second) and handed back by stop():
// { n, errors: string[], s, e, cn: Float64Array (epoch ms: sent, ended, TCP connection made, 0 when it was not
//   or the socket was reused), st: Uint16Array (HTTP status, 0 = none), c: Uint8Array (index in COLORS),
//   err: Uint8Array (index in errors, 0 = none), k: Uint8Array (index in KINDS) }.
import http from 'node:http';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

/** X-Color values, by index in the records' `c` (0: no header). */
export const COLORS = ['', 'blue', 'green', 'other'];
/** Request kinds, by index in the records' `k`. */
export const KINDS = ['fresh', 'slow', 'keepalive'];

/**
 * Starts the load in a worker thread; resolves once it runs, with { stop() → records, kill() }. url: the fast GET
 * (fresh and keepalive); slowUrl + slowEveryMs: the slow ones; keepaliveEveryMs: the keep-alive probe (0: none);
 * timeoutMs bounds every request, slowTimeoutMs the slow ones.
 */
export async function startClosedLoop(options) {
  const worker = new Worker(new URL(import.meta.url));
  const messages = [];
  const waiting = [];
  let failure;
  worker.on('message', (m) => (waiting.length ? waiting.shift()(m) : messages.push(m)));
  worker.on('error', (error) => {
    failure = error;
    while (waiting.length) waiting.shift()({ type: 'error', error });
  });
  const next = () =>
    failure
      ? Promise.reject(failure)
      : messages.length
        ? Promise.resolve(messages.shift())
        : new Promise((resolve) => waiting.push(resolve));
  worker.postMessage({ type: 'start', options });
  const started = await next();
  if (started.type !== 'started') throw new Error(`the load did not start: ${started.error ?? started.type}`);
  return {
    async stop() {
      worker.postMessage({ type: 'stop' });
      const m = await next();
      await worker.terminate();
      if (m.type !== 'records') throw new Error(`the load did not stop: ${m.error ?? m.type}`);
      return m.records;
    },
    /** Ends the worker at once (Ctrl-C): its sockets close with it. */
    kill: () => void worker.terminate(),
  };
}

/** Epoch ms, sub-millisecond, comparable across threads (and with proc.mjs's now()). */
const now = () => performance.timeOrigin + performance.now();

class Records {
  constructor() {
    this.n = 0;
    this.errors = [''];
    this.size = 0;
    this.grow(1 << 16);
  }

  grow(size) {
    const copy = (Type, old) => {
      const next = new Type(size);
      if (old) next.set(old.subarray(0, this.n));
      return next;
    };
    this.s = copy(Float64Array, this.s);
    this.e = copy(Float64Array, this.e);
    this.cn = copy(Float64Array, this.cn);
    this.st = copy(Uint16Array, this.st);
    this.c = copy(Uint8Array, this.c);
    this.err = copy(Uint8Array, this.err);
    this.k = copy(Uint8Array, this.k);
    this.size = size;
  }

  push(kind, s, e, { status, color, error, connectedAt }) {
    if (this.n === this.size) this.grow(this.size * 2);
    const i = this.n++;
    this.s[i] = s;
    this.e[i] = e;
    this.cn[i] = connectedAt ?? 0;
    this.st[i] = status;
    const c = COLORS.indexOf(color ?? '');
    this.c[i] = c < 0 ? COLORS.indexOf('other') : c;
    let x = 0;
    if (error) {
      x = this.errors.indexOf(error);
      if (x < 0) x = this.errors.push(error) - 1;
    }
    this.err[i] = x;
    this.k[i] = KINDS.indexOf(kind);
  }

  /** Trimmed to n. */
  out() {
    const cut = (a) => a.slice(0, this.n);
    return {
      n: this.n,
      errors: this.errors,
      s: cut(this.s),
      e: cut(this.e),
      cn: cut(this.cn),
      st: cut(this.st),
      c: cut(this.c),
      err: cut(this.err),
      k: cut(this.k),
    };
  }
}

/**
 * One GET; resolves { status, color, error, connectedAt } and never rejects. agent false: a new connection.
 * connectedAt: when its TCP connection was made (undefined on a reused one), which is what a switch acts on.
 */
function get(url, agent, timeoutMs) {
  return new Promise((resolve) => {
    let done = false;
    let connectedAt;
    const finish = (r) => {
      if (!done) {
        done = true;
        resolve({ ...r, connectedAt });
      }
    };
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      const color = res.headers['x-color'];
      res.on('end', () => finish({ status: res.statusCode, color }));
      // The connection closed in the middle of the body.
      res.on('close', () => {
        if (!res.complete) finish({ status: res.statusCode, color, error: 'BODY_CUT' });
      });
      res.on('error', () => {});
      res.resume();
    });
    req.on('socket', (socket) => {
      if (socket.connecting) socket.once('connect', () => (connectedAt = now()));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error) => finish({ status: 0, error: error.code ?? error.message }));
  });
}

function workerMain() {
  const records = new Records();
  let running = false;
  const loops = [];
  const timers = [];
  const pending = new Set();
  let keepAlive;

  const track = (promise) => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise));
  };

  async function loop(url, timeoutMs) {
    while (running) {
      const s = now();
      const r = await get(url, false, timeoutMs);
      records.push('fresh', s, now(), r);
    }
  }

  function fire(kind, url, agent, timeoutMs) {
    const s = now();
    track(get(url, agent, timeoutMs).then((r) => records.push(kind, s, now(), r)));
  }

  parentPort.on('message', async (m) => {
    if (m.type === 'start') {
      const o = m.options;
      running = true;
      for (let i = 0; i < o.concurrency; i++) loops.push(loop(o.url, o.timeoutMs ?? 10_000));
      if (o.slowEveryMs > 0) {
        timers.push(setInterval(() => fire('slow', o.slowUrl, false, o.slowTimeoutMs ?? 15_000), o.slowEveryMs));
      }
      if (o.keepaliveEveryMs > 0) {
        keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
        timers.push(setInterval(() => fire('keepalive', o.url, keepAlive, o.timeoutMs ?? 10_000), o.keepaliveEveryMs));
      }
      parentPort.postMessage({ type: 'started' });
    } else if (m.type === 'stop') {
      running = false;
      for (const t of timers) clearInterval(t);
      await Promise.all(loops);
      while (pending.size) await Promise.all([...pending]);
      keepAlive?.destroy();
      const out = records.out();
      const buffers = [out.s, out.e, out.cn, out.st, out.c, out.err, out.k].map((a) => a.buffer);
      parentPort.postMessage({ type: 'records', records: out }, buffers);
    }
  });
}

if (!isMainThread) workerMain();
