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

/**
 * Waits until the old color has nothing in flight through any switched proxy, or boundMs passes; a cancel ends the
 * wait (the caller checks it). Proxies whose reload could not be confirmed are asked anyway: one that shows its
 * workers after all tells its drain.
 */
export async function drainOld(
  d: Deployment,
  boundMs: number,
  proxies: readonly string[] = [...d.switchedAt.keys()],
): Promise<DrainEnd> {
  const start = d.deps.clock.now();
  const states = new Map<string, ProxyDrain>(proxies.map((c) => [c, { container: c, busy: undefined }]));
  for (;;) {
    await Promise.all(
      [...states.values()]
        .filter((s) => s.busy !== 0)
        .map(async (s) => void (s.busy = await d.proxy.draining(s.container).catch(() => undefined))),
    );
    const elapsed = d.deps.clock.now() - start;
    const end = drainDecision([...states.values()], elapsed, boundMs);
    if (end || d.deps.signal?.aborted) {
      return end ?? { ms: elapsed, ended: 'bound', why: `cancelled after ${seconds(elapsed)}` };
    }
    // Proxies that cannot tell are not asked again and again: the bound is all that is left for them.
    if ([...states.values()].every((s) => s.busy === undefined)) {
      await d.deps.clock.sleep(start + boundMs - d.deps.clock.now(), d.deps.signal);
    } else {
      await d.deps.clock.sleep(
        Math.min(DRAIN_POLL_MS, Math.max(0, start + boundMs - d.deps.clock.now())),
        d.deps.signal,
      );
    }
  }
}
