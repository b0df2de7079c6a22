// Several hosts, one release: each fake host is a whole Docker engine with its own proxy, lock and journal; they
// share the runner's clock. The calls of all hosts are recorded in one list, in the order they were made.
import { describe, expect, it } from 'vitest';
import type { Deps } from '../../src/engine/deployment.js';
import { executeFleet } from '../../src/engine/fleet.js';
import { outputsOf, summaryMarkdown, summaryText } from '../../src/report.js';
import type { Journal, JournalEntry } from '../../src/docker/journal.js';
import type { LockHolder } from '../../src/docker/lock.js';
import { renderInclude } from '../../src/proxy/include.js';
import {
  eachWatchPoll,
  INCLUDE,
  killSwitch,
  setup,
  unfinishedDeploy,
  STOP_BLUE,
  STOP_GREEN,
  UP_GREEN,
  type Setup,
} from './deploy-setup.js';
import { FakeClock, RecordingLogger } from './fake-host.js';

interface FleetOptions extends Setup {
  /** Each host's live color, when they differ. */
  lives?: ('blue' | 'green' | undefined)[];
  maxParallel?: number;
  names?: string[];
}

async function fleet(n: number, { lives, maxParallel = 4, names, ...options }: FleetOptions = {}) {
  const clock = new FakeClock();
  const calls: string[] = [];
  const locks: string[] = [];
  const hosts: (Omit<Awaited<ReturnType<typeof setup>>, 'deps'> & { name: string; deps: Deps })[] = [];
  for (let i = 0; i < n; i++) {
    const name = names?.[i] ?? `web${i + 1}`;
    const s = await setup({ ...options, live: lives ? lives[i] : options.live });
    s.host.clock = clock;
    const original = s.host.run.bind(s.host);
    s.host.run = async (file, args, o) => {
      const result = await original(file, args, o);
      calls.push(`${name}: ${result.command}`);
      return result;
    };
    s.locks.acquire = async (keys: string[]) => {
      locks.push(`${name} acquire ${keys.join(' ')}`);
      return async () => {
        locks.push(`${name} release`);
      };
    };
    hosts.push({ ...s, name, deps: { ...s.deps, clock } });
  }
  const log = new RecordingLogger();
  const run = (signal?: AbortSignal) =>
    executeFleet(
      hosts.map((h) => ({ name: h.name, docker: `ssh://deploy@${h.name}`, config: h.config, deps: h.deps })),
      { maxParallel, log, clock, signal },
    );
  const served = () => hosts.map((h) => h.host.servedColor('proxy'));
  const of = (name: string, pattern: RegExp) =>
    calls.flatMap((c, i) => (c.startsWith(`${name}: `) && pattern.test(c) ? [i] : []));
  return { hosts, run, log, clock, calls, locks, served, of };
}

type FleetHostOf = Awaited<ReturnType<typeof fleet>>['hosts'][number];

/** Replaces some calls of a host's journal (the others go to it as they were). */
function changeJournal(h: FleetHostOf, change: Partial<Journal>): void {
  const journal = h.deps.journal;
  h.deps = {
    ...h.deps,
    journal: {
      read: (key) => journal.read(key),
      write: (key, e) => journal.write(key, e),
      clear: (key) => journal.clear(key),
      settle: (key) => journal.settle(key),
      ...change,
    },
  };
}

/** At the watch's first look (once the proxies serve green), `send` gives each host its users' requests. */
function onFirstWatchPoll(f: Awaited<ReturnType<typeof fleet>>, send: (h: FleetHostOf) => void): void {
  let sent = false;
  eachWatchPoll(f.clock, f.hosts[0]!.host, () => {
    if (sent) return;
    sent = true;
    for (const h of f.hosts) send(h);
  });
}

/** Two hosts on blue; the first one's journal holds a deploy of green that died at up, its green left running. */
async function afterDeadDeploy() {
  const f = await fleet(2, { live: 'blue', idleStopped: true });
  const [first, second] = f.hosts;
  if (!first || !second) throw new Error('no hosts');
  const green = first.host.containers.get('app-green');
  if (green) Object.assign(green, { running: true, status: 'running', exitCode: 0 });
  first.journal.entries.set('project:app', unfinishedDeploy('up'));
  return { f, first, second };
}

const RELOAD = /nginx -s reload$/;
/** The phases of a host that goes from blue to green with nothing to wait for but the others. */
const SWAP_PHASES = ['detect', 'up', 'health', 'switch', 'verify', 'drain', 'cleanup'];
const TEST = /nginx -T$/;

describe('several hosts, one release', () => {
  it('switches every host: all tested before any reloads, no old color stopped before every host passed', async () => {
    const f = await fleet(2, { live: 'blue' });
    const result = await f.run();
    expect(result).toMatchObject({
      status: 'deployed',
      exitCode: 0,
      color: 'green',
      port: 8001,
      previousColor: 'blue',
    });
    expect(result.hosts?.map((h) => [h.host, h.status, h.color])).toEqual([
      ['web1', 'deployed', 'green'],
      ['web2', 'deployed', 'green'],
    ]);
    expect(f.served()).toEqual(['green', 'green']);
    for (const h of f.hosts) expect(h.host.changes).toEqual([UP_GREEN, 'docker exec proxy nginx -s reload', STOP_BLUE]);
    const tests = [...f.of('web1', TEST), ...f.of('web2', TEST)];
    const reloads = [...f.of('web1', RELOAD), ...f.of('web2', RELOAD)];
    expect([tests.length, reloads.length]).toEqual([2, 2]);
    expect(Math.max(...tests)).toBeLessThan(Math.min(...reloads));
    const stops = [...f.of('web1', / stop app-blue$/), ...f.of('web2', / stop app-blue$/)];
    expect(Math.max(...reloads)).toBeLessThan(Math.min(...stops));
    // Each host's phases and outcome, and its proxies named by host.
    expect(result.hosts?.[1]?.phases.map((p) => p.name)).toEqual(SWAP_PHASES);
    expect(result.proxies.map((p) => `${p.host}/${p.container}`)).toEqual(['web1/proxy', 'web2/proxy']);
  });

  it('takes every lock before anything changes, one engine after the other in the order of their addresses', async () => {
    const f = await fleet(3, { live: 'blue', names: ['web3', 'web1', 'web2'] });
    await f.run();
    expect(f.locks.slice(0, 3)).toEqual([
      'web1 acquire proxy:proxy',
      'web2 acquire proxy:proxy',
      'web3 acquire proxy:proxy',
    ]);
    expect(f.locks.slice(3).sort()).toEqual(['web1 release', 'web2 release', 'web3 release']);
  });

  it('a lock that cannot be taken on one host: nothing changes anywhere', async () => {
    const f = await fleet(2, { live: 'blue' });
    const second = f.hosts[1];
    if (!second) throw new Error('no second host');
    second.deps = {
      ...second.deps,
      locks: {
        acquire: async () => {
          throw new Error('another deploy holds the lock of proxy:proxy (process 7 on ci-2)');
        },
        holders: async () => [] as { key: string; holder: LockHolder }[],
      },
    };
    const result = await f.run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: undefined });
    expect(result.error).toMatch(/^web2 failed: another deploy holds the lock/);
    expect(result.error).toMatch(/\nEvery host serves what it served before the run\.\n/);
    for (const h of f.hosts) expect(h.host.changes).toEqual([]);
    expect(f.locks).toEqual(['web1 acquire proxy:proxy', 'web1 release']);
  });

  it("nothing changes on any host before the last lock is held: not even a recovery of the first host's unfinished deploy", async () => {
    const { f, first, second } = await afterDeadDeploy();
    second.deps = {
      ...second.deps,
      locks: {
        acquire: async () => {
          // Another deploy holds it: given up after a while.
          await f.clock.sleep(60_000);
          throw new Error('another deploy holds the lock of proxy:proxy (process 7 on ci-2)');
        },
        holders: async () => [] as { key: string; holder: LockHolder }[],
      },
    };
    const result = await f.run();
    expect(result.exitCode).toBe(1);
    expect(first.host.changes).toEqual([]);
    expect(first.journal.entries.has('project:app')).toBe(true);
  });

  it("a recovery under way is not cut short by another host's failure", async () => {
    const { f, first, second } = await afterDeadDeploy();
    let stopping = () => {};
    const began = new Promise<void>((resolve) => (stopping = resolve));
    const second0 = second.host.run.bind(second.host);
    second.host.run = async (file, args, o) => {
      await began;
      if (file === 'docker')
        return { command: 'docker', exitCode: 1, stdout: '', stderr: 'Cannot connect', timedOut: false };
      return second0(file, args, o);
    };
    const original = first.host.run.bind(first.host);
    let looked = false;
    first.host.run = async (file, args, o) => {
      // The recovery's first look at what runs is slow, and the other host fails meanwhile.
      if (!looked && args.includes('ps') && args.includes('app-blue')) {
        looked = true;
        stopping();
        await f.clock.sleep(2_000, o.signal);
        if (o.signal?.aborted)
          return { command: 'ps', exitCode: 130, stdout: '', stderr: 'cancelled', timedOut: false };
      }
      return original(file, args, o);
    };
    const result = await f.run();
    expect(result.exitCode).toBe(1);
    expect(result.hosts?.[0]?.exitCode).toBe(1);
    expect(result.hosts?.[0]?.error).toMatch(/web2 failed: detect failed/);
    // Its recovery finished; nothing after detection ran.
    const phases = result.hosts?.[0]?.phases.map((p) => `${p.name}:${p.ok}`) ?? [];
    expect(phases[0]).toBe('recover:true');
    expect(phases.slice(1).filter((p) => !p.startsWith('detect:'))).toEqual([]);
    expect(result.hosts?.[0]?.interrupted?.action).toBeTruthy();
    expect(first.journal.entries.has('project:app')).toBe(false);
  });

  it('a run that died as the first host began its cleanup: every host keeps the new color, then the next deploy goes on', async () => {
    const f = await fleet(2, { live: 'blue' });
    // The dead run had switched both hosts to green; web1 had recorded its cleanup, web2 not yet (its required
    // post-switch record was the last): alone, web2 would go back to blue and split the fleet.
    const phases = ['cleanup', 'post-switch'] as const;
    f.hosts.forEach((h, i) => {
      h.host.addRunning('app-green');
      h.files.put(INCLUDE, renderInclude(h.config.targets[0]!, 'green', 8001));
      void h.host.run('docker', ['exec', 'proxy', 'nginx', '-s', 'reload'], { timeoutMs: 1 });
      h.host.calls.length = 0;
      h.journal.entries.set('project:app', unfinishedDeploy(phases[i]!, { reloading: ['proxy'] }));
    });
    expect(f.served()).toEqual(['green', 'green']);
    const result = await f.run();
    expect(result.hosts?.map((h) => [h.host, h.interrupted?.serving])).toEqual([
      ['web1', 'green'],
      ['web2', 'green'],
    ]);
    expect(f.log.text).toMatch(
      /Recovery: the hosts were left at different steps of one run: web1 had begun stopping blue, so every host keeps green\./,
    );
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue', previousColor: 'green' });
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('a run that died with one host switched and the other not: every host goes back to the old color', async () => {
    const f = await fleet(2, { live: 'blue' });
    const [first, second] = f.hosts;
    if (!first || !second) throw new Error('no hosts');
    for (const h of f.hosts) h.host.addRunning('app-green');
    first.files.put(INCLUDE, renderInclude(first.config.targets[0]!, 'green', 8001));
    await first.host.run('docker', ['exec', 'proxy', 'nginx', '-s', 'reload'], { timeoutMs: 1 });
    first.host.calls.length = 0;
    first.journal.entries.set('project:app', unfinishedDeploy('switched', { reloading: ['proxy'] }));
    second.journal.entries.set('project:app', unfinishedDeploy('up'));
    expect(f.served()).toEqual(['green', 'blue']);
    const result = await f.run();
    expect(result.hosts?.map((h) => [h.host, h.interrupted?.serving])).toEqual([
      ['web1', 'blue'],
      ['web2', 'blue'],
    ]);
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green', previousColor: 'blue' });
    expect(f.served()).toEqual(['green', 'green']);
  });

  it("no host stops its old color or clears its journal before every host's cleanup is recorded", async () => {
    const f = await fleet(2, { live: 'blue' });
    const events: string[] = [];
    let callsBefore = -1;
    for (const h of f.hosts) {
      const journal = h.deps.journal;
      changeJournal(h, {
        write: async (key, e) => {
          // The second host's engine is slow to store its record.
          if (e.phase === 'cleanup' && h.name === 'web2') await f.clock.sleep(1_000);
          await journal.write(key, e);
          events.push(`${h.name} recorded ${e.phase}`);
          if (e.phase === 'cleanup' && h.name === 'web2') callsBefore = f.calls.length;
        },
        clear: async (key) => {
          events.push(`${h.name} cleared`);
          await journal.clear(key);
        },
      });
    }
    const result = await f.run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    const stops = [...f.of('web1', / stop app-blue$/), ...f.of('web2', / stop app-blue$/)];
    expect(stops).toHaveLength(2);
    const recorded = events.indexOf('web2 recorded cleanup');
    expect(recorded).toBeGreaterThan(-1);
    expect(events.slice(0, recorded).filter((e) => e.endsWith('cleared'))).toEqual([]);
    expect(Math.min(...stops)).toBeGreaterThanOrEqual(callsBefore);
    expect(f.served()).toEqual(['green', 'green']);
  });

  it('a host that cannot record its cleanup: the others keep their journals, and the next run finishes it there', async () => {
    const f = withHook(await fleet(2, { live: 'blue', raw: { 'post-switch-command': 'smoke-test' } }));
    const second = f.hosts[1]!;
    const journal = second.deps.journal;
    let broken = true;
    changeJournal(second, {
      write: async (key, e) => {
        if (broken && e.phase === 'cleanup') throw new Error('the engine does not answer');
        await journal.write(key, e);
      },
    });
    const first = await f.run();
    expect(first.hosts?.map((h) => h.exitCode)).toEqual([0, 3]);
    expect(f.hosts[0]?.journal.entries.get('project:app')?.phase).toBe('cleanup');
    broken = false;
    const next = await f.run();
    expect(next.error).toBeUndefined();
    expect(next.hosts?.map((h) => h.interrupted?.serving)).toEqual(['green', 'green']);
    expect(next).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('a host whose recovery fails: the others keep their journals, and the next run weighs them together again', async () => {
    const f = await leftAtCleanupAndPostSwitch();
    const second = f.hosts[1]!;
    const journal = second.deps.journal;
    let broken = true;
    changeJournal(second, {
      write: async (key, e) => {
        if (broken) throw new Error('the engine does not answer');
        await journal.write(key, e);
      },
    });
    const first = await f.run();
    expect(first.hosts?.map((h) => h.exitCode)).toEqual([1, 3]);
    expect(f.hosts[0]?.journal.entries.size).toBe(1);
    broken = false;
    const next = await f.run();
    expect(next.error).toBeUndefined();
    expect(next.hosts?.map((h) => h.interrupted?.serving)).toEqual(['green', 'green']);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it("another host's failure does not cut short a recovery's health check", async () => {
    const f = await fleet(3, { live: 'blue' });
    const [first, second, third] = f.hosts;
    if (!first || !second || !third) throw new Error('no hosts');
    const phases = ['cleanup', 'post-switch'] as const;
    for (const [i, h] of [first, second].entries()) {
      h.host.addRunning('app-green');
      h.files.put(INCLUDE, renderInclude(h.config.targets[0]!, 'green', 8001));
      await h.host.run('docker', ['exec', 'proxy', 'nginx', '-s', 'reload'], { timeoutMs: 1 });
      h.journal.entries.set('project:app', unfinishedDeploy(phases[i]!, { reloading: ['proxy'] }));
    }
    // Green answers on web2 only after a second; web3's engine fails meanwhile.
    second.host.appStatus.set('app-green', 503);
    const start = f.clock.now();
    const sleep = f.clock.sleep.bind(f.clock);
    f.clock.sleep = async (ms, signal) => {
      await sleep(ms, signal);
      if (f.clock.now() - start >= 1_000) second.host.appStatus.delete('app-green');
    };
    changeJournal(third, {
      read: async () => {
        await f.clock.sleep(500);
        throw new Error('the engine does not answer');
      },
    });
    const result = await f.run();
    expect(result.hosts?.map((h) => h.interrupted?.serving)).toEqual(['green', 'green', undefined]);
    expect(f.served().slice(0, 2)).toEqual(['green', 'green']);
  });

  it('a rollback after a deploy that died and was undone on one host goes nowhere on any host', async () => {
    const { f } = await afterDeadDeploy();
    for (const h of f.hosts) h.config.command = 'rollback';
    const result = await f.run();
    expect(result).toMatchObject({ status: 'unchanged', exitCode: 0, color: 'blue' });
    expect(result.hosts?.map((h) => [h.host, h.status, h.color])).toEqual([
      ['web1', 'unchanged', 'blue'],
      ['web2', 'unchanged', 'blue'],
    ]);
    expect(f.served()).toEqual(['blue', 'blue']);
    expect(f.hosts[1]?.host.changes).toEqual([]);
  });

  it('status reports every host that answers, even when another one does not', async () => {
    const f = await fleet(2, { live: 'blue' });
    for (const h of f.hosts) h.config.command = 'status';
    f.hosts[1]?.host.fail(/^docker /, { exitCode: 1, stderr: 'Cannot connect to the Docker daemon' }, 1_000);
    const result = await f.run();
    expect(result.hosts?.map((h) => [h.host, h.status, h.exitCode, h.color])).toEqual([
      ['web1', 'unchanged', 0, 'blue'],
      ['web2', 'failed', 1, undefined],
    ]);
    expect(result.exitCode).toBe(1);
  });

  it('a failure during the cleanup of one host does not stop the others: they finish, traffic stays on the new color', async () => {
    const f = await fleet(2, { live: 'blue' });
    const [first, second] = f.hosts;
    if (!first || !second) throw new Error('no hosts');
    second.host.fail(/ stop app-blue$/, { exitCode: 1, stderr: 'timeout stopping app-blue' });
    // The first host's stop takes a while, as a real one does: a cancel would end it.
    const original = first.host.run.bind(first.host);
    first.host.run = async (file, args, o) => {
      if (args.at(-1) === 'app-blue' && args.includes('stop')) {
        await f.clock.sleep(1_000, o.signal);
        if (o.signal?.aborted)
          return { command: 'stop', exitCode: 130, stdout: '', stderr: 'cancelled', timedOut: false };
      }
      return original(file, args, o);
    };
    const result = await f.run();
    expect(result.hosts?.map((h) => [h.host, h.status, h.exitCode])).toEqual([
      ['web1', 'deployed', 0],
      ['web2', 'failed', 3],
    ]);
    expect(result).toMatchObject({ exitCode: 3, color: 'green' });
    expect(f.served()).toEqual(['green', 'green']);
  });

  it('hosts that disagree on the live color are refused with the table of what each serves; nothing changes', async () => {
    const f = await fleet(3, { lives: ['blue', 'green', 'blue'] });
    const result = await f.run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(result.error).toMatch(/^the hosts do not agree on the live color, so nothing was changed:/);
    expect(result.error).toMatch(/web1 \(ssh:\/\/deploy@web1\): serves blue; proxy → blue; running: blue/);
    expect(result.error).toMatch(/web2 \(ssh:\/\/deploy@web2\): serves green; proxy → green; running: green/);
    expect(result.error).toMatch(/deploy or roll back the odd host alone/);
    for (const h of f.hosts) expect(h.host.changes).toEqual([]);
    expect(f.served()).toEqual(['blue', 'green', 'blue']);
  });

  it('up fails on the second host: the first stops its new color, no proxy was touched', async () => {
    const f = await fleet(2, { live: 'blue' });
    f.hosts[1]?.host.fail(/ up -d /, { exitCode: 1, stderr: 'build failed: no space left on device' });
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue', rolledBack: true });
    expect(result.error).toMatch(/^web2 failed: up failed/);
    expect(result.error).toMatch(/Every host serves blue\./);
    expect(f.calls.filter((c) => RELOAD.test(c) || TEST.test(c))).toEqual([]);
    expect(f.hosts[0]?.host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('the release fails health on the second host: both stay on the old color, the first one never reloads', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'health-timeout': '3' } });
    f.hosts[1]?.host.appStatus.set('app-green', 500);
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^web2 failed: green did not become healthy within 3 s/);
    expect(result.hosts?.map((h) => [h.host, h.status, h.exitCode, h.color])).toEqual([
      ['web1', 'rolled-back', 1, 'blue'],
      ['web2', 'rolled-back', 1, 'blue'],
    ]);
    // The first host was healthy and waited for the second at the gate: the failure ended its wait.
    expect(result.hosts?.[0]?.error).toMatch(/stopped: web2 failed: green did not become healthy/);
    expect(f.calls.filter((c) => RELOAD.test(c) || TEST.test(c))).toEqual([]);
    for (const h of f.hosts) expect(h.host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('nginx -t rejects the include on the second host: no proxy of any host reloads', async () => {
    const f = await fleet(2, { live: 'blue' });
    const second = f.hosts[1];
    if (second) second.host.nginxRejects = (content) => content.includes('app-green');
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^web2 failed: nginx -t in proxy rejected the new include/);
    expect(f.calls.filter((c) => RELOAD.test(c))).toEqual([]);
    for (const h of f.hosts) {
      expect(h.files.data.get(INCLUDE)).toMatch(/app-blue/);
      expect(h.host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    }
  });

  it('the check through the second proxy fails after every host reloaded: every host goes back to the old color', async () => {
    const f = await fleet(2, {
      live: 'blue',
      raw: { 'verify-url': 'http://127.0.0.1:8080/', 'verify-proxies': 'off' },
    });
    const second = f.hosts[1];
    if (second) second.host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^web2 failed: verify-url did not answer as expected from green/);
    for (const h of f.hosts) {
      expect(h.host.servedColor('proxy')).toBe('blue');
      expect(h.host.changes).toEqual([
        UP_GREEN,
        'docker exec proxy nginx -s reload',
        'docker exec proxy nginx -s reload',
        STOP_GREEN,
      ]);
    }
    expect(f.calls.filter((c) => / stop app-blue$/.test(c))).toEqual([]);
  });

  it('detection fails on the second host (its engine does not answer): nothing changes anywhere', async () => {
    const f = await fleet(2, { live: 'blue' });
    f.hosts[1]?.host.fail(/^docker /, { exitCode: 1, stderr: 'Cannot connect to the Docker daemon' }, 1_000);
    const result = await f.run();
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/^web2 failed: /);
    expect(result.error).toMatch(
      /- web1 \(ssh:\/\/deploy@web1\): failed, exit code 1, serving blue: stopped: web2 failed/,
    );
    for (const h of f.hosts)
      expect(h.host.changes.filter((c) => !c.startsWith('docker create') && !c.startsWith('docker rm'))).toEqual([]);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('the reload fails on the second host: every host that reloaded goes back', async () => {
    const f = await fleet(2, { live: 'blue' });
    f.hosts[1]?.host.fail(RELOAD, { exitCode: 1, stderr: 'kill failed' });
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^web2 failed: /);
    expect(f.served()).toEqual(['blue', 'blue']);
    for (const h of f.hosts) expect(h.host.changes.at(-1)).toBe(STOP_GREEN);
  });

  it("real traffic fails on the second host's new color: every host goes back while the old colors still run", async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'watch-seconds': '3' } });
    const second = f.hosts[1];
    if (!second) throw new Error('no host');
    eachWatchPoll(f.clock, second.host, () => second.host.userRequests('proxy', 40, (i) => (i % 2 ? 500 : 200)));
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(
      /^web2 failed: The traffic watch failed: \d+ of \d+ requests to green failed \(50\.0%\)/,
    );
    expect(f.served()).toEqual(['blue', 'blue']);
    expect(f.calls.filter((c) => / stop app-blue$/.test(c))).toEqual([]);
  });

  it('a release that fails on every host, each with fewer than min-requests: judged over every host, rolled back', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'watch-seconds': '3' } });
    // 15 requests per host, 5 of them failed: each host alone has too few to judge (min-requests 20).
    onFirstWatchPoll(f, (h) => h.host.userRequests('proxy', 15, (i) => (i % 3 ? 200 : 500)));
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(
      /failed: The traffic watch failed: over every host, 10 of 30 requests to green failed \(33\.3%\), above max-error-rate 5%/,
    );
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('hosts with few requests each that pass together: judged over every host, deployed', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'watch-seconds': '3' } });
    onFirstWatchPoll(f, (h) => h.host.userRequests('proxy', 15));
    const result = await f.run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(f.served()).toEqual(['green', 'green']);
    expect(result.hosts?.[0]?.traffic).toMatchObject({ verdict: 'passed', requests: 15 });
    expect(result.hosts?.[0]?.traffic?.detail).toMatch(
      /fewer than min-requests \(20\): not judged; over every host, 30 requests to green, 0 failed/,
    );
  });

  it('the new color stops on the second host during the drain: every host goes back before any old color stops', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'watch-seconds': '2' } });
    const second = f.hosts[1];
    if (!second) throw new Error('no host');
    eachWatchPoll(f.clock, second.host, (poll) => {
      const green = second.host.containers.get('app-green');
      if (poll === 0 && green) Object.assign(green, { running: false, status: 'exited', exitCode: 137 });
    });
    const result = await f.run();
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/^web2 failed: green stopped during the drain/);
    expect(f.hosts[0]?.host.servedColor('proxy')).toBe('blue');
    expect(f.calls.filter((c) => / stop app-blue$/.test(c))).toEqual([]);
  });

  it('a cancel mid-deploy restores every host', async () => {
    const f = await fleet(2, { live: 'blue' });
    const controller = new AbortController();
    const first = f.hosts[0];
    if (!first) throw new Error('no host');
    const original = first.host.run.bind(first.host);
    first.host.run = async (file, args, o) => {
      const result = await original(file, args, o);
      if (RELOAD.test(result.command) && !controller.signal.aborted) controller.abort(new Error('SIGINT'));
      return result;
    };
    const result = await f.run(controller.signal);
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/cancelled \(SIGINT\)/);
    expect(f.served()).toEqual(['blue', 'blue']);
    for (const h of f.hosts) expect(h.host.changes.at(-1)).toBe(STOP_GREEN);
  });

  it('a host that becomes unreachable during the undo: exit 3, and each host says where its traffic is', async () => {
    const f = await fleet(2, {
      live: 'blue',
      raw: { 'verify-url': 'http://127.0.0.1:8080/', 'verify-proxies': 'off' },
    });
    const [first, second] = f.hosts;
    if (!first || !second) throw new Error('no hosts');
    second.host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    // Once its proxy serves green, the first host's engine answers no more.
    const original = first.host.run.bind(first.host);
    first.host.run = async (file, args, o) => {
      if (
        first.host.servedColor('proxy') === 'green' &&
        file === 'docker' &&
        f.hosts[1]?.host.servedColor('proxy') === 'green'
      ) {
        return {
          command: [file, ...args].join(' '),
          exitCode: 1,
          stdout: '',
          stderr: 'error during connect: ssh: connect to host web1 port 22: No route to host',
          timedOut: false,
        };
      }
      return original(file, args, o);
    };
    const result = await f.run();
    expect(result.exitCode).toBe(3);
    expect(result.status).toBe('failed');
    expect(result.color).toBeUndefined();
    expect(result.error).toMatch(/^web2 failed: verify-url did not answer/);
    expect(result.error).toMatch(/NOT every host could be restored: web1 green \(not restored\), web2 blue\./);
    expect(result.error).toMatch(
      /- web1 \(ssh:\/\/deploy@web1\): failed, exit code 3, serving green: .*ROLLBACK INCOMPLETE.*No route to host/,
    );
    expect(result.error).toMatch(/- web2 \(ssh:\/\/deploy@web2\): rolled-back, exit code 1, serving blue/);
    expect(second.host.servedColor('proxy')).toBe('blue');
  });

  it('max-parallel 1: the second host brings up its color only once the first one is healthy', async () => {
    const f = await fleet(2, { live: 'blue', maxParallel: 1 });
    const first = f.hosts[0];
    if (!first) throw new Error('no host');
    first.host.listensAt.set('app-green', f.clock.now() + 5_000);
    const upAt: Record<string, number> = {};
    for (const h of f.hosts) {
      const original = h.host.run.bind(h.host);
      h.host.run = async (file, args, o) => {
        if (args.includes('up')) upAt[h.name] = f.clock.now();
        return original(file, args, o);
      };
    }
    const start = f.clock.now();
    expect((await f.run()).status).toBe('deployed');
    expect(upAt.web1).toBe(start);
    expect(upAt.web2).toBeGreaterThanOrEqual(start + 5_000);
  });

  it('max-parallel 2: both bring up at once', async () => {
    const f = await fleet(2, { live: 'blue', maxParallel: 2 });
    f.hosts[0]?.host.listensAt.set('app-green', f.clock.now() + 5_000);
    const start = f.clock.now();
    const ups: number[] = [];
    for (const h of f.hosts) {
      const original = h.host.run.bind(h.host);
      h.host.run = async (file, args, o) => {
        if (args.includes('up')) ups.push(f.clock.now());
        return original(file, args, o);
      };
    }
    expect((await f.run()).status).toBe('deployed');
    expect(ups).toEqual([start, start]);
  });

  it("reports each host's outcome, phases and proxies in the summary, the log and the outputs", async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'health-timeout': '3' } });
    f.hosts[1]?.host.appStatus.set('app-green', 500);
    const result = await f.run();
    const md = summaryMarkdown(result);
    expect(md).toMatch(/\| host \| engine \| result \| serving \| phases \| traffic after the switch \|/);
    expect(md).toMatch(
      /\| web1 \| ssh:\/\/deploy@web1 \| ↩️ `rolled-back` \(exit code 1\) \| blue \| detect [\d.]+s, up [\d.]+s, health [\d.]+s, restore/,
    );
    expect(md).toMatch(
      /\| web2 \| ssh:\/\/deploy@web2 \| ↩️ `rolled-back` \(exit code 1\) \| blue \| .*health [\d.]+s FAILED/,
    );
    expect(md).toMatch(/\| host \| proxy \| include \|/);
    expect(md).toMatch(/\| web2 \| proxy \| `\/srv\/app\/nginx\/service-url\.inc \(mounted in proxy\)` \| blue \|/);
    const text = summaryText(result);
    expect(text).toMatch(/^ {2}host web1 \(ssh:\/\/deploy@web1\): rolled-back, exit 1, serving blue; phases: detect/m);
    expect(text).toMatch(/web2 failed: green did not become healthy/);
    expect(outputsOf(result)).toMatchObject({ color: 'blue', status: 'rolled-back', 'previous-color': 'blue' });
  });

  it('pre-deploy-command runs once, on the first host, before any host starts its new color', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'pre-deploy-command': 'python manage.py migrate' } });
    const result = await f.run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    const migrations = f.calls.filter((c) => / run --rm .* python manage\.py migrate$/.test(c));
    expect(migrations).toHaveLength(1);
    expect(migrations[0]).toMatch(/^web1: /);
    const migrated = f.calls.indexOf(migrations[0] ?? '');
    for (const name of ['web1', 'web2']) {
      const ups = f.of(name, / up -d /);
      expect(ups, name).toHaveLength(1);
      expect(ups[0], name).toBeGreaterThan(migrated);
    }
    expect(result.hooks.map((h) => h.name)).toEqual(['pre-deploy']);
    expect(result.hosts?.[1]?.phases.map((p) => p.name)).toEqual(SWAP_PHASES);
  });

  it('a failing pre-deploy-command starts no new color on any host', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'pre-deploy-command': 'python manage.py migrate' } });
    const first = f.hosts[0];
    if (first) first.host.oneOffOutcome = () => ({ exitCode: 1, lines: ['relation "users" does not exist'] });
    const result = await f.run();
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/^web1 failed: pre-deploy-command exited with code 1/);
    expect(f.calls.filter((c) => / up -d /.test(c))).toEqual([]);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it("another host's failure does not cut the migration short", async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'pre-deploy-command': 'python manage.py migrate' } });
    const [first, second] = f.hosts;
    if (!first || !second) throw new Error('no hosts');
    // The migration takes 10 s; the second host's build fails meanwhile.
    const migrate = first.host.run.bind(first.host);
    first.host.run = async (file, args, o) => {
      if (args.includes('run') && args.at(-1) === 'migrate') {
        await f.clock.sleep(10_000, o.signal);
        if (o.signal?.aborted) return { command: 'run', exitCode: 130, stdout: '', stderr: 'killed', timedOut: false };
      }
      return migrate(file, args, o);
    };
    const original = second.host.run.bind(second.host);
    second.host.run = async (file, args, o) => {
      if (args.at(-1) === 'app-green' && args.includes('build')) {
        await f.clock.sleep(1_000);
        return { command: 'build', exitCode: 1, stdout: '', stderr: 'no space left on device', timedOut: false };
      }
      return original(file, args, o);
    };
    const result = await f.run();
    expect(result.error).toMatch(/^web2 failed: /);
    expect(result.hosts?.[0]?.hooks).toMatchObject([{ name: 'pre-deploy', ok: true, exitCode: 0 }]);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('the runner hooks run once: pre-switch once every host is healthy, post-switch once every proxy serves the new color', async () => {
    const f = await fleet(2, {
      live: 'blue',
      raw: { 'pre-switch-command': 'check-ready', 'post-switch-command': 'smoke-test' },
    });
    const ran: string[] = [];
    for (const h of f.hosts) {
      h.host.programs.set('check-ready', () => {
        ran.push(`check-ready after ${f.calls.filter((c) => RELOAD.test(c)).length} reloads`);
        return { exitCode: 0 };
      });
      h.host.programs.set('smoke-test', () => {
        ran.push(
          `smoke-test after ${f.calls.filter((c) => RELOAD.test(c)).length} reloads, served ${f.served().join(' ')}`,
        );
        return { exitCode: 0 };
      });
    }
    const result = await f.run();
    expect(result.status).toBe('deployed');
    expect(ran).toEqual(['check-ready after 0 reloads', 'smoke-test after 2 reloads, served green green']);
    expect(result.hooks.map((h) => h.name)).toEqual(['pre-switch', 'post-switch']);
  });

  it('post-switch-command waits for every proxy of every host, even one slow to reload', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'post-switch-command': 'smoke-test' } });
    const [first, second] = f.hosts;
    if (!first || !second) throw new Error('no hosts');
    const seen: string[] = [];
    first.host.programs.set('smoke-test', () => {
      seen.push(f.served().join(' '));
      return { exitCode: 0 };
    });
    const original = second.host.run.bind(second.host);
    second.host.run = async (file, args, o) => {
      if (args.includes('reload')) await f.clock.sleep(2_000);
      return original(file, args, o);
    };
    expect((await f.run()).status).toBe('deployed');
    expect(seen).toEqual(['green green']);
    // Each host's journal said the hook may run: had the runner died then, each would have gone back.
    for (const h of f.hosts) expect(h.journal.written.map((e) => e.phase)).toContain('post-switch');
  });

  it('a failing pre-switch-command sends every host back, no proxy reloaded', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'pre-switch-command': 'check-ready' } });
    f.hosts[0]?.host.programs.set('check-ready', () => ({ exitCode: 2, lines: ['cache cold'] }));
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^web1 failed: pre-switch-command exited with code 2/);
    expect(f.calls.filter((c) => RELOAD.test(c))).toEqual([]);
    expect(f.hosts[0]?.host.changes).toEqual([UP_GREEN, 'check-ready', STOP_GREEN]);
    expect(f.hosts[1]?.host.changes).toEqual([UP_GREEN, STOP_GREEN]);
  });

  it('a dry run says that the other hosts wait for the migration on the first one', async () => {
    const f = await fleet(2, {
      live: 'blue',
      raw: { 'pre-deploy-command': 'python manage.py migrate', 'dry-run': 'true' },
    });
    const result = await f.run();
    expect(result.status).toBe('planned');
    const [one, two] = result.hosts ?? [];
    expect(one?.plan.join('\n')).toMatch(/run pre-deploy-command once, before green starts/);
    expect(two?.plan.join('\n')).not.toMatch(/run pre-deploy-command/);
    expect(two?.plan.join('\n')).toMatch(/wait for pre-deploy-command on the first host of hosts/);
    expect(two?.plan.some((p) => / up -d --no-deps app-green$/.test(p))).toBe(true);
  });

  it('a failing post-switch-command sends every host back', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'post-switch-command': 'smoke-test' } });
    for (const h of f.hosts) h.host.programs.set('smoke-test', () => ({ exitCode: 1, lines: ['checkout failed'] }));
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^web1 failed: post-switch-command exited with code 1/);
    expect(f.served()).toEqual(['blue', 'blue']);
  });

  it('on-failure-command is told the serving color is not known when a host never found what it serves', async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'on-failure-command': 'page-oncall' } });
    const told: Record<string, string>[] = [];
    for (const h of f.hosts)
      h.host.programs.set('page-oncall', (_args, o) => (told.push({ ...o.env }), { exitCode: 0 }));
    f.hosts[1]?.host.fail(/^docker /, { exitCode: 1, stderr: 'Cannot connect to the Docker daemon' }, 1_000);
    await f.run();
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ BLUEGREEN_SERVING: '', BLUEGREEN_SERVING_KNOWN: 'false' });
    expect(told[0]?.BLUEGREEN_ERROR).toMatch(/^web2 failed: /);
  });

  it("on-failure-command runs once, after every host is settled, told the fleet's outcome", async () => {
    const f = await fleet(2, { live: 'blue', raw: { 'health-timeout': '3', 'on-failure-command': 'page-oncall' } });
    const told: Record<string, string>[] = [];
    for (const h of f.hosts) {
      h.host.programs.set('page-oncall', (_args, o) => {
        told.push({ ...o.env, served: f.served().join(' ') });
        return { exitCode: 0 };
      });
    }
    f.hosts[1]?.host.appStatus.set('app-green', 500);
    const result = await f.run();
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({
      BLUEGREEN_STATUS: 'rolled-back',
      BLUEGREEN_SERVING: 'blue',
      BLUEGREEN_EXIT_CODE: '1',
      served: 'blue blue',
    });
    expect(told[0]?.BLUEGREEN_ERROR).toMatch(/^web2 failed: green did not become healthy/);
    expect(told[0]).toMatchObject({
      BLUEGREEN_SERVING_KNOWN: 'true',
      BLUEGREEN_COLOR: 'green',
      BLUEGREEN_PORT: '8001',
      BLUEGREEN_PREVIOUS_COLOR: 'blue',
    });
    expect(result.hooks.map((h) => h.name)).toEqual(['on-failure']);
  });

  it('rollback goes back on every host together', async () => {
    const f = await fleet(2, { live: 'green', idleStopped: true });
    for (const h of f.hosts) h.config.command = 'rollback';
    const result = await f.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 0, color: 'blue' });
    expect(f.served()).toEqual(['blue', 'blue']);
  });
});

/**
 * The fleet's run that dies at instant `at` of any of its hosts (see killSwitch), as a runner killed with SIGKILL
 * would: resolves with the instants it went through, and its result when it ended before.
 */
async function fleetKilledAt(f: Awaited<ReturnType<typeof fleet>>, at: number, when: 'before' | 'after') {
  const kill = killSwitch(at, when);
  const hosts = f.hosts.map((h) => ({
    name: h.name,
    docker: `ssh://deploy@${h.name}`,
    config: h.config,
    deps: kill.deps(h.deps, `${h.name}: `),
  }));
  const result = executeFleet(hosts, { maxParallel: 4, log: new RecordingLogger(), clock: f.clock });
  const ended = await Promise.race([kill.death, result]);
  return { labels: kill.labels, ended };
}

type Fleet = Awaited<ReturnType<typeof fleet>>;

/** The hosts' runner knows the hook's command (it passes). */
function withHook(f: Fleet): Fleet {
  for (const h of f.hosts) h.host.programs.set('smoke-test', () => ({ exitCode: 0 }));
  return f;
}

/** Both hosts serve green after a dead run: one had recorded its cleanup, the other only its post-switch-command. */
async function leftAtCleanupAndPostSwitch(
  phases: readonly JournalEntry['phase'][] = ['cleanup', 'post-switch'],
): Promise<Fleet> {
  const f = await fleet(2, { live: 'blue' });
  for (const [i, h] of f.hosts.entries()) {
    h.host.addRunning('app-green');
    h.files.put(INCLUDE, renderInclude(h.config.targets[0]!, 'green', 8001));
    await h.host.run('docker', ['exec', 'proxy', 'nginx', '-s', 'reload'], { timeoutMs: 1 });
    h.host.calls.length = 0;
    h.journal.entries.set('project:app', unfinishedDeploy(phases[i]!, { reloading: ['proxy'] }));
  }
  return f;
}

/**
 * Kills a fleet run made by `make` at each of its instants, then checks that the next deploy finds every host on
 * one color that runs, repairs what is left and goes on.
 */
async function killedEverywhere(make: () => Promise<Fleet>, color: string) {
  const whole = await fleetKilledAt(await make(), Number.MAX_SAFE_INTEGER, 'before');
  const instants = whole.labels.flatMap((label, i) => [
    [i + 1, 'before', label] as const,
    [i + 1, 'after', label] as const,
  ]);

  it('counts the instants of a whole run that is never killed', () => {
    expect(whole.ended).toMatchObject({ exitCode: 0, color });
    expect(whole.labels.length).toBeGreaterThan(20);
  });

  it.each(instants)('killed at instant %i (%s %s)', async (n, when) => {
    const f = await make();
    await fleetKilledAt(f, n, when);
    for (const h of f.hosts) {
      const served = h.host.servedColor('proxy');
      const up = Boolean(h.host.containers.get(`app-${served}`)?.running);
      expect(!served || up, `${h.name} serves ${served}, which is not running`).toBe(true);
    }
    const result = await f.run();
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(f.served()).toEqual(f.hosts.map(() => result.color));
    for (const h of f.hosts) expect(h.journal.entries.size).toBe(0);
  });
}

const hooked = { 'post-switch-command': 'smoke-test' };
describe('a fleet deploy killed at any instant: the next one finds the hosts on one color and goes on', () => {
  describe('from blue', async () => killedEverywhere(() => fleet(2, { live: 'blue' }), 'green'));
  describe('a first deploy', async () => killedEverywhere(() => fleet(2, {}), 'blue'));
  describe('from blue, with a required post-switch-command', async () =>
    killedEverywhere(async () => withHook(await fleet(2, { live: 'blue', raw: hooked })), 'green'));
  describe('a first deploy, with a required post-switch-command', async () =>
    killedEverywhere(async () => withHook(await fleet(2, { raw: hooked })), 'blue'));
  describe('a canary deploy from blue', async () =>
    killedEverywhere(() => fleet(2, { live: 'blue', raw: { 'canary-steps': '10' } }), 'green'));
  describe('the recovery of hosts left at cleanup and post-switch', async () =>
    killedEverywhere(() => leftAtCleanupAndPostSwitch(), 'blue'));
  describe('the recovery of hosts left at post-switch and cleanup', async () =>
    killedEverywhere(() => leftAtCleanupAndPostSwitch(['post-switch', 'cleanup']), 'blue'));
  describe('the recovery of hosts left at cleanup and post-switch, the second one slow to clear its journal', async () =>
    killedEverywhere(async () => {
      const f = await leftAtCleanupAndPostSwitch();
      const journal = f.hosts[1]!.deps.journal;
      changeJournal(f.hosts[1]!, {
        clear: async (key) => {
          await f.clock.sleep(1_000);
          await journal.clear(key);
        },
      });
      return f;
    }, 'blue'));
});
