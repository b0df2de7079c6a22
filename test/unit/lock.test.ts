import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  dockerLocks,
  HOLDER_LABEL,
  LOCK_IMAGE,
  LOCK_LABEL,
  lockName,
  processIdentity,
  type LockHolder,
} from '../../src/docker/lock.js';
import { describeCommand, type RunOptions, type RunResult, type Runner } from '../../src/runner.js';
import { unpackFirstFile } from '../../src/docker/tar.js';
import { FakeClock, RecordingLogger } from './fake-host.js';

interface Container {
  id: string;
  name: string;
  labels: Record<string, string>;
}

/** One Docker engine, answering exactly as the docker CLI does for the calls the locks make. */
class FakeEngine implements Runner {
  readonly argv: string[][] = [];
  readonly images = new Set<string>();
  readonly containers = new Map<string, Container>();
  imported?: Uint8Array;
  /** Runs before each call: another client of the engine acting in between. */
  before?: (args: string[]) => void;
  /** Answers a call instead of the engine (a daemon that fails). */
  answer?: (args: string[]) => Partial<RunResult> | undefined;
  private next = 1;

  get calls(): string[] {
    return this.argv.map((a) => describeCommand('docker', a));
  }

  byName(name: string): Container | undefined {
    return [...this.containers.values()].find((c) => c.name === name);
  }

  /** A lock container made by someone else (another run, host or user). */
  add(name: string, key: string, holder: Partial<LockHolder>): Container {
    const id = (this.next++).toString(16).padStart(64, 'a');
    const c = { id, name, labels: { [LOCK_LABEL]: key, [HOLDER_LABEL]: JSON.stringify(holder) } };
    this.containers.set(id, c);
    return c;
  }

  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    expect(file).toBe('docker');
    expect(options.timeoutMs).toBe(60_000);
    const a = [...args];
    this.argv.push(a);
    this.before?.(a);
    const command = describeCommand(file, a);
    const result = (exitCode: number, stdout: string, stderr = '') => {
      return { command, exitCode, stdout, stderr, timedOut: false };
    };
    const injected = this.answer?.(a);
    if (injected) return { ...result(1, ''), ...injected };
    const [sub, ...rest] = a;
    if (sub === 'image' && rest[0] === 'inspect') {
      const image = rest[1] ?? '';
      if (this.images.has(image)) return result(0, '[{"Id":"sha256:1"}]\n');
      return result(1, '[]\n', `Error: No such image: ${image}\n`);
    }
    if (sub === 'import') {
      expect(rest[0]).toBe('-');
      this.imported = options.input as Uint8Array;
      this.images.add(rest[1] ?? '');
      return result(0, 'sha256:2\n');
    }
    if (sub === 'create') {
      const name = rest[rest.indexOf('--name') + 1] ?? '';
      const image = rest.at(-2) ?? '';
      if (!this.images.has(image)) {
        // Without --pull never the CLI would pull it.
        expect(rest.slice(-4, -2)).toEqual(['--pull', 'never']);
        return result(1, '', `Error response from daemon: No such image: ${image}\n`);
      }
      const taken = this.byName(name);
      if (taken) {
        return result(
          1,
          '',
          `Error response from daemon: Conflict. The container name "/${name}" is already in use by container ` +
            `"${taken.id}". You have to remove (or rename) that container to be able to reuse that name.\n`,
        );
      }
      const labels = Object.fromEntries(
        rest.flatMap((x, i) => (rest[i - 1] === '--label' ? [x.split(/=(.*)/s).slice(0, 2)] : [])),
      );
      const c = { id: (this.next++).toString(16).padStart(64, 'b'), name, labels };
      this.containers.set(c.id, c);
      return result(0, `${c.id}\n`);
    }
    if (sub === 'container' && rest[0] === 'inspect') {
      const what = rest[1] ?? '';
      const c = this.containers.get(what) ?? this.byName(what);
      if (!c) return result(1, '[]\n', `Error: No such container: ${what}\n`);
      const json = [{ Id: c.id, Name: `/${c.name}`, State: { Status: 'created' }, Config: { Labels: c.labels } }];
      return result(0, `${JSON.stringify(json, null, 4)}\n`);
    }
    if (sub === 'rm') {
      const what = rest[0] ?? '';
      const c = this.containers.get(what) ?? this.byName(what);
      if (!c) return result(1, '', `Error: No such container: ${what}\n`);
      this.containers.delete(c.id);
      return result(0, `${what}\n`);
    }
    return result(1, '', `unexpected docker ${a.join(' ')}`);
  }
}

/** A pid that no process has any more. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid ?? 0;
}

function locksOn(engine: FakeEngine, { waitMs = 60_000, command = 'deploy' } = {}) {
  const clock = new FakeClock();
  const log = new RecordingLogger();
  return { locks: dockerLocks({ runner: engine, clock, log }, { waitMs, command }), clock, log };
}

/** Runs `then` once the clock has been slept on n times (while a wait is under way). */
function onSleep(clock: FakeClock, n: number, then: () => unknown): void {
  const sleep = clock.sleep.bind(clock);
  clock.sleep = async (ms, signal) => {
    await sleep(ms, signal);
    if (clock.slept.length === n) await then();
  };
}

const ELSEWHERE = {
  pid: 4242,
  host: 'build-2',
  user: 'ci',
  since: '2025-01-01T00:00:00.000Z',
  token: 'x',
  command: 'deploy',
};

describe('lock names', () => {
  it('are readable, sanitized and told apart by a hash of the key', () => {
    const hash = (k: string) => createHash('sha256').update(k).digest('hex').slice(0, 8);
    expect(lockName('proxy:nginx')).toBe(`bluegreen-lock-proxy-nginx-${hash('proxy:nginx')}`);
    expect(lockName('project:/srv/my app')).toBe(`bluegreen-lock-project-srv-my-app-${hash('project:/srv/my app')}`);
    expect(lockName('proxy:a/b')).not.toBe(lockName('proxy:a:b'));
    expect(lockName(`proxy:${'x'.repeat(200)}`)).toMatch(/^bluegreen-lock-proxy-x{34}-[0-9a-f]{8}$/);
  });
});

describe('dockerLocks', () => {
  it('creates a never started container per key, with the holder in its labels, and removes it by id', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const { locks, clock } = locksOn(engine, { command: 'rollback' });
    const release = await locks.acquire(['proxy:nginx']);
    const name = lockName('proxy:nginx');
    expect(engine.argv).toEqual([
      [
        'create',
        '--name',
        name,
        '--label',
        'bluegreen-action.lock=proxy:nginx',
        '--label',
        expect.stringMatching(/^bluegreen-action\.holder=\{/),
        '--pull',
        'never',
        'bluegreen-action/lock:1',
        'lock',
      ],
    ]);
    const holder = JSON.parse(engine.byName(name)?.labels[HOLDER_LABEL] ?? '') as LockHolder;
    expect(holder).toEqual({
      pid: process.pid,
      host: os.hostname(),
      user: os.userInfo().username,
      since: new Date(clock.now()).toISOString(),
      token: expect.stringMatching(/^[0-9a-f-]{36}$/),
      command: 'rollback',
      ...processIdentity(process.pid),
    });
    if (process.platform === 'linux') expect(holder.started).toMatch(/^\d+$/);
    const id = engine.byName(name)?.id ?? '';
    engine.argv.length = 0;
    await release();
    expect(engine.argv).toEqual([['rm', id]]);
    expect(engine.containers.size).toBe(0);
  });

  it('imports the lock image from an in-memory archive when a create misses it, never pulls; then only creates', async () => {
    const engine = new FakeEngine();
    const { locks } = locksOn(engine);
    await (
      await locks.acquire(['proxy:a'])
    )();
    expect(engine.argv.slice(0, 4).map((a) => a.slice(0, 3))).toEqual([
      ['create', '--name', lockName('proxy:a')],
      ['image', 'inspect', LOCK_IMAGE],
      ['import', '-', LOCK_IMAGE],
      ['create', '--name', lockName('proxy:a')],
    ]);
    expect(unpackFirstFile(engine.imported ?? new Uint8Array())).toMatch(/bluegreen-action deploy lock/);
    engine.argv.length = 0;
    await (
      await locks.acquire(['proxy:a'])
    )();
    expect(engine.argv.map((a) => a[0])).toEqual(['create', 'rm']);
    expect(engine.argv.flat().filter((x) => x === 'pull')).toEqual([]);
  });

  it('takes the keys in sorted order, whatever order they come in', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const { locks } = locksOn(engine);
    const release = await locks.acquire(['proxy:z', 'proxy:a', 'proxy:m', 'proxy:a']);
    const created = engine.argv.filter((a) => a[0] === 'create').map((a) => a[2]);
    expect(created).toEqual([lockName('proxy:a'), lockName('proxy:m'), lockName('proxy:z')]);
    const idOf = (key: string) => engine.byName(lockName(key))?.id;
    const [a, m, z] = [idOf('proxy:a'), idOf('proxy:m'), idOf('proxy:z')];
    engine.argv.length = 0;
    await release();
    // Released in the reverse order.
    expect(engine.argv.filter((x) => x[0] === 'rm').map((x) => x[1])).toEqual([z, m, a]);
    expect(engine.containers.size).toBe(0);
  });

  it('two overlapping key sets exclude each other: the second waits until the first releases', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const first = locksOn(engine);
    const second = locksOn(engine);
    const releaseFirst = await first.locks.acquire(['proxy:a', 'proxy:b']);
    let released = false;
    onSleep(second.clock, 5, async () => {
      await releaseFirst();
      released = true;
    });
    const releaseSecond = await second.locks.acquire(['proxy:b', 'proxy:c']);
    expect(released).toBe(true);
    expect(second.clock.slept).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(second.log.lines).toEqual([
      `Waiting for another deploy to the same proxies to finish (lock proxy:b: process ${process.pid} of user ` +
        `${os.userInfo().username} on host ${os.hostname()} since ${new Date(first.clock.now()).toISOString()}).`,
    ]);
    expect([...engine.containers.values()].map((c) => c.labels[LOCK_LABEL]).sort()).toEqual(['proxy:b', 'proxy:c']);
    await releaseSecond();
    expect(engine.containers.size).toBe(0);
  });

  it('one run with several hosts: a lock of its own on the same engine fails at once (two hosts are one engine)', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const first = dockerLocks({ runner: engine, clock, log }, { waitMs: 60_000, command: 'deploy', sameRun: true });
    const second = dockerLocks({ runner: engine, clock, log }, { waitMs: 60_000, command: 'deploy', sameRun: true });
    const release = await first.acquire(['proxy:a']);
    await expect(second.acquire(['proxy:a'])).rejects.toThrow(
      /^this run already holds the deploy lock proxy:a on this Docker engine, for another of its hosts/,
    );
    expect(clock.slept).toEqual([]);
    await release();
    // Once released, it is free for anyone.
    await (
      await second.acquire(['proxy:a'])
    )();
  });

  it('a key it cannot get: gives up after the wait limit and releases the keys it took', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    // A live process of this host (not this one).
    engine.add(lockName('proxy:b'), 'proxy:b', { ...ELSEWHERE, host: os.hostname(), pid: process.ppid });
    const { locks, clock } = locksOn(engine, { waitMs: 5_000 });
    const start = clock.now();
    await expect(locks.acquire(['proxy:b', 'proxy:a'])).rejects.toThrow(
      /another deploy holds the lock proxy:b \(process /,
    );
    expect(clock.now() - start).toBe(5_000);
    expect([...engine.containers.values()].map((c) => c.labels[LOCK_LABEL])).toEqual(['proxy:b']);
  });

  it('a holder on another host is waited for, reported every 30 s, then named with how to remove it', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const name = lockName('proxy:a');
    engine.add(name, 'proxy:a', { ...ELSEWHERE, pid: deadPid() });
    const { locks, clock, log } = locksOn(engine, { waitMs: 90_000 });
    const start = clock.now();
    const error = await locks.acquire(['proxy:a']).catch((e: Error) => e);
    expect(clock.now() - start).toBe(90_000);
    expect(new Set(clock.slept)).toEqual(new Set([1_000]));
    expect((error as Error).message).toMatch(
      new RegExp(
        '^another deploy holds the lock proxy:a \\(process \\d+ of user ci on host build-2 since ' +
          '2025-01-01T00:00:00.000Z\\); gave up after 2 min, nothing was changed\\. .*' +
          `remove the lock by hand on the same Docker engine: docker rm ${name}$`,
      ),
    );
    expect(log.lines.filter((l) => l.startsWith('Waiting for another deploy')).length).toBe(3);
    // Never taken over from another host, even though no process of that pid runs here.
    expect(engine.argv.filter((a) => a[0] === 'rm')).toEqual([]);
    expect(engine.byName(name)?.labels[HOLDER_LABEL]).toContain('build-2');
  });

  it('takes over a stale lock of a dead process on this host, removing it by its id', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const name = lockName('proxy:a');
    const dead = deadPid();
    const stale = engine.add(name, 'proxy:a', { ...ELSEWHERE, host: os.hostname(), pid: dead });
    const { locks, log, clock } = locksOn(engine);
    const release = await locks.acquire(['proxy:a']);
    expect(engine.argv).toEqual([
      expect.arrayContaining(['create', name]),
      ['container', 'inspect', name],
      ['rm', stale.id],
      expect.arrayContaining(['create', name]),
    ]);
    expect(clock.slept).toEqual([]);
    expect(log.text).toMatch(new RegExp(`warning: Took over the deploy lock proxy:a: process ${dead} of user ci on `));
    expect(engine.byName(name)?.labels[HOLDER_LABEL]).toContain(`"pid":${process.pid}`);
    await release();
  });

  describe.runIf(process.platform === 'linux')('which process a pid names (Linux)', () => {
    const here = processIdentity(process.pid);

    it('a holder from an earlier boot of this host is gone, even if its pid runs now', async () => {
      const engine = new FakeEngine();
      engine.images.add(LOCK_IMAGE);
      const stale = engine.add(lockName('proxy:a'), 'proxy:a', {
        ...ELSEWHERE,
        ...here,
        host: os.hostname(),
        pid: 1,
        boot: 'an-earlier-boot',
      });
      const release = await locksOn(engine).locks.acquire(['proxy:a']);
      expect(engine.argv).toContainEqual(['rm', stale.id]);
      await release();
    });

    it('a running pid given to a later process (another start time) is not the holder', async () => {
      const engine = new FakeEngine();
      engine.images.add(LOCK_IMAGE);
      const stale = engine.add(lockName('proxy:a'), 'proxy:a', {
        ...ELSEWHERE,
        ...here,
        host: os.hostname(),
        pid: 1,
        started: '0',
      });
      const release = await locksOn(engine).locks.acquire(['proxy:a']);
      expect(engine.argv).toContainEqual(['rm', stale.id]);
      await release();
    });

    it('a holder in another pid namespace of this boot (a runner container beside this one) is never taken over', async () => {
      const engine = new FakeEngine();
      engine.images.add(LOCK_IMAGE);
      engine.add(lockName('proxy:a'), 'proxy:a', {
        ...ELSEWHERE,
        ...here,
        host: os.hostname(),
        pid: deadPid(),
        pidns: 'pid:[1]',
      });
      const { locks } = locksOn(engine, { waitMs: 5_000 });
      await expect(locks.acquire(['proxy:a'])).rejects.toThrow(/another deploy holds the lock proxy:a/);
      expect(engine.argv.filter((a) => a[0] === 'rm')).toEqual([]);
    });
  });

  it('takes over a lock of its own pid that it does not hold (a restarted container reuses pids)', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const stale = engine.add(lockName('proxy:a'), 'proxy:a', { ...ELSEWHERE, host: os.hostname(), pid: process.pid });
    const { locks, log } = locksOn(engine);
    const release = await locks.acquire(['proxy:a']);
    expect(engine.argv).toContainEqual(['rm', stale.id]);
    expect(log.text).toMatch(/Took over the deploy lock proxy:a/);
    await release();
  });

  it('a lock another waiter took over meanwhile is left alone: the stale id is gone, the fresh one stays', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const name = lockName('proxy:a');
    const stale = engine.add(name, 'proxy:a', { ...ELSEWHERE, host: os.hostname(), pid: deadPid() });
    let fresh: ReturnType<FakeEngine['add']> | undefined;
    // The other waiter removes the stale lock and creates its own between this one's inspect and its rm.
    engine.before = (args) => {
      if (args[0] === 'rm' && args[1] === stale.id && !fresh) {
        engine.containers.delete(stale.id);
        fresh = engine.add(name, 'proxy:a', { ...ELSEWHERE, host: os.hostname(), pid: process.ppid, token: 'fresh' });
      }
    };
    const { locks } = locksOn(engine, { waitMs: 3_000 });
    await expect(locks.acquire(['proxy:a'])).rejects.toThrow(/another deploy holds the lock proxy:a/);
    expect(engine.argv.filter((a) => a[0] === 'rm')).toEqual([['rm', stale.id]]);
    expect(engine.byName(name)?.id).toBe(fresh?.id);
  });

  it('a cancel ends the wait at once, releasing the keys already taken', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    engine.add(lockName('proxy:b'), 'proxy:b', ELSEWHERE);
    const { locks, clock } = locksOn(engine, { waitMs: 15 * 60_000 });
    const controller = new AbortController();
    onSleep(clock, 2, () => controller.abort(new Error('SIGTERM')));
    const start = clock.now();
    await expect(locks.acquire(['proxy:a', 'proxy:b'], controller.signal)).rejects.toThrow(
      /^cancelled \(SIGTERM\) while waiting for another deploy to the same proxies \(process 4242 of user ci on host build-2/,
    );
    expect(clock.now() - start).toBe(2_000);
    expect([...engine.containers.values()].map((c) => c.labels[LOCK_LABEL])).toEqual(['proxy:b']);
    // Already cancelled: not a single lock is created.
    engine.argv.length = 0;
    await expect(locks.acquire(['proxy:a'], controller.signal)).rejects.toThrow(/^cancelled \(SIGTERM\)/);
    expect(engine.argv.filter((a) => a[0] === 'create')).toEqual([]);
  });

  it('a release removes only its own lock', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const { locks, log } = locksOn(engine);
    const name = lockName('proxy:a');
    // Removed by hand, then taken by another deploy: the name is another lock now.
    const release = await locks.acquire(['proxy:a']);
    const mine = engine.byName(name);
    engine.containers.delete(mine?.id ?? '');
    const other = engine.add(name, 'proxy:a', ELSEWHERE);
    await release();
    expect(engine.byName(name)).toBe(other);
    // Its own id, which the other lock cannot have: that removal finds nothing, and says so.
    expect(engine.argv.filter((a) => a[0] === 'rm')).toEqual([['rm', mine?.id]]);
    expect(log.text).toMatch(/warning: The deploy lock proxy:a was removed by someone else/);
  });

  it('a release that fails rejects with what failed (the deploy only warns)', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const { locks } = locksOn(engine);
    const release = await locks.acquire(['proxy:a']);
    const driverFailed = { exitCode: 1, stderr: 'Error response from daemon: driver failed' };
    engine.answer = (args) => (args[0] === 'rm' ? driverFailed : undefined);
    await expect(release()).rejects.toThrow(
      /^removing the deploy lock bluegreen-lock-proxy-a-\w{8} failed \(exit code 1\): docker rm \w{64}\nError response from daemon: driver failed$/,
    );
  });

  it('any other docker failure is an error that says what failed, not a held lock', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    const { locks, clock } = locksOn(engine);
    const down = 'Cannot connect to the Docker daemon at tcp://10.0.0.9:2375. Is the docker daemon running?';
    // An unreachable daemon prints [] too: it must not pass for a missing container.
    const unreachable = { stdout: '[]\n', stderr: down };
    engine.answer = (args) => (args[0] === 'create' || args[0] === 'container' ? unreachable : undefined);
    await expect(locks.acquire(['proxy:a'])).rejects.toThrow(
      /^creating the deploy lock bluegreen-lock-proxy-a-[0-9a-f]{8} failed \(exit code 1\): docker create .*\nCannot connect to the Docker daemon/,
    );
    await expect(locks.holders(['proxy:a'])).rejects.toThrow(/reading the deploy lock .* failed .*\nCannot connect/);
    const denied = { stdout: '[]\n', stderr: 'permission denied while trying to connect' };
    engine.images.clear();
    engine.answer = (args) => (args[0] === 'image' ? denied : undefined);
    await expect(locks.acquire(['proxy:a'])).rejects.toThrow(/^looking for the lock image bluegreen-action\/lock:1 /);
    expect(clock.slept).toEqual([]);
  });

  it('holders: who holds which of the keys, none for free ones', async () => {
    const engine = new FakeEngine();
    engine.images.add(LOCK_IMAGE);
    engine.add(lockName('proxy:b'), 'proxy:b', ELSEWHERE);
    const { locks } = locksOn(engine);
    expect(await locks.holders(['proxy:c', 'proxy:b', 'proxy:a'])).toEqual([{ key: 'proxy:b', holder: ELSEWHERE }]);
    expect(engine.argv.filter((a) => a[0] !== 'container')).toEqual([]);
  });
});
