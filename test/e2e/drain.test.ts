// The drain on a real engine, real Compose and a real Nginx (issue 12): the old color runs exactly until every old
// Nginx worker has finished the requests it sent there, drain-seconds being only the bound. The app here exits at
// once on SIGTERM (as many do), so a drain that ended too early would cut the requests still in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../src/engine/result.js';
import { slowRequests, type SlowResult } from './support/load.js';
import { cli, serviceStates } from './support/result.js';
import { createStack, servedColor, type Stack } from './support/stack.js';

interface Slow extends SlowResult {
  startedAt: number;
  endedAt: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One request of `ms` through the proxy every `everyMs`, until stopped: some are always in flight. */
function slowTraffic(url: string, ms: number, everyMs: number) {
  const results: Promise<Slow>[] = [];
  const send = () => {
    const startedAt = Date.now();
    results.push(
      slowRequests(url, 1, { ms }).then(([r]) => ({ ...(r as SlowResult), startedAt, endedAt: Date.now() })),
    );
  };
  send();
  const timer = setInterval(send, everyMs);
  return {
    async stop(): Promise<Slow[]> {
      clearInterval(timer);
      return Promise.all(results);
    },
  };
}

function drainOf(result: Result, stdout: string): NonNullable<Result['drain']> {
  if (!result.drain) throw new Error(`no drain in the result:\n${stdout}`);
  return result.drain;
}

describe('the drain ends when the proxies are done with the old color', () => {
  let stack: Stack;
  const exitAtOnce = { EXIT_ON_SIGTERM: '1' };

  beforeAll(async () => {
    stack = await createStack({ env: { blue: exitAtOnce, green: exitAtOnce } });
    const first = await cli(stack, stack.inputs);
    expect(first.run.exitCode, first.run.stderr).toBe(0);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
  });
  afterAll(async () => stack?.cleanup());

  it('a 6 s request in flight at the switch completes with drain-seconds 10: the drain waits for it, no longer', async () => {
    const slow = slowTraffic(stack.proxyUrl, 6_000, 500);
    await sleep(700);
    const { run, result } = await cli(stack, { ...stack.inputs, 'drain-seconds': '10' });
    const ended = Date.now();
    const requests = await slow.stop();
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    const drain = drainOf(result, run.stderr);
    const onBlue = requests.filter((r) => r.color === 'blue');
    const longest = Math.max(...onBlue.map((r) => r.endedAt));
    console.log(
      `drain ${drain.ms} ms (${drain.why}); ${requests.length} requests of 6 s, ${onBlue.length} answered by blue, ` +
        `the last of them ${ended - longest} ms before the deploy ended; not 200: ` +
        `${requests.filter((r) => r.status !== 200).length}`,
    );
    // Every request blue took finished: blue exits at once on SIGTERM, so one cut by an early stop would fail.
    expect(requests.filter((r) => r.status !== 200)).toEqual([]);
    expect(onBlue.length).toBeGreaterThan(0);
    expect(drain.ended).toBe('drained');
    expect(drain.why).toMatch(/^every old worker of .+ exited after \d+\.\d s$/);
    // Requests of 6 s, one every 0.5 s: the last one blue took began at most 0.5 s before the switch, so the drain
    // waited for most of its 6 s; it ended well before the 10 s bound.
    expect(drain.ms).toBeGreaterThan(4_000);
    expect(drain.ms).toBeLessThan(9_000);
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBeLessThan(9_500);
    expect(await serviceStates(stack, 'app-blue')).toEqual(['exited']);
  });

  it('with no request in flight, the drain ends in under 1 s', async () => {
    const { run, result } = await cli(stack, { ...stack.inputs, 'drain-seconds': '10' });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result).toMatchObject({ status: 'deployed', color: 'blue', previousColor: 'green' });
    const drain = drainOf(result, run.stderr);
    console.log(`drain ${drain.ms} ms (${drain.why})`);
    expect(drain.ended).toBe('drained');
    expect(drain.ms).toBeLessThan(1_000);
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBeLessThan(1_500);
    expect(await serviceStates(stack, 'app-green')).toEqual(['exited']);
  });

  it('drain-seconds is the bound: a request longer than it is cut, and the result says a worker was still busy', async () => {
    const slow = slowTraffic(stack.proxyUrl, 30_000, 60_000);
    await sleep(700);
    const { run, result } = await cli(stack, { ...stack.inputs, 'drain-seconds': '3' });
    const [cut] = await slow.stop();
    expect(run.exitCode, run.stderr).toBe(0);
    const drain = drainOf(result, run.stderr);
    console.log(`drain ${drain.ms} ms (${drain.why}); the 30 s request: ${cut?.status} ${cut?.error ?? ''}`);
    expect(drain.ended).toBe('bound');
    expect(drain.why).toMatch(
      new RegExp(`^drain-seconds \\(3\\.0 s\\) reached: ${stack.proxyContainer} still had 1 old worker busy$`),
    );
    expect(drain.ms).toBeGreaterThanOrEqual(3_000);
    expect(drain.ms).toBeLessThan(4_000);
    // Blue exited at once when it was stopped: the request it was serving did not get its 200.
    expect(cut?.color).not.toBe('green');
    expect(cut?.status).not.toBe(200);
  });
});
