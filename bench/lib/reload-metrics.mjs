// bench:reload's figures: the load's records (closed-loop.mjs) cut into one window per event (a reload, a swap, a
// switch, or a mere second of the baseline), and the medians over the events of a scenario.
import { COLORS, KINDS } from './closed-loop.mjs';
import { median } from './metrics.mjs';

const FRESH = KINDS.indexOf('fresh');
const SLOW = KINDS.indexOf('slow');
/**
 * Nginx connects to the upstream some time after the client's connection is made (it reads the request first; tens
 * to hundreds of milliseconds when the CPU is saturated): a connection made this close to the next event's command
 * may have been switched by that event, and is left out of this one's split (not of its failures).
 */
const EDGE_MS = 250;
/** At most this many failed requests are listed one by one per scenario (all are counted). */
const LISTED = 100;

const round = (x) => (Number.isFinite(x) ? Math.round(x) : null);

/** What failed: the client's error code (ECONNRESET, TIMEOUT, ...) or `HTTP <status>`; undefined when it did not. */
function failure(records, i) {
  if (records.err[i]) return records.errors[records.err[i]];
  const st = records.st[i];
  return st >= 200 && st <= 299 ? undefined : `HTTP ${st}`;
}

/**
 * One window per event: event i covers [events[i].t, events[i + 1].t), the last one [t, endAt) and whatever
 * ended later. An event is
 * { t, cmdAt?, from?, to?, ...extra }: t and cmdAt (when the switch command was given; t when absent) are epoch
 * ms; from/to are the colors of a switch (absent for a bare reload and the baseline). Returns { events, failures }:
 * per event the fresh requests, their rate and failures by kind of error, the keep-alive probe's, and for a switch
 * when the first new-color answer came, how many requests sent after it the old color still answered (a split),
 * and the slow requests in flight at that instant and how many of them were lost.
 */
export function eventFigures(records, events, endAt) {
  const out = events.map((ev, i) => ({
    ev,
    from: ev.t,
    to: events[i + 1]?.t ?? endAt,
    fresh: { requests: 0, failed: 0, byError: {} },
    keepalive: { requests: 0, failed: 0, byError: {} },
    slowFailed: 0,
    firstNew: Infinity,
  }));
  const failures = [];
  // Each record to its window (records are not sorted by end: search each one). What ended after the last window
  // (a request cut at the last event and ended by a timeout, the requests of the load's last instant) counts for
  // the last event.
  const windowOf = (t) => {
    let lo = 0;
    let hi = out.length - 1;
    if (!out.length || t < out[0].from) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (out[mid].from <= t) lo = mid;
      else hi = mid - 1;
    }
    return out[lo];
  };
  for (let i = 0; i < records.n; i++) {
    const w = windowOf(records.e[i]);
    if (!w) continue;
    const what = failure(records, i);
    const k = records.k[i];
    if (k === SLOW) {
      if (what) w.slowFailed++;
    } else {
      const bucket = k === FRESH ? w.fresh : w.keepalive;
      bucket.requests++;
      if (what) {
        bucket.failed++;
        bucket.byError[what] = (bucket.byError[what] ?? 0) + 1;
      } else if (k === FRESH && w.ev.to && COLORS[records.c[i]] === w.ev.to && records.e[i] < w.firstNew) {
        w.firstNew = records.e[i];
      }
    }
    if (what && failures.length < LISTED) {
      failures.push({
        event: out.indexOf(w),
        kind: KINDS[k],
        what,
        sent: round(records.s[i] - (w.ev.cmdAt ?? w.ev.t)),
        ended: round(records.e[i] - (w.ev.cmdAt ?? w.ev.t)),
      });
    }
  }
  // Per switch: the old color's answers to requests whose connection was made after the first new-color answer
  // and up to EDGE_MS before the next event's command (a switch acts on new connections, and the client makes a
  // request's connection some time after it queues it when it is busy), and the slow requests in flight at that
  // instant (sent before it and ended after it).
  for (const w of out) {
    w.split = { old: 0, next: 0, lastOldConnected: null };
    w.slow = { inFlight: 0, lost: 0 };
    const at = w.ev.to ? w.firstNew : (w.ev.cmdAt ?? w.ev.t);
    if (!Number.isFinite(at)) continue;
    for (let i = 0; i < records.n; i++) {
      const k = records.k[i];
      if (k === SLOW) {
        if (records.s[i] < at && records.e[i] > at) {
          w.slow.inFlight++;
          if (failure(records, i)) w.slow.lost++;
        }
      } else if (k === FRESH && w.ev.to && records.cn[i] >= at && records.cn[i] < w.to - EDGE_MS) {
        if (failure(records, i)) continue;
        const color = COLORS[records.c[i]];
        if (color === w.ev.from) {
          w.split.old++;
          w.split.lastOldConnected = Math.max(w.split.lastOldConnected ?? -Infinity, records.cn[i]);
        } else if (color === w.ev.to) w.split.next++;
      }
    }
  }
  return {
    events: out.map((w) => {
      const { t, cmdAt, from, to, ...extra } = w.ev;
      const seconds = (w.to - w.from) / 1000;
      const cmd = cmdAt ?? t;
      return {
        windowMs: round(w.to - w.from),
        ...(cmdAt !== undefined ? { cmdAfterStartMs: round(cmdAt - t) } : {}),
        fresh: { ...w.fresh, perSecond: round(w.fresh.requests / seconds) },
        keepalive: w.keepalive,
        slowFailed: w.slowFailed,
        slow: w.slow,
        ...(to
          ? {
              from,
              to,
              // The command given → the first answer from the new color.
              firstNewMs: Number.isFinite(w.firstNew) ? round(w.firstNew - cmd) : null,
              // Requests connected after that first answer and answered by the old color (and by the new one), and
              // when the last of those the old color answered was connected, after the first new-color answer.
              split: {
                old: w.split.old,
                next: w.split.next,
                lastOldMs: w.split.lastOldConnected === null ? 0 : round(w.split.lastOldConnected - w.firstNew),
              },
            }
          : {}),
        ...extra,
      };
    }),
    failures,
  };
}

const stats = (xs) => {
  const ys = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  return ys.length ? { median: median(ys), min: Math.min(...ys), max: Math.max(...ys) } : null;
};
const total = (xs) => xs.reduce((a, b) => a + b, 0);
function addErrors(events, kind) {
  const by = {};
  for (const e of events) for (const [what, n] of Object.entries(e[kind].byError)) by[what] = (by[what] ?? 0) + n;
  return by;
}

/** A scenario's figures over its events: medians [min–max], totals, and failures per 10,000 fresh requests. */
export function summarizeEvents(events) {
  const fresh = total(events.map((e) => e.fresh.requests));
  const failed = total(events.map((e) => e.fresh.failed));
  const seconds = total(events.map((e) => e.windowMs)) / 1000;
  const switches = events.filter((e) => e.to);
  return {
    events: events.length,
    fresh: {
      requests: fresh,
      perSecond: seconds ? Math.round(fresh / seconds) : null,
      failedPerEvent: stats(events.map((e) => e.fresh.failed)),
      failed,
      byError: addErrors(events, 'fresh'),
      perTenThousand: fresh ? Math.round((failed / fresh) * 1e5) / 10 : null,
    },
    keepalive: {
      requests: total(events.map((e) => e.keepalive.requests)),
      failedPerEvent: stats(events.map((e) => e.keepalive.failed)),
      failed: total(events.map((e) => e.keepalive.failed)),
      byError: addErrors(events, 'keepalive'),
    },
    slow: {
      inFlightPerEvent: stats(events.map((e) => e.slow.inFlight)),
      inFlight: total(events.map((e) => e.slow.inFlight)),
      lost: total(events.map((e) => e.slow.lost)),
      failed: total(events.map((e) => e.slowFailed)),
    },
    ...(switches.length
      ? {
          switch: {
            firstNewMs: stats(switches.map((e) => e.firstNewMs)),
            noNewAnswer: switches.filter((e) => e.firstNewMs === null).length,
            splitOld: stats(switches.map((e) => e.split.old)),
            splitOldTotal: total(switches.map((e) => e.split.old)),
            lastOldMs: stats(switches.map((e) => e.split.lastOldMs)),
          },
        }
      : {}),
  };
}
