// Figures of one swap from its request records and the deploy's timings, and summaries over the swaps.
import { failed, KINDS } from './load.mjs';

const min = (xs) => xs.reduce((a, b) => Math.min(a, b), Infinity);
const max = (xs) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
const round = (x) => (Number.isFinite(x) ? Math.round(x) : null);

function countBy(items, key) {
  const counts = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

const what = (r) => r.err ?? `HTTP ${r.st}`;

/** The phase (of the deploy's own) that was running at time t, or before/after. */
function phaseAt(phases, t) {
  return phases.find((p) => t >= p.start && t <= p.end)?.name ?? (t < phases[0]?.start ? 'before' : 'after');
}

/**
 * @param load { records, skipped } from startLoad
 * @param deploy { ok, startedAt, endedAt, phases, composeMs, drainMs } from either tool
 * @param swap { from, to, readyAt, dockerHealthyAt, containerStartedAt } epoch ms of the new color's `listening`
 *   line, of Docker's first `healthy` for it and of its container's start (`docker inspect .State.StartedAt`)
 */
export function swapFigures(load, deploy, { from, to, readyAt, dockerHealthyAt, containerStartedAt }) {
  const { records, skipped } = load;
  const t0 = deploy.startedAt;
  // The switch: the first answer of the new color through the proxy.
  const switchAt = min(records.filter((r) => r.c === to && !failed(r) && r.e >= t0).map((r) => r.e));
  const lastOldAt = max(records.filter((r) => r.c === from && !failed(r)).map((r) => r.e));
  const perKind = {};
  for (const kind of KINDS) {
    const rs = records.filter((r) => r.k === kind);
    const bad = rs.filter(failed);
    perKind[kind] = {
      requests: rs.length,
      failed: bad.length,
      failures: countBy(bad, what),
      failedOnReusedConnection: bad.filter((r) => r.reused).length,
      // Resets on a reused connection that the retrying client absorbed by sending again.
      retried: rs.filter((r) => r.retried).length,
      skipped: skipped[kind],
    };
  }
  const slow = records.filter((r) => r.k === 'slow');
  const atSwitch = slow.filter((r) => r.s <= switchAt && r.e >= switchAt);
  // Every request in flight at the switch that the new color did not answer (the old color did, or nobody: cut):
  // what a drain has to wait for. The longest of them, from the switch to its end.
  const inFlightOld = records.filter((r) => r.s <= switchAt && r.e >= switchAt && r.c !== to);
  const totalMs = deploy.endedAt - deploy.startedAt;
  const healthPassedAt = deploy.phases.find((p) => p.name === 'health' && p.ok)?.end ?? NaN;
  // The app's own start-up, container start → its `listening` line; own overhead leaves out only the part of it
  // that is not already inside the compose time (the container starts before `up` returns).
  const upEnd = deploy.phases.find((p) => p.name === 'up')?.end ?? NaN;
  const startedAt = containerStartedAt ?? NaN;
  const startupOutsideComposeMs = Math.max(0, readyAt - Math.max(startedAt, upEnd));
  return {
    ok: deploy.ok,
    from,
    to,
    perKind,
    slow: {
      requests: slow.length,
      failed: slow.filter(failed).length,
      atSwitch: atSwitch.length,
      lost: atSwitch.filter((r) => failed(r) || r.st !== 200).length,
      lostFailures: countBy(atSwitch.filter(failed), what),
    },
    readyToSwitchMs: round(switchAt - readyAt),
    // ready → switched, in three parts.
    readyToDockerHealthyMs: round((dockerHealthyAt ?? NaN) - readyAt),
    readyToCheckPassedMs: round(healthPassedAt - readyAt),
    checkPassedToSwitchMs: round(switchAt - healthPassedAt),
    overlapMs: round(lastOldAt - switchAt),
    inFlightAtSwitch: inFlightOld.length,
    inFlightAfterSwitchMs: inFlightOld.length ? round(max(inFlightOld.map((r) => r.e)) - switchAt) : 0,
    totalMs: round(totalMs),
    composeMs: round(deploy.composeMs),
    drainMs: round(deploy.drainMs),
    appStartupMs: round(readyAt - startedAt),
    // The definition: wall time − compose calls − drain − the app's own start-up.
    ownOverheadMs: round(totalMs - deploy.composeMs - deploy.drainMs - startupOutsideComposeMs),
    // The earlier definition, kept to compare with runs made before the one above.
    overheadMs: round(totalMs - deploy.composeMs - deploy.drainMs),
    // Times relative to the deploy's start, for the chart and for telling when something went wrong.
    times: {
      containerStarted: round(startedAt - t0),
      ready: round(readyAt - t0),
      dockerHealthy: round((dockerHealthyAt ?? NaN) - t0),
      switch: round(switchAt - t0),
      lastOld: round(lastOldAt - t0),
      end: round(totalMs),
    },
    phases: deploy.phases.map((p) => ({ name: p.name, start: round(p.start - t0), end: round(p.end - t0), ok: p.ok })),
    failures: records.filter(failed).map((r) => ({
      kind: r.k,
      sent: round(r.s - t0),
      ended: round(r.e - t0),
      sinceSwitch: round(r.e - switchAt),
      what: what(r),
      reused: r.reused ?? false,
      phase: phaseAt(deploy.phases, r.e),
    })),
  };
}

/** The figures the report compares, as [key, label, unit, get(swap)]. */
export const METRICS = [
  ...KINDS.map((k) => [`failed.${k}`, `failed requests: ${k}`, '', (s) => s.perKind[k].failed]),
  ['slow.lost', 'slow requests lost at the switch', '', (s) => s.slow.lost],
  ['slow.atSwitch', 'slow requests in flight at the switch', '', (s) => s.slow.atSwitch],
  ['retried', 'resets absorbed by the retrying client', '', (s) => s.perKind.retry.retried],
  ['readyToSwitchMs', 'ready → first new-color response', 'ms', (s) => s.readyToSwitchMs],
  [
    'readyToDockerHealthyMs',
    '↳ ready → Docker HEALTHCHECK healthy (image: every 1 s)',
    'ms',
    (s) => s.readyToDockerHealthyMs,
  ],
  ['readyToCheckPassedMs', "↳ ready → the tool's health check passed", 'ms', (s) => s.readyToCheckPassedMs],
  ['checkPassedToSwitchMs', '↳ health check passed → switch', 'ms', (s) => s.checkPassedToSwitchMs],
  ['overlapMs', 'first new-color → last old-color response', 'ms', (s) => s.overlapMs],
  ['totalMs', 'deploy wall time', 'ms', (s) => s.totalMs],
  ['composeMs', 'compose time (up + cleanup)', 'ms', (s) => s.composeMs],
  ['drainMs', "drain (the action's drain phase)", 'ms', (s) => s.drainMs],
  [
    'inFlightAfterSwitchMs',
    '↳ beside it: longest request in flight at the switch, after the switch',
    'ms',
    (s) => s.inFlightAfterSwitchMs,
  ],
  ['appStartupMs', "app's own start-up (container start → `listening`)", 'ms', (s) => s.appStartupMs],
  ['ownOverheadMs', 'own overhead (wall time − compose − drain − app start-up)', 'ms', (s) => s.ownOverheadMs],
  ['overheadMs', 'wall time − compose − drain (the earlier "own overhead")', 'ms', (s) => s.overheadMs],
  [
    'requests',
    'requests per swap (3 kinds + slow)',
    '',
    (s) => KINDS.reduce((n, k) => n + s.perKind[k].requests, 0) + s.slow.requests,
  ],
];

export function median(xs) {
  const v = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** { key: { median, min, max, values } } over the swaps. */
export function summarize(swaps) {
  const summary = {};
  for (const [key, , , get] of METRICS) {
    const values = swaps.map(get);
    const finite = values.filter((x) => x !== null && Number.isFinite(x));
    summary[key] = {
      median: median(finite),
      min: finite.length ? min(finite) : null,
      max: finite.length ? max(finite) : null,
      values,
    };
  }
  return summary;
}
