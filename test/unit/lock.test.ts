import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileLocks } from '../../src/lock.js';
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
