import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Watch } from '../../src/config/config.js';
import { execute } from '../../src/engine/deployment.js';
import { judge, p95, WATCH_POLL_MS } from '../../src/engine/watch.js';
import { systemClock } from '../../src/io.js';
import { lastOf, parseLine, parseLogLine } from '../../src/proxy/access-log.js';
import { Nginx } from '../../src/proxy/nginx.js';
import { createExecaRunner } from '../../src/runner.js';
import { eachWatchPoll, RELOAD, setup as fakeSetup, STOP_BLUE, STOP_GREEN, UP_GREEN } from './deploy-setup.js';

const STAMP = '2026-11-29T21:00:00.123456789Z';
const COMBINED =
  '172.18.0.1 - - [29/Nov/2026:21:00:00 +0000] "GET /orders?id=7 HTTP/1.1" 200 512 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)"';
const RECOMMENDED =
  '172.18.0.1 - alice [29/Nov/2026:21:00:00 +0000] "POST /api/pay HTTP/1.1" 502 157 "-" "curl/8.5.0" ' +
  'upstream="172.18.0.5:8000" upstream_status="502" request_time=0.031';

describe('the access log as docker logs --timestamps shows it', () => {
  const AGENT = 'Mozilla/5.0 (X11; Linux x86_64)';

  it("reads Nginx's combined format: status and user agent, no upstream", () => {
    expect(parseLine(COMBINED, 5)).toEqual({
      at: 5,
      status: 200,
      format: 'combined',
      agent: AGENT,
      attempts: [],
      failed: false,
    });
  });

  it("reads the README's format: the upstream that answered, its status and the request's time", () => {
    expect(parseLine(RECOMMENDED, 5)).toEqual({
      at: 5,
      status: 502,
      format: 'bluegreen',
      agent: 'curl/8.5.0',
      attempts: [{ address: '172.18.0.5:8000', status: 502 }],
      requestMs: 31,
      failed: true,
    });
  });

  it('after retries, every upstream tried with its own status; the last one answered and decides', () => {
    const retried = parseLine(
      RECOMMENDED.replace('upstream="172.18.0.5:8000"', 'upstream="172.18.0.4:8000, 172.18.0.5:8000 : 10.0.0.9:80"')
        .replace('upstream_status="502"', 'upstream_status="502, 504 : 200"')
        .replace('" 502 157', '" 200 157'),
      0,
    );
    expect(retried).toMatchObject({
      status: 200,
      failed: false,
      attempts: [
        { address: '172.18.0.4:8000', status: 502 },
        { address: '172.18.0.5:8000', status: 504 },
        { address: '10.0.0.9:80', status: 200 },
      ],
    });
    expect(lastOf('172.18.0.4:8000, 172.18.0.5:8000 : 10.0.0.9:80')).toBe('10.0.0.9:80');
    expect(lastOf('[fd00::5]:8000')).toBe('[fd00::5]:8000');
    // error_page turned the upstream's 503 into the proxy's own 200 page: still a failed request.
    const masked = parseLine(RECOMMENDED.replace('" 502 157', '" 200 157').replace('="502"', '="503"'), 0);
    expect(masked).toMatchObject({ status: 200, attempts: [{ status: 503 }], failed: true });
  });

  it('a request the proxy answered itself has no upstream ("-"), and one with no request_time has no time', () => {
    const itself = parseLine(
      `${COMBINED.replace('" 200 512', '" 404 0')} upstream="-" upstream_status="-" request_time=-`,
      0,
    );
    expect(itself).toEqual({ at: 0, status: 404, format: 'bluegreen', agent: AGENT, attempts: [], failed: false });
  });

  it('reads an escaped quote inside a field', () => {
    const quoted = COMBINED.replace('/orders?id=7', '/search?q=\\x22blue\\x22').replace(AGENT, 'a \\x22b\\x22');
    expect(parseLine(quoted, 0)).toMatchObject({ status: 200, agent: 'a \\x22b\\x22' });
  });

  it("takes Docker's stamp, in UTC or with an offset; error-log lines, lines cut short and other formats are none", () => {
    expect(parseLogLine(`${STAMP} ${COMBINED}`)?.at).toBe(Date.parse('2026-11-29T21:00:00.123Z'));
    expect(parseLogLine(`2026-11-29T22:00:00.5+01:00 ${COMBINED}`)?.at).toBe(Date.parse('2026-11-29T21:00:00.500Z'));
    expect(parseLogLine(`2026-11-29T21:00:00Z ${COMBINED}`)?.at).toBe(Date.parse('2026-11-29T21:00:00Z'));
    for (const line of [
      `${STAMP} 2026/11/29 21:00:00 [error] 29#29: *1 connect() failed (111: Connection refused) while connecting`,
      `${STAMP} ${COMBINED.slice(0, 60)}`,
      `${STAMP} {"time":"2026-11-29T21:00:00Z","status":200}`,
      COMBINED,
      '',
    ]) {
      expect(parseLogLine(line), line).toBeUndefined();
    }
  });
});

describe('the gate', () => {
  const gate: Watch = { maxErrorRate: 5, minRequests: 20 };
  const tally = (requests: number, errors: number, latencies: number[] = []) => ({ requests, errors, latencies });

  it('fewer than min-requests requests are not judged, however many failed', () => {
    expect(judge(tally(19, 19), gate, 'green')).toEqual({
      verdict: 'too few requests',
      detail: '19 requests to green, fewer than min-requests (20): not judged',
    });
    expect(judge(tally(20, 19), gate, 'green').verdict).toBe('failed');
  });

  it('exactly max-error-rate passes; one error more fails, with the figures', () => {
    expect(judge(tally(20, 1), gate, 'green')).toEqual({
      verdict: 'passed',
      detail: '20 requests to green, 1 failed (5.0%)',
    });
    expect(judge(tally(20, 2), gate, 'green')).toEqual({
      verdict: 'failed',
      detail: '2 of 20 requests to green failed (10.0%), above max-error-rate 5%',
    });
    expect(judge(tally(1000, 50), gate, 'green').verdict).toBe('passed');
    expect(judge(tally(1000, 51), gate, 'green').verdict).toBe('failed');
  });

  it('decimal rates hold at their boundary (0.7% of 10,000 is 70), and 0 allows no failure', () => {
    expect(judge(tally(10_000, 70), { ...gate, maxErrorRate: 0.7 }, 'g').verdict).toBe('passed');
    expect(judge(tally(10_000, 71), { ...gate, maxErrorRate: 0.7 }, 'g').verdict).toBe('failed');
    expect(judge(tally(300, 0), { ...gate, maxErrorRate: 0 }, 'g').verdict).toBe('passed');
    expect(judge(tally(300, 1), { ...gate, maxErrorRate: 0 }, 'g').verdict).toBe('failed');
    expect(judge(tally(300, 300), { ...gate, maxErrorRate: 100 }, 'g').verdict).toBe('passed');
  });

  it('p95 by nearest rank', () => {
    expect(p95([])).toBeNull();
    expect(p95([7])).toBe(7);
    expect(p95(Array.from({ length: 100 }, (_, i) => i + 1))).toBe(95);
    expect(p95(Array.from({ length: 20 }, (_, i) => 20 - i))).toBe(19);
  });

  it('max-latency-ms: a p95 above it fails, at it passes; judged only over min-requests timed requests', () => {
    const slow = Array.from({ length: 20 }, (_, i) => (i < 18 ? 10 : 400));
    const latency = { ...gate, maxLatencyMs: 400 };
    expect(judge(tally(20, 0, slow), latency, 'green').verdict).toBe('passed');
    expect(judge(tally(20, 0, slow), { ...gate, maxLatencyMs: 399 }, 'green')).toEqual({
      verdict: 'failed',
      detail: 'p95 request time of green 400 ms over 20 requests, above max-latency-ms 399',
    });
    // The combined format has no request_time: the latency is not judged, and the result says so.
    expect(judge(tally(20, 0), { ...gate, maxLatencyMs: 1 }, 'green')).toEqual({
      verdict: 'passed',
      detail: '20 requests to green, 0 failed (0.0%); latency not judged: the access log has no request_time',
    });
  });
});

// The old workers stay busy past drain-seconds: the drain, and so the watch by default, last their 10 s.
describe('the watch after the switch, on the fake host (drain 10 s)', () => {
  const setup = async (options: Parameters<typeof fakeSetup>[0] = {}) => {
    const s = await fakeSetup(options);
    s.host.oldWorkersBusyMs = 60_000;
    return s;
  };

  it('a release that fails half of the real requests is sent back to blue within a second, blue never stopped', async () => {
    const { host, clock, log, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, () => host.userRequests('proxy', 40, (i) => (i % 2 ? 500 : 200)));
    const start = clock.now();
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error?.split('\n')).toEqual([
      'The traffic watch failed: 20 of 40 requests to green failed (50.0%), above max-error-rate 5%.',
      "Rolled back: traffic is on blue as before, green was stopped. Fix the cause (see green's log) and run again.",
    ]);
    expect(result.traffic).toMatchObject({ verdict: 'failed', requests: 40, errors: 20, errorRate: 50 });
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
    expect(host.changes).not.toContain(STOP_BLUE);
    expect(clock.now() - start).toBeLessThan(3_000);
    expect(log.text).toMatch(
      /Watching the traffic on green through proxy while blue drains \(max-error-rate 5%, min-requests 20\)/,
    );
  });

  it("reads a remote engine's logs by its own clock: from the switch as that clock tells it", async () => {
    const sinceOf = async (engineClock?: { now(): Promise<number | undefined> }) => {
      const s = await setup({ live: 'blue' });
      const result = await execute(s.config, { ...s.deps, engineClock });
      expect(result.status).toBe('deployed');
      const follow = s.host.calls.find((c) => c.startsWith('docker logs --follow')) ?? '';
      return { since: Number(/--since (\S+)/.exec(follow)?.[1]), log: s.log.text };
    };
    const runner = await sinceOf();
    const fake = await setup({ live: 'blue' });
    const offset = await sinceOf({ now: async () => fake.clock.now() + 5_000 });
    expect(offset.since - runner.since).toBeCloseTo(5, 3);
    expect(offset.log).toMatch(/The engine's clock is 5 s ahead of the runner's: its logs are read by its own\./);
    const unread = await sinceOf({ now: async () => undefined });
    expect(unread.since).toBe(runner.since);
    expect(unread.log).toMatch(/Could not read the engine's clock: its logs are read by the runner's\./);
  });

  it('a good release passes: figures per color, the drain lasts its 10 s, blue stopped after it', async () => {
    const { host, clock, log, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, (poll) => host.userRequests('proxy', 10, () => 200, { ms: 10 + poll }));
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(result.traffic).toMatchObject({
      verdict: 'passed',
      detail: '100 requests to green, 0 failed (0.0%), p95 19 ms',
      requests: 100,
      errors: 0,
      errorRate: 0,
      p95Ms: 19,
      windowMs: 10_000,
      proxies: [{ container: 'proxy', watched: true, format: 'bluegreen', lines: 102 }],
    });
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBe(10_000);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
    expect(log.text).toContain('Traffic watch: passed: 100 requests to green, 0 failed (0.0%), p95 19 ms.');
  });

  it("the tool's own check through the proxy is no user's request: without traffic, too few requests, deployed", async () => {
    const { run } = await setup({ live: 'blue' });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.traffic).toMatchObject({
      verdict: 'too few requests',
      detail: '0 requests to green, fewer than min-requests (20): not judged',
      proxies: [{ watched: true, lines: 2 }],
    });
  });

  it("blue's failures finishing after the switch, and another site's, are not green's (the README's format)", async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, (poll) => {
      host.userRequests('proxy', 10, () => 200);
      if (poll === 0) host.userRequests('proxy', 30, () => 504, { color: 'blue', ms: 60_000 });
      host.userRequests('proxy', 30, () => 500, { color: 'other-site' });
    });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.traffic?.steps[0]?.colors).toEqual({
      blue: { requests: 30, errors: 30, errorRate: 100, p95Ms: 60_000 },
      green: { requests: 100, errors: 0, errorRate: 0, p95Ms: 5 },
    });
  });

  it('in the combined format, every request after the switch counts for the new color', async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, () =>
      host.userRequests('proxy', 30, (i) => (i < 3 ? 503 : 200), { format: 'combined' }),
    );
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.traffic).toMatchObject({ verdict: 'failed', requests: 30, errors: 3, p95Ms: null });
  });

  it('max-latency-ms: a slow release is sent back', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { 'max-latency-ms': '250' } });
    eachWatchPoll(clock, host, () => host.userRequests('proxy', 25, () => 200, { ms: 800 }));
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^The traffic watch failed: p95 request time of green 800 ms over 25 requests/);
  });

  it('a proxy that logs no request is NOT WATCHED, said in the log and the result, never passed', async () => {
    const { host, clock, log, run } = await setup({ live: 'blue' });
    host.accessLogs.delete('proxy');
    eachWatchPoll(clock, host, () => host.userRequests('proxy', 40, () => 500));
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.traffic).toMatchObject({
      verdict: 'not watched',
      proxies: [{ container: 'proxy', watched: false, format: null, lines: 0 }],
    });
    expect(log.text).toContain(
      "NOT WATCHED: proxy: no access-log line in docker logs since the switch, not even the tool's own check: " +
        'access_log off, or written to a file.',
    );
  });

  it('a proxy whose log cannot be read (a logging driver without reading) is not watched, and says why', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.logsUnreadable.add('proxy');
    const result = await run();
    expect(result.traffic?.verdict).toBe('not watched');
    expect(result.traffic?.proxies[0]?.note).toMatch(
      /^docker logs proxy ended \(exit code 1\): .*does not support reading/,
    );
  });

  it('watch-seconds longer than the drain: watched that long', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { 'watch-seconds': '30' } });
    eachWatchPoll(clock, host, (poll) =>
      host.userRequests('proxy', poll === 20 ? 30 : 1, (i) => (poll === 20 && i < 21 ? 500 : 200)),
    );
    const result = await run();
    // At 21 s, 21 errors in 50 requests: rolled back long after the 10 s drain would have ended.
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.traffic).toMatchObject({ requests: 50, errors: 21 });
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBe(21_000);
  });

  it('cleanup keep: no drain and no watch, unless watch-seconds asks for one', async () => {
    const kept = await setup({ live: 'blue', raw: { cleanup: 'keep' } });
    expect((await kept.run()).traffic).toMatchObject({ verdict: 'skipped', detail: 'no drain, and no watch-seconds' });
    const watched = await setup({ live: 'blue', raw: { cleanup: 'keep', 'watch-seconds': '5' } });
    eachWatchPoll(watched.clock, watched.host, () => watched.host.userRequests('proxy', 5));
    const result = await watched.run();
    expect(result.traffic).toMatchObject({ verdict: 'passed', requests: 25 });
    expect(result.phases.map((p) => p.name)).toContain('watch');
    expect(watched.host.containers.get('app-blue')?.running).toBe(true);
  });

  it('watch-seconds 0: the drain alone, and the watch is skipped', async () => {
    const { clock, run } = await setup({ live: 'blue', raw: { 'watch-seconds': '0' } });
    const result = await run();
    expect(result.traffic).toMatchObject({ verdict: 'skipped', detail: 'watch-seconds is 0' });
    expect(result.drain).toMatchObject({ ended: 'bound', ms: 10_000 });
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBe(10_000);
    expect(clock.slept).not.toContain(WATCH_POLL_MS);
  });

  it('a first deploy has nothing to go back to: skipped', async () => {
    const { run } = await setup();
    expect((await run()).traffic).toMatchObject({
      verdict: 'skipped',
      detail: 'no color served before: there is nothing to go back to',
    });
  });

  it('a cancel during the watch sends the traffic back to blue', async () => {
    const s = await setup({ live: 'blue' });
    const controller = new AbortController();
    eachWatchPoll(s.clock, s.host, (poll) => {
      s.host.userRequests('proxy', 5);
      if (poll === 2) controller.abort(new Error('SIGTERM'));
    });
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^cancelled \(SIGTERM\) during the traffic watch/);
    expect(s.host.servedColor('proxy')).toBe('blue');
  });

  it('the dry-run plan says how long the watch lasts and what sends the traffic back, or that there is none', async () => {
    const plan = async (raw: Record<string, string>) =>
      (await (await setup({ live: 'blue', raw: { ...raw, 'dry-run': 'true' } })).run()).plan.slice(-3, -1);
    expect(await plan({ 'watch-seconds': '30', 'max-latency-ms': '250' })).toEqual([
      "watch green's requests in each proxy's access log for 30 s, and while blue drains until every proxy's old " +
        'workers are done with its requests (at most 10 s): above max-error-rate 5% over at least 20 requests, or a ' +
        'p95 above 250 ms, back to blue',
      'cleanup: stop',
    ]);
    expect(await plan({})).toEqual([
      "watch green's requests in each proxy's access log while blue drains until every proxy's old workers are " +
        'done with its requests (at most 10 s): above max-error-rate 5% over at least 20 requests, back to blue',
      'cleanup: stop',
    ]);
    expect(await plan({ 'watch-seconds': '0' })).toEqual([
      "blue drains until every proxy's old workers are done with its requests (at most 10 s)",
      'cleanup: stop',
    ]);
    const kept = await (await setup({ live: 'blue', raw: { cleanup: 'keep', 'dry-run': 'true' } })).run();
    expect(kept.plan.at(-1)).toBe('cleanup: keep');
    expect(kept.plan.join('\n')).not.toMatch(/watch|wait/);
  });

  it('a new color that refuses while Nginx retries on the old one fails the gate: each upstream tried counts', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { 'watch-seconds': '5' } });
    const green = () => host.containers.get('app-green')?.addresses[0];
    const blue = () => host.containers.get('app-blue')?.addresses[0];
    eachWatchPoll(clock, host, () => {
      for (let i = 0; i < 20; i++) {
        host.logLine(
          'proxy',
          `"GET / HTTP/1.1" 200 12 "-" "curl/8" upstream="${green()}:8000, ${blue()}:8000" ` +
            'upstream_status="502, 200" request_time=0.004',
        );
      }
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.traffic?.steps[0]?.colors).toMatchObject({
      green: { requests: 20, errors: 20 },
      blue: { requests: 20, errors: 0 },
    });
  });

  it("a 503 the proxy gave itself (limit_req, a return) is no color's", async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, () => {
      host.userRequests('proxy', 20);
      host.logLine(
        'proxy',
        '"GET / HTTP/1.1" 503 150 "-" "curl/8" upstream="-" upstream_status="-" request_time=0.000',
      );
    });
    expect((await run()).traffic).toMatchObject({ verdict: 'passed', requests: 200, errors: 0 });
  });

  it("a 502 the proxy gave with no upstream (a name that does not resolve) is the new color's", async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, () => {
      for (let i = 0; i < 20; i++) {
        host.logLine(
          'proxy',
          '"GET / HTTP/1.1" 502 150 "-" "curl/8" upstream="-" upstream_status="-" request_time=0.000',
        );
      }
    });
    expect((await run()).traffic).toMatchObject({ verdict: 'failed', requests: 20, errors: 20 });
  });

  it("only this run's own checks are left out: a client calling itself bluegreen-action is counted", async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    eachWatchPoll(clock, host, () =>
      host.logLine(
        'proxy',
        `"GET / HTTP/1.1" 200 12 "-" "bluegreen-action (run 0000)" upstream="${host.containers.get('app-green')?.addresses[0]}:8000" upstream_status="200" request_time=0.001`,
      ),
    );
    const result = await run();
    expect(result.traffic).toMatchObject({ requests: 10, proxies: [{ lines: 12 }] });
  });

  it('a rollback is not reversed by the watch: its figures are reported, and it stands', async () => {
    const s = await setup({ live: 'blue', idleStopped: true });
    eachWatchPoll(s.clock, s.host, () => s.host.userRequests('proxy', 30, () => 500), 'green');
    const result = await s.runWith({ command: 'rollback' });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 0, color: 'green' });
    expect(result.traffic).toMatchObject({ verdict: 'failed', errors: 30 });
    expect(s.log.text).toMatch(/The traffic watch failed: .*\. The rollback stands/);
    // The color it leaves still drains for the whole window before it is stopped.
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBe(10_000);
  });
});

// A real process: a `docker` that is a wrapper, whose child (the real `docker logs --follow`) holds the output.
describe.skipIf(process.platform === 'win32')('following a log with a real process', () => {
  it('stopping the follow ends the wrapper and the process it started, and counts what they printed', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-follow-'));
    const line = `${new Date().toISOString()} 10.0.0.1 - - [29/Nov/2026:21:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl/8"`;
    const child = `console.log(${JSON.stringify(line)}); setInterval(() => {}, 1000);`;
    await fs.writeFile(
      path.join(dir, 'docker'),
      `#!${process.execPath}\nrequire('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: 'inherit' });\nsetInterval(() => {}, 1000);\n`,
      { mode: 0o755 },
    );
    const PATH = process.env.PATH;
    process.env.PATH = `${dir}${path.delimiter}${PATH}`;
    try {
      const nginx = new Nginx(
        createExecaRunner(),
        { read: async () => null, write: async () => {}, kind: async () => 'missing' },
        systemClock,
      );
      const stopping = new AbortController();
      const seen: number[] = [];
      const following = nginx.followAccessLog('proxy', 0, (r) => seen.push(r.status), stopping.signal);
      for (let i = 0; i < 50 && !seen.length; i++) await new Promise((r) => setTimeout(r, 100));
      const stoppedAt = Date.now();
      stopping.abort();
      expect(await following).toBeUndefined();
      expect(Date.now() - stoppedAt).toBeLessThan(3_000);
      expect(seen).toEqual([200]);
    } finally {
      process.env.PATH = PATH;
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
