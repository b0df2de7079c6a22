import { describe, expect, it } from 'vitest';
import { formatStatuses, pollUntil, probeHttp, type ProbeResult } from '../../src/health.js';
import type { Http, HttpResponse } from '../../src/io.js';
import { FakeClock, RecordingLogger } from './fakes.js';

/** A probe that answers from a script (repeating the last answer) and records the timeouts it was given. */
function scripted(answers: ProbeResult[], clock?: FakeClock, takesMs = 0) {
  const timeouts: number[] = [];
  const times: number[] = [];
  const probe = async (timeoutMs: number): Promise<ProbeResult> => {
    timeouts.push(timeoutMs);
    if (clock) times.push(clock.now());
    clock?.advance(takesMs);
    const answer = answers[Math.min(timeouts.length - 1, answers.length - 1)];
    if (!answer) throw new Error('empty script');
    return answer;
  };
  return { probe, timeouts, times };
}

const refused: ProbeResult = { ok: false, detail: 'connection refused' };
const http503: ProbeResult = { ok: false, detail: 'HTTP 503, expected 200-399' };
const good: ProbeResult = { ok: true, detail: 'HTTP 200' };

describe('pollUntil', () => {
  it('succeeds at once on a good first probe, without waiting', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const { probe, timeouts } = scripted([good]);
    const outcome = await pollUntil(probe, { what: 'green', timeoutMs: 60_000, intervalMs: 1_000 }, { clock, log });
    expect(outcome).toEqual({ ok: true, attempts: 1, elapsedMs: 0, detail: 'HTTP 200' });
    expect(clock.slept).toEqual([]);
    expect(timeouts).toEqual([5_000]);
    expect(log.events).toEqual(['info: green: HTTP 200 after 1 probe(s), 0.0 s']);
  });

  it('probes once more at the deadline, however long the interval', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const start = clock.now();
    // Healthy from 5 s on; the interval equals the whole timeout.
    const probe = async () => (clock.now() - start >= 5_000 ? good : { ok: false, detail: 'connection refused' });
    const outcome = await pollUntil(probe, { what: 'green', timeoutMs: 10_000, intervalMs: 10_000 }, { clock, log });
    expect(outcome).toMatchObject({ ok: true, attempts: 2, elapsedMs: 10_000 });
    expect(clock.slept).toEqual([10_000]);
  });

  it('gives every probe, the one at the deadline too, a timeout of at least 1 s and at most 5 s', async () => {
    const clock = new FakeClock();
    const { probe, timeouts } = scripted([refused], clock);
    const outcome = await pollUntil(
      probe,
      { what: 'green', timeoutMs: 12_000, intervalMs: 4_000 },
      { clock, log: new RecordingLogger() },
    );
    expect(outcome).toMatchObject({ ok: false, attempts: 4, detail: 'connection refused' });
    expect(timeouts).toEqual([5_000, 5_000, 4_000, 1_000]);
  });

  it('retries at the interval until a probe is good', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const { probe, times } = scripted([refused, refused, http503, good], clock);
    const outcome = await pollUntil(probe, { what: 'green', timeoutMs: 60_000, intervalMs: 2_000 }, { clock, log });
    expect(outcome).toEqual({ ok: true, attempts: 4, elapsedMs: 6_000, detail: 'HTTP 200' });
    expect(clock.slept).toEqual([2_000, 2_000, 2_000]);
    expect(times.map((t) => t - 1_000_000)).toEqual([0, 2_000, 4_000, 6_000]);
    // A line when the answer changes, not one per probe.
    expect(log.events).toEqual([
      'info: green: not yet (connection refused)',
      'info: green: not yet (HTTP 503, expected 200-399)',
      'info: green: HTTP 200 after 4 probe(s), 6.0 s',
    ]);
  });

  it('gives up at the deadline with the attempt count and the last detail', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const { probe, times } = scripted([refused, http503], clock);
    const outcome = await pollUntil(probe, { what: 'green', timeoutMs: 10_000, intervalMs: 1_000 }, { clock, log });
    // Probes at 0, 1, ..., 10 s: the last one still within the deadline, the next would be past it.
    expect(outcome).toEqual({ ok: false, attempts: 11, elapsedMs: 10_000, detail: 'HTTP 503, expected 200-399' });
    expect(Math.max(...times) - 1_000_000).toBeLessThanOrEqual(10_000);
    expect(log.events.at(-1)).toBe('info: green: gave up after 11 probe(s), 10.0 s: HTTP 503, expected 200-399');
  });

  it('does not sleep past the deadline when probes are slow', async () => {
    const clock = new FakeClock();
    const { probe, timeouts, times } = scripted([refused], clock, 4_000);
    const outcome = await pollUntil(
      probe,
      { what: 'green', timeoutMs: 10_000, intervalMs: 3_000 },
      { clock, log: new RecordingLogger() },
    );
    expect(outcome.ok).toBe(false);
    // Probes at 0 and 7 s; after the second (ends at 11 s) there is no time left.
    expect(times.map((t) => t - 1_000_000)).toEqual([0, 7_000]);
    // A probe never gets more time than 5 s, nor more than what is left.
    expect(timeouts).toEqual([5_000, 3_000]);
  });

  it('stops at once on a fatal answer', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const exited: ProbeResult = { ok: false, fatal: true, detail: 'the container exited with code 1' };
    const { probe } = scripted([refused, exited, good], clock);
    const outcome = await pollUntil(probe, { what: 'green', timeoutMs: 60_000, intervalMs: 1_000 }, { clock, log });
    expect(outcome).toEqual({ ok: false, attempts: 2, elapsedMs: 1_000, detail: 'the container exited with code 1' });
    expect(clock.slept).toEqual([1_000]);
    expect(log.events.at(-1)).toMatch(/gave up after 2 probe\(s\), 1\.0 s: the container exited with code 1$/);
  });

  it('logs compactly: a few lines for 60 failed probes with the same detail', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const { probe } = scripted([refused]);
    const outcome = await pollUntil(probe, { what: 'green', timeoutMs: 60_000, intervalMs: 1_000 }, { clock, log });
    expect(outcome.ok).toBe(false);
    expect(outcome.attempts).toBeGreaterThanOrEqual(60);
    expect(log.events.length).toBeLessThanOrEqual(10);
    expect(log.events.length).toBeGreaterThanOrEqual(3);
    expect(log.events[0]).toBe('info: green: not yet (connection refused)');
    // Progress lines carry the count so far, so a long wait does not look stuck.
    expect(log.events.some((l) => /still waiting, \d+ probes in \d+\.\d s \(connection refused\)/.test(l))).toBe(true);
    expect(log.events.at(-1)).toMatch(/gave up after \d+ probe\(s\), 60\.0 s: connection refused/);
  });
});

/** An Http that answers from a function and records what it was asked. */
function fakeHttp(answer: (url: string) => HttpResponse | Error) {
  const calls: { url: string; headers: Record<string, string>; timeoutMs: number }[] = [];
  const http: Http = {
    async get(url, { headers, timeoutMs }) {
      calls.push({ url, headers, timeoutMs });
      const a = answer(url);
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return { http, calls };
}

function errno(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const EXPECT = {
  headers: { Host: 'shop.example.com' },
  statuses: [
    { from: 200, to: 299 },
    { from: 301, to: 301 },
  ],
  body: '',
};

describe('probeHttp', () => {
  it('passes the URL, headers and timeout on', async () => {
    const { http, calls } = fakeHttp(() => ({ status: 200, body: 'ok', headers: {} }));
    await probeHttp(http, 'http://127.0.0.1:8001/api/v1/test', EXPECT, 1234);
    expect(calls).toEqual([
      { url: 'http://127.0.0.1:8001/api/v1/test', headers: { Host: 'shop.example.com' }, timeoutMs: 1234 },
    ]);
  });

  it.each([200, 204, 299, 301])('accepts status %i inside the ranges', async (status) => {
    const { http } = fakeHttp(() => ({ status, body: '', headers: {} }));
    expect(await probeHttp(http, 'http://x/', EXPECT, 1000)).toMatchObject({ ok: true, detail: `HTTP ${status}` });
  });

  it.each([199, 300, 302, 404, 500, 503])('rejects status %i outside the ranges', async (status) => {
    const { http } = fakeHttp(() => ({ status, body: '', headers: {} }));
    const result = await probeHttp(http, 'http://x/', EXPECT, 1000);
    expect(result).toMatchObject({ ok: false, detail: `HTTP ${status}, expected 200-299,301` });
    expect(result.fatal).toBeUndefined();
  });

  it('requires the body to contain the expected text', async () => {
    const expectBody = { ...EXPECT, body: '"status":"ok"' };
    const ok = fakeHttp(() => ({ status: 200, body: '{"status":"ok","db":"up"}', headers: {} }));
    expect(await probeHttp(ok.http, 'http://x/', expectBody, 1000)).toMatchObject({ ok: true, detail: 'HTTP 200' });
    const bad = fakeHttp(() => ({ status: 200, body: '{"status":"starting"}', headers: {} }));
    expect(await probeHttp(bad.http, 'http://x/', expectBody, 1000)).toMatchObject({
      ok: false,
      detail: 'HTTP 200 but the body lacks "\\"status\\":\\"ok\\""',
    });
  });

  it('checks the status before the body', async () => {
    const { http } = fakeHttp(() => ({ status: 500, body: 'ok', headers: {} }));
    expect((await probeHttp(http, 'http://x/', { ...EXPECT, body: 'ok' }, 1000)).detail).toBe(
      'HTTP 500, expected 200-299,301',
    );
  });

  it('maps network errors to a short detail', async () => {
    const cases: [Error, string][] = [
      [errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8001'), 'connection refused'],
      [errno('ECONNRESET', 'socket hang up'), 'connection reset'],
      [new Error('no answer within 5000 ms'), 'no answer within 5000 ms'],
    ];
    for (const [error, detail] of cases) {
      const { http } = fakeHttp(() => error);
      expect(await probeHttp(http, 'http://x/', EXPECT, 1000)).toMatchObject({ ok: false, detail });
    }
  });
});

describe('formatStatuses', () => {
  it('writes single codes and ranges, comma-separated', () => {
    expect(formatStatuses([{ from: 200, to: 399 }])).toBe('200-399');
    expect(
      formatStatuses([
        { from: 200, to: 299 },
        { from: 301, to: 301 },
        { from: 404, to: 404 },
      ]),
    ).toBe('200-299,301,404');
    expect(formatStatuses([])).toBe('');
  });
});
