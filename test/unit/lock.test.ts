import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileLocks, takeOver } from '../../src/lock.js';
import { FakeClock, RecordingLogger } from './fake-host.js';

function locksIn(dir: string, waitMs = 60_000) {
  const clock = new FakeClock();
  const log = new RecordingLogger();
  return { locks: fileLocks({ clock, log }, { dir, waitMs }), clock, log };
}

describe('fileLocks', () => {
  it('gives a key to one holder at a time and frees it on release', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    const { locks } = locksIn(dir, 5_000);
    const release = await locks.acquire('proxies:a');
    expect(readdirSync(dir)).toHaveLength(1);
    await expect(locks.acquire('proxies:a')).rejects.toThrow(/another deploy to the same proxies is running \(process \d+ on /);
    const other = await locks.acquire('proxies:b');
    await release();
    await other();
    expect(readdirSync(dir)).toEqual([]);
    const again = await locks.acquire('proxies:a');
    await again();
  });

  it('waits, reporting every 30 s, until the deadline', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    const { locks, clock, log } = locksIn(dir, 90_000);
    await locks.acquire('k');
    const start = clock.now();
    await expect(locks.acquire('k')).rejects.toThrow(/Run again when it is done/);
    expect(clock.now() - start).toBeGreaterThanOrEqual(90_000);
    expect(log.lines.filter((l) => l.startsWith('Waiting for another deploy')).length).toBe(3);
  });

  it('takes over a lock whose process on this host is gone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    const { locks, log } = locksIn(dir);
    const first = await locks.acquire('k');
    const [file] = readdirSync(dir);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(path.join(dir, file ?? ''), JSON.stringify({ pid: dead, host: os.hostname(), since: 'then' }));
    const release = await locks.acquire('k');
    expect(log.text).toMatch(new RegExp(`Took over the deploy lock .*process ${dead} that held it is gone`));
    expect(readdirSync(dir)).toHaveLength(1);
    await release();
    await first();
  });
});

describe('fileLocks, races and cancels', () => {
  it('a release never removes a lock that another deploy took over meanwhile', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    const { locks } = locksIn(dir);
    const release = await locks.acquire('k');
    const [file = ''] = readdirSync(dir);
    const other = JSON.stringify({ pid: process.pid, host: os.hostname(), since: 'later', token: 'other' });
    writeFileSync(path.join(dir, file), other);
    await release();
    expect(readFileSync(path.join(dir, file), 'utf8')).toBe(other);
  });

  it('a takeover that finds a fresh lock in place of the dead one puts it back', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    const file = path.join(dir, 'bluegreen-x.lock');
    const dead = { pid: spawnSync(process.execPath, ['-e', '0']).pid ?? 0, host: os.hostname(), since: 'then' };
    // This waiter read the dead holder; before it moved the file, another waiter took over and locked anew.
    const fresh = JSON.stringify({ pid: process.pid, host: os.hostname(), since: 'now', token: 'b' });
    writeFileSync(file, fresh);
    const log = new RecordingLogger();
    await takeOver(file, JSON.stringify(dead), dead, log);
    expect(readFileSync(file, 'utf8')).toBe(fresh);
    expect(readdirSync(dir)).toEqual(['bluegreen-x.lock']);
    expect(log.text).not.toMatch(/Took over/);
    // The dead holder's own file is moved away for good.
    writeFileSync(file, JSON.stringify(dead));
    await takeOver(file, JSON.stringify(dead), dead, log);
    expect(readdirSync(dir)).toEqual([]);
    expect(log.text).toMatch(/Took over/);
  });

  it('stops waiting when the run is cancelled', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    const { locks, clock } = locksIn(dir, 15 * 60_000);
    await locks.acquire('k');
    const controller = new AbortController();
    controller.abort(new Error('SIGTERM'));
    const start = clock.now();
    await expect(locks.acquire('k', controller.signal)).rejects.toThrow(/cancelled while waiting for another deploy/);
    expect(clock.now() - start).toBeLessThan(60_000);
  });
});
