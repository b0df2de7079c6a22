// The drain's decision (issue 12): the old color runs until every switched proxy's old workers have exited, at most
// drain-seconds; a proxy whose workers cannot be seen keeps it to its bound. On the fake host, whose proxies' old
// workers stay "is shutting down" for as long as a test says after each reload.
import { describe, expect, it } from 'vitest';
import { DRAIN_POLL_MS, drainDecision } from '../../src/engine/drain.js';
import { execute } from '../../src/engine/deployment.js';
import { renderInclude } from '../../src/proxy/include.js';
import { acceptingWorkerPids, Nginx, shuttingDownWorkers } from '../../src/proxy/nginx.js';
import type { Runner } from '../../src/runner.js';
import { eachWatchPoll, RELOAD, setup, STOP_BLUE, UP_GREEN } from './deploy-setup.js';
import { FakeClock, FakeFiles } from './fakes.js';

/** `docker top` of the official Nginx image (Docker 20.10 and 26 print the same columns), a worker shutting down. */
const TOP = [
  'UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD',
  'root                41210               41189               0                   09:12               ?                   00:00:00            nginx: master process nginx -g daemon off;',
  'systemd+            41302               41210               0                   09:12               ?                   00:00:00            nginx: worker process is shutting down',
  'systemd+            41377               41210               0                   09:13               ?                   00:00:00            nginx: worker process',
  'systemd+            41378               41210               0                   09:13               ?                   00:00:00            nginx: worker process',
].join('\n');

describe("the proxy's old workers, from docker top", () => {
  it('counts the workers shutting down, apart from those that accept connections', () => {
    expect(shuttingDownWorkers(TOP)).toBe(1);
    expect(acceptingWorkerPids(TOP)).toEqual(['41377', '41378']);
    const done = TOP.split('\n')
      .filter((l) => !l.includes('shutting down'))
      .join('\n');
    expect(shuttingDownWorkers(done)).toBe(0);
  });

  it('cannot tell without an Nginx worker in the list, or without its columns', () => {
    const [header, master] = TOP.split('\n');
    expect(shuttingDownWorkers(`${header}\n${master}`)).toBeUndefined();
    expect(shuttingDownWorkers('PID TTY TIME\n1 ? 00:00:00')).toBeUndefined();
    expect(shuttingDownWorkers('')).toBeUndefined();
    expect(shuttingDownWorkers(`${header}\nroot 7 1 0 09:12 ? 00:00:00 haproxy -f /etc/haproxy.cfg`)).toBeUndefined();
  });
});

describe('the reload and the drain, by the PIDs of the workers from before the reload', () => {
  const header = TOP.split('\n')[0] ?? '';
  const top = (workers: [number, 'accepting' | 'shutting down'][]) =>
    [
      header,
      'root 1 0 0 09:12 ? 00:00:00 nginx: master process nginx -g daemon off;',
      ...workers.map(
        ([pid, state]) =>
          `nobody ${pid} 1 0 09:12 ? 00:00:00 nginx: worker process${state === 'shutting down' ? ' is shutting down' : ''}`,
      ),
    ].join('\n');
  /** A proxy whose `docker top` shows these lists in turn (the last one stays). */
  function proxy(...tops: string[]) {
    const calls: string[] = [];
    const runner: Runner = {
      run: async (file, args) => {
        calls.push(args.join(' '));
        const stdout = args[0] === 'top' ? (tops.length > 1 ? tops.shift() : tops[0]) : '';
        return { command: [file, ...args].join(' '), exitCode: 0, stdout: stdout ?? '', stderr: '', timedOut: false };
      },
    };
    const clock = new FakeClock();
    return { nginx: new Nginx(runner, new FakeFiles({}), clock), calls, clock };
  }

  /** Worker 10 alone; then new worker 20 beside it, still accepting; then 10 retired. */
  const ONE_OLD = top([[10, 'accepting']]);
  const BESIDE = top([
    [10, 'accepting'],
    [20, 'accepting'],
  ]);
  const RETIRED = top([
    [10, 'shutting down'],
    [20, 'accepting'],
  ]);

  it("until 'started': done at the first look that shows a new worker, while the old one still accepts", async () => {
    const { nginx, calls } = proxy(ONE_OLD, ONE_OLD, BESIDE, BESIDE, RETIRED);
    await expect(nginx.reload('proxy', { until: 'started' })).resolves.toBe(true);
    expect(calls).toEqual(['top proxy', 'exec proxy nginx -s reload', 'top proxy', 'top proxy']);
    // Not yet retitled, the old worker may still take requests to the color it left: it counts.
    expect(await nginx.draining('proxy', 1_000)).toBe(1);
    await nginx.settled('proxy');
    expect(calls.filter((c) => c === 'top proxy')).toHaveLength(5);
    // Once seen, it is not asked again.
    await nginx.settled('proxy');
    expect(calls.filter((c) => c === 'top proxy')).toHaveLength(5);
  });

  it('by default until no old worker accepts, as an undo needs before it stops the color it leaves', async () => {
    const { nginx, calls, clock } = proxy(ONE_OLD, BESIDE, BESIDE, RETIRED);
    const start = clock.now();
    await expect(nginx.reload('proxy')).resolves.toBe(true);
    expect(calls.filter((c) => c === 'top proxy')).toHaveLength(4);
    expect(clock.now() - start).toBe(40);
  });

  it('counts the workers this run replaced, whatever their title, and every worker shutting down', async () => {
    const { nginx, calls } = proxy(
      // Before: one worker still finishing an earlier reload's requests (it may serve the old color too).
      top([
        [5, 'shutting down'],
        [10, 'accepting'],
      ]),
      top([
        [5, 'shutting down'],
        [10, 'accepting'],
        [20, 'accepting'],
      ]),
      // Not yet retitled, 10 still accepts: it counts.
      top([
        [5, 'shutting down'],
        [10, 'accepting'],
        [20, 'accepting'],
      ]),
      top([
        [10, 'shutting down'],
        [20, 'accepting'],
      ]),
      top([[20, 'accepting']]),
      // Another reload since (or a worker that came while this one was prepared): whatever it serves, it counts.
      top([
        [20, 'shutting down'],
        [30, 'accepting'],
      ]),
    );
    await nginx.reload('proxy', { until: 'started' });
    expect(await nginx.draining('proxy', 1_000)).toBe(2);
    expect(await nginx.draining('proxy', 1_000)).toBe(1);
    expect(await nginx.draining('proxy', 1_000)).toBe(0);
    expect(await nginx.draining('proxy', 1_000)).toBe(1);
    // The drain saw that no old worker accepts any more: settled() does not look again.
    const looks = calls.length;
    await nginx.settled('proxy');
    expect(calls).toHaveLength(looks);
  });

  it('without a reload of its own to go by, every worker shutting down counts (a run that took over a drain)', async () => {
    const { nginx } = proxy(
      top([
        [10, 'shutting down'],
        [20, 'accepting'],
      ]),
    );
    expect(await nginx.draining('proxy', 1_000)).toBe(1);
  });
});

describe('the decision', () => {
  const bound = 10_000;

  it('ends once every proxy says no old worker is left, whenever that is', () => {
    const states = [
      { container: 'edge', busy: 0 },
      { container: 'api', busy: 0 },
    ];
    expect(drainDecision(states, 1_800, bound)).toEqual({
      ms: 1_800,
      ended: 'drained',
      why: 'every old worker of edge, api exited after 1.8 s',
    });
    expect(drainDecision(states, 0, bound)?.ended).toBe('drained');
  });

  it('goes on while one proxy is still busy, until the bound, and then says which', () => {
    const states = [
      { container: 'edge', busy: 0 },
      { container: 'api', busy: 2 },
    ];
    expect(drainDecision(states, 9_999, bound)).toBeUndefined();
    expect(drainDecision(states, 10_000, bound)).toEqual({
      ms: 10_000,
      ended: 'bound',
      why: 'drain-seconds (10.0 s) reached: api still had 2 old workers busy',
    });
  });

  it('a proxy whose workers cannot be seen keeps the drain to its bound, and is named', () => {
    const states = [
      { container: 'edge', busy: 0 },
      { container: 'windows-proxy', busy: undefined },
    ];
    expect(drainDecision(states, 5_000, bound)).toBeUndefined();
    expect(drainDecision(states, 10_000, bound)?.why).toBe(
      'drain-seconds (10.0 s) reached: the workers of windows-proxy cannot be seen',
    );
    const both = [{ container: 'api', busy: 1 }, ...states];
    expect(drainDecision(both, 10_200, bound)?.why).toBe(
      'drain-seconds (10.0 s) reached: api still had 1 old worker busy; the workers of windows-proxy cannot be seen',
    );
  });

  it('with no proxy switched (verify-url alone), nothing in flight can be seen: the bound', () => {
    expect(drainDecision([], 0, bound)).toBeUndefined();
    expect(drainDecision([], 10_000, bound)?.why).toBe(
      'drain-seconds (10.0 s) reached: no proxy was switched, so nothing in flight can be seen',
    );
  });
});

describe('the journal around nginx -T', () => {
  it('records that reloads may begin only once every test passed: a rejected include never reads as loaded', async () => {
    const ok = await setup({ live: 'blue' });
    await ok.run();
    const phases = ok.journal.written.map((e) => [e.phase, e.reloading.length]);
    expect(phases.slice(0, 3)).toEqual([
      ['up', 0],
      ['switch', 0],
      ['switch', 1],
    ]);
    const rejected = await setup({ live: 'blue' });
    rejected.host.nginxRejects = (content) => content.includes('app-green');
    const result = await rejected.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(rejected.journal.written.map((e) => [e.phase, e.reloading.length])).toEqual([
      ['up', 0],
      ['switch', 0],
      ['undo', 0],
    ]);
  });
});

describe('the drain of a deploy on the fake host', () => {
  it("ends when the proxy's old worker exits: 1.8 s, asked every 0.2 s; then the old color stops", async () => {
    const { host, log, run } = await setup({ live: 'blue' });
    host.oldWorkersBusyMs = 1_800;
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(result.drain).toEqual({ ms: 1_800, ended: 'drained', why: 'every old worker of proxy exited after 1.8 s' });
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBe(1_800);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
    // One look confirms the reload (the new worker runs, beside the old one still accepting); one more before the
    // verify's answer counts (it does not tell its color: the old worker must no longer accept); the drain's first
    // look comes right away and counts the old worker, then one every DRAIN_POLL_MS until it is gone.
    const tops = host.calls.slice(host.calls.indexOf(RELOAD)).filter((c) => c === 'docker top proxy');
    expect(tops.length).toBe(1 + 1 + 1 + 1_800 / DRAIN_POLL_MS);
    expect(log.text).toContain('Drain of blue ended: every old worker of proxy exited after 1.8 s.');
  });

  it('with the engine on this machine, the reload is a SIGHUP to the master, confirmed and drained the same way', async () => {
    const { host, deps, config } = await setup({ live: 'blue' });
    host.oldWorkersBusyMs = 1_800;
    const result = await execute(config, { ...deps, signals: host.signals });
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, drain: { ms: 1_800, ended: 'drained' } });
    expect(host.changes).toEqual([UP_GREEN, 'SIGHUP proxy', STOP_BLUE]);
    // The master and the container's id are read before the reload, beside the workers it confirms against.
    const signalled = host.calls.indexOf('SIGHUP proxy');
    expect(host.calls.slice(0, signalled)).toContain('docker inspect --type container proxy');
    // One look shows the new worker beside the old one, still accepting: confirmed, the verify goes on at once.
    expect(host.calls.slice(signalled, signalled + 2)).toEqual(['SIGHUP proxy', 'docker top proxy']);
    expect(host.calls[signalled + 2]).toMatch(/^docker inspect --type container /);
  });

  it('a signal that cannot be sent (another machine, another user): docker exec nginx -s reload', async () => {
    const { host, deps, config } = await setup({ live: 'blue' });
    host.signalsRefused = true;
    const result = await execute(config, { ...deps, signals: host.signals });
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
  });

  it('nothing in flight: it ends at its first look, at once, and the watch as long as it still reads the log', async () => {
    const { run } = await setup({ live: 'blue' });
    const result = await run();
    expect(result.drain).toEqual({ ms: 0, ended: 'drained', why: 'every old worker of proxy exited after 0.0 s' });
    // The tool's own two checks (the first sent before the old workers were seen to stop accepting).
    expect(result.traffic).toMatchObject({ verdict: 'too few requests', proxies: [{ watched: true, lines: 2 }] });
  });

  it('a worker busy past drain-seconds: the old color is stopped at the bound, and the result says why', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'drain-seconds': '5' } });
    host.oldWorkersBusyMs = 30_000;
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(result.drain).toEqual({
      ms: 5_000,
      ended: 'bound',
      why: 'drain-seconds (5.0 s) reached: proxy still had 1 old worker busy',
    });
    expect(host.changes.at(-1)).toBe(STOP_BLUE);
  });

  it('a proxy whose workers cannot be seen (docker top refused): the bound, not asked every 0.2 s', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { 'watch-seconds': '0' } });
    host.injections.push((command) =>
      command === 'docker top proxy' ? { exitCode: 1, stderr: 'Error response from daemon: not supported' } : undefined,
    );
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(result.drain).toEqual({
      ms: 10_000,
      ended: 'bound',
      why: 'drain-seconds (10.0 s) reached: the workers of proxy cannot be seen',
    });
    // Before the reload only: the reload cannot be confirmed, so the drain does not ask, and waits for its bound.
    expect(host.calls.filter((c) => c === 'docker top proxy')).toHaveLength(1);
    expect(clock.slept).toContain(10_000);
  });

  it('a look that fails now and then is asked again: the drain still ends when the old worker exits', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'watch-seconds': '0' } });
    host.oldWorkersBusyMs = 1_000;
    let looks = 0;
    // The look before the reload and the two that confirm it pass; the drain's first two fail.
    host.injections.push((command) =>
      command === 'docker top proxy' && [4, 5].includes(++looks)
        ? { exitCode: 1, stderr: 'Error response from daemon: context deadline exceeded' }
        : undefined,
    );
    const result = await run();
    expect(result.drain).toEqual({ ms: 1_000, ended: 'drained', why: 'every old worker of proxy exited after 1.0 s' });
  });

  it('a watch that fails ends the drain with it: no look at the proxy after the rollback', async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    host.oldWorkersBusyMs = 30_000;
    eachWatchPoll(clock, host, () => host.userRequests('proxy', 40, (i) => (i % 2 ? 500 : 200)));
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.drain).toBeUndefined();
    const looks = host.calls.filter((c) => c === 'docker top proxy').length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(host.calls.filter((c) => c === 'docker top proxy').length).toBe(looks);
  });

  it('two proxies: the drain lasts until the slower one is done', async () => {
    const s = await setup({
      live: 'blue',
      raw: {
        'nginx-targets':
          '- container: proxy\n  file: nginx/service-url.inc\n- container: edge\n  path: /etc/nginx/conf.d/up.inc',
        'nginx-container': '',
        'upstream-file': '',
      },
    });
    const second = s.config.targets[1];
    if (!second) throw new Error('no second target');
    s.host.addProxy('edge', {}, { '/etc/nginx/conf.d/up.inc': renderInclude(second, 'blue', 8000) });
    s.host.proxyBusyMs.set('proxy', 1_000);
    s.host.proxyBusyMs.set('edge', 4_000);
    const result = await s.run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(result.drain).toMatchObject({ ended: 'drained', why: 'every old worker of proxy, edge exited after 4.0 s' });
  });

  it('a cancel during the drain sends the traffic back to blue, which still runs', async () => {
    const s = await setup({ live: 'blue', raw: { 'watch-seconds': '0' } });
    s.host.oldWorkersBusyMs = 30_000;
    const controller = new AbortController();
    let looks = 0;
    s.host.injections.push((command) => {
      // A few looks into the drain (the first two confirm the reload).
      if (command === 'docker top proxy' && s.host.servedColor('proxy') === 'green' && ++looks === 6) {
        controller.abort(new Error('SIGTERM'));
      }
      return undefined;
    });
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^cancelled \(SIGTERM\) during drain/);
    expect(s.host.servedColor('proxy')).toBe('blue');
    expect(s.host.containers.get('app-blue')?.running).toBe(true);
  });

  it('no drain with drain-seconds 0, nor with cleanup keep: docker top is not asked after the switch', async () => {
    for (const raw of [{ 'drain-seconds': '0' }, { cleanup: 'keep' }]) {
      const { host, run } = await setup({ live: 'blue', raw });
      const result = await run();
      expect(result.drain).toBeUndefined();
      expect(result.phases.map((p) => p.name)).not.toContain('drain');
      // Only the two looks that confirm the reload.
      const afterReload = host.calls.slice(host.calls.lastIndexOf(RELOAD) + 1);
      expect(afterReload.filter((c) => c.startsWith('docker top'))).toEqual(['docker top proxy', 'docker top proxy']);
    }
  });
});
