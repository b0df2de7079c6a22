// Step 5's drain: after the switch, the old color keeps running until the requests it was serving are done. The
// proxies tell when: only what they started before the switch can still reach the old color, so once none of them
// is still finishing work from before its reload, nothing is in flight there. drain-seconds bounds the wait.
import type { Deployment } from './deployment.js';
import type { DrainView } from './result.js';

/** How often the proxies are asked: the drain ends within about this long of their last old request. */
export const DRAIN_POLL_MS = 200;

/** One proxy's answer: how many of its processes still finish old requests; undefined when that cannot be seen. */
export interface ProxyDrain {
  container: string;
  busy: number | undefined;
}

/** drained: every proxy said nothing old is in flight; bound: drain-seconds passed first. */
export type DrainEnd = DrainView;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Whether the drain is over after elapsedMs: every proxy says its old processes are gone, or the bound is reached.
 * A proxy that cannot tell keeps the drain to its bound: what it still has in flight cannot be seen.
 */
export function drainDecision(states: readonly ProxyDrain[], elapsedMs: number, boundMs: number): DrainEnd | undefined {
  if (states.length && states.every((s) => s.busy === 0)) {
    return {
      ms: elapsedMs,
      ended: 'drained',
      why: `every old worker of ${states.map((s) => s.container).join(', ')} exited after ${seconds(elapsedMs)}`,
    };
  }
  if (elapsedMs < boundMs) return undefined;
  const busy = states.filter((s) => s.busy);
  const blind = states.filter((s) => s.busy === undefined);
  const parts = [
    ...busy.map((s) => `${s.container} still had ${s.busy} old worker${s.busy === 1 ? '' : 's'} busy`),
    ...(blind.length ? [`the workers of ${blind.map((s) => s.container).join(', ')} cannot be seen`] : []),
    ...(states.length ? [] : ['no proxy was switched, so nothing in flight can be seen']),
  ];
  return { ms: elapsedMs, ended: 'bound', why: `drain-seconds (${seconds(boundMs)}) reached: ${parts.join('; ')}` };
}

/** Failed looks in a row after which a proxy is taken for one whose workers cannot be seen. */
const BLIND_AFTER = 3;
/** The longest one look may take: a slow answer is let go rather than held up. */
const LOOK_MS = 5_000;

/**
 * Waits until the old color has nothing in flight through any of `proxies`, or boundMs passes. Resolves with how
 * it ended; undefined when `stop` (a failed watch, a cancel) ended it first. A proxy whose reload could not be
 * confirmed is not asked: right after a reload, a proxy's old processes may still take requests for a moment
 * without being told apart, which only a confirmed reload rules out.
 */
export async function drainOld(
  d: Deployment,
  boundMs: number,
  stop: AbortSignal,
  proxies: readonly string[] = [...d.switchedAt.keys()],
): Promise<DrainEnd | undefined> {
  const start = d.deps.clock.now();
  const left = () => start + boundMs - d.deps.clock.now();
  const states = proxies.map((c): ProxyDrain & { failed: number } => ({
    container: c,
    busy: undefined,
    failed: d.unconfirmed.has(c) ? BLIND_AFTER : 0,
  }));
  const asked = () => states.filter((s) => s.busy !== 0 && s.failed < BLIND_AFTER);
  for (;;) {
    await Promise.all(
      asked().map(async (s) => {
        s.busy = await d.proxy
          .draining(s.container, Math.min(LOOK_MS, Math.max(DRAIN_POLL_MS, left())))
          .catch(() => undefined);
        s.failed = s.busy === undefined ? s.failed + 1 : 0;
      }),
    );
    if (stop.aborted) return undefined;
    const end = drainDecision(states, d.deps.clock.now() - start, boundMs);
    if (end) return end;
    // Once no proxy can tell any more, only the bound is left: it is not asked again and again.
    await d.deps.clock.sleep(asked().length ? Math.min(DRAIN_POLL_MS, Math.max(0, left())) : left(), stop);
    if (stop.aborted) return undefined;
  }
}
