// The deploy lock on a real engine: a created, never started container per proxy, seen by every client of the engine.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/io.js';
import { dockerLocks, HOLDER_LABEL, LOCK_IMAGE, LOCK_LABEL, lockName, type Locks } from '../../src/docker/lock.js';
import { createExecaRunner } from '../../src/runner.js';
import { RecordingLogger } from '../unit/fakes.js';
import { docker } from './support/docker.js';

/** Keys of this run only: other test files may use the engine at the same time. */
const RUN = `e2e-${process.pid}-${Date.now().toString(36)}`;
let nextKey = 0;
const key = (what: string) => `proxy:${RUN}-${String(nextKey++).padStart(3, '0')}-${what}`;

function newLocks(waitMs = 60_000): { locks: Locks; lines: string[] } {
  const log = new RecordingLogger();
  return {
    locks: dockerLocks({ runner: createExecaRunner(), clock: systemClock, log }, { waitMs, command: 'deploy' }),
    lines: log.lines,
  };
}

/** The lock containers of this run: name, status and key, as `docker ps -a` shows them. */
async function lockContainers(): Promise<{ name: string; status: string; key: string }[]> {
  const format = `{{.Names}}\t{{.Status}}\t{{.Label "${LOCK_LABEL}"}}`;
  const { stdout } = await docker(['ps', '-a', '--filter', `label=${LOCK_LABEL}`, '--format', format]);
  return stdout
    .split('\n')
    .filter((l) => l.includes(RUN))
    .map((l) => {
      const [name = '', status = '', k = ''] = l.split('\t');
      return { name, status, key: k };
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function removeOurs(): Promise<void> {
  const ours = await lockContainers();
  if (ours.length) await docker(['rm', '-f', ...ours.map((c) => c.name)], { reject: false });
}

describe('deploy locks on a real engine', () => {
  beforeAll(async () => {
    // The first acquire imports the lock image when the engine lacks it.
    const { locks } = newLocks();
    await (
      await locks.acquire([key('image')])
    )();
    expect((await docker(['image', 'inspect', LOCK_IMAGE])).exitCode).toBe(0);
  });
  afterEach(removeOurs);
  afterAll(removeOurs);

  it('two deploys with overlapping proxies serialize: the second waits until the first releases', async () => {
    const [a, b, c] = [key('a'), key('b'), key('c')];
    const first = newLocks();
    const second = newLocks();
    const releaseFirst = await first.locks.acquire([b, a]);
    expect(await lockContainers()).toEqual([
      { name: lockName(a), status: 'Created', key: a },
      { name: lockName(b), status: 'Created', key: b },
    ]);
    let acquiredAt = 0;
    const waiting = second.locks.acquire([c, b]).then((release) => {
      acquiredAt = Date.now();
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(acquiredAt).toBe(0);
    expect(second.lines.join('\n')).toMatch(
      new RegExp(`Waiting for another deploy .*lock ${b}: process ${process.pid} of user .* on host ${os.hostname()} `),
    );
    const releasedAt = Date.now();
    await releaseFirst();
    const releaseSecond = await waiting;
    console.log(`second acquired ${acquiredAt - releasedAt} ms after the first released`);
    expect(acquiredAt - releasedAt).toBeLessThan(2_500);
    expect((await lockContainers()).map((x) => x.key)).toEqual([b, c]);
    // status's view: who holds what.
    const held = await second.locks.holders([a, b, c]);
    expect(held.map((h) => [h.key, h.holder.pid, h.holder.host])).toEqual([
      [b, process.pid, os.hostname()],
      [c, process.pid, os.hostname()],
    ]);
    await releaseSecond();
    expect(await lockContainers()).toEqual([]);
  });

  it('takes over a stale lock of a dead process on this host', async () => {
    const k = key('stale');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const holder = {
      pid: dead,
      host: os.hostname(),
      user: 'gone',
      since: new Date().toISOString(),
      token: 't',
      command: 'deploy',
    };
    const name = lockName(k);
    const labels = ['--label', `${LOCK_LABEL}=${k}`, '--label', `${HOLDER_LABEL}=${JSON.stringify(holder)}`];
    const staleId = (await docker(['create', '--name', name, ...labels, LOCK_IMAGE, 'lock'])).stdout.trim();
    const { locks, lines } = newLocks();
    const started = Date.now();
    const release = await locks.acquire([k]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines.join('\n')).toMatch(
      new RegExp(`warning: Took over the deploy lock ${k}: process ${dead} of user gone`),
    );
    const nowId = (await docker(['container', 'inspect', '--format', '{{.Id}}', name])).stdout.trim();
    expect(nowId).not.toBe(staleId);
    expect((await docker(['container', 'inspect', staleId], { reject: false })).exitCode).toBe(1);
    await release();
    expect(await lockContainers()).toEqual([]);
  });

  it('a lock of another host is not taken over: after the wait limit, the error says how to remove it', async () => {
    const k = key('remote');
    const holder = {
      pid: 1,
      host: `other-${RUN}`,
      user: 'ci',
      since: new Date().toISOString(),
      token: 't',
      command: 'deploy',
    };
    const labels = ['--label', `${LOCK_LABEL}=${k}`, '--label', `${HOLDER_LABEL}=${JSON.stringify(holder)}`];
    await docker(['create', '--name', lockName(k), ...labels, LOCK_IMAGE, 'lock']);
    const { locks } = newLocks(2_000);
    await expect(locks.acquire([k])).rejects.toThrow(
      new RegExp(`process 1 of user ci on host other-${RUN} .*: docker rm ${lockName(k)}$`),
    );
    expect((await lockContainers()).map((x) => x.key)).toEqual([k]);
  });

  it('a cancel ends the wait within a second and leaves no lock of its own', async () => {
    const [a, b] = [key('a'), key('b')];
    const holder = newLocks();
    const release = await holder.locks.acquire([b]);
    const controller = new AbortController();
    const waiter = newLocks(15 * 60_000);
    const waiting = waiter.locks.acquire([a, b], controller.signal).catch((e: Error) => e);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const sentAt = Date.now();
    controller.abort(new Error('SIGTERM'));
    const error = await waiting;
    const ms = Date.now() - sentAt;
    console.log(`the wait ended ${ms} ms after the cancel`);
    expect(ms).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^cancelled \(SIGTERM\) while waiting for another deploy/);
    // The key it had taken (a) is released; the holder's stays.
    expect((await lockContainers()).map((x) => x.key)).toEqual([b]);
    await release();
    expect(await lockContainers()).toEqual([]);
  });
});
