import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock, Logger } from './io.js';

/** One deploy at a time per set of proxies on a host, whichever CI started it. */
export interface Locks {
  /** Waits for the lock on key; resolves with its release. */
  acquire(key: string): Promise<() => Promise<void>>;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

const POLL_MS = 2_000;
const REPORT_EVERY_MS = 30_000;

/**
 * Lock files in the system temp directory, shared by every runner and Jenkins agent of the host. A lock left by a
 * process that no longer runs on this host is taken over.
 */
export function fileLocks(deps: { clock: Clock; log: Logger }, options: { dir?: string; waitMs: number }): Locks {
  const dir = options.dir ?? os.tmpdir();
  return {
    async acquire(key) {
      const file = path.join(dir, `bluegreen-${createHash('sha256').update(key).digest('hex').slice(0, 16)}.lock`);
      const me: Holder = { pid: process.pid, host: os.hostname(), since: new Date(deps.clock.now()).toISOString() };
      const deadline = deps.clock.now() + options.waitMs;
      let lastReport = 0;
      for (;;) {
        try {
          await fs.writeFile(file, JSON.stringify(me), { flag: 'wx' });
          return () => fs.rm(file, { force: true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = await readHolder(file);
        if (holder && holder.host === os.hostname() && !alive(holder.pid)) {
          // Renamed away before it is deleted: of two waiters taking over, only one can rename it, so neither
          // deletes a lock the other has just taken.
          const stale = `${file}.stale-${process.pid}`;
          try {
            await fs.rename(file, stale);
            await fs.rm(stale, { force: true });
            deps.log.warn(`Took over the deploy lock ${file}: process ${holder.pid} that held it is gone.`);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
          continue;
        }
        const who = holder ? `process ${holder.pid} on ${holder.host} since ${holder.since}` : 'another deploy';
        if (deps.clock.now() >= deadline) {
          throw new Error(
            `another deploy to the same proxies is running (${who}; lock ${file}). ` +
              'Run again when it is done; remove the lock file only if no deploy runs.',
          );
        }
        if (deps.clock.now() - lastReport >= REPORT_EVERY_MS) {
          deps.log.info(`Waiting for another deploy to the same proxies to finish (${who}).`);
          lastReport = deps.clock.now();
        }
        await deps.clock.sleep(POLL_MS);
      }
    },
  };
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
