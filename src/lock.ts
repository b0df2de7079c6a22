import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock, Logger } from './io.js';

/** One deploy at a time per set of proxies on a host, whichever CI started it. */
export interface Locks {
  /** Waits for the lock on key, until the signal aborts; resolves with its release. */
  acquire(key: string, signal?: AbortSignal): Promise<() => Promise<void>>;
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
    async acquire(key, signal) {
      const file = path.join(dir, `bluegreen-${createHash('sha256').update(key).digest('hex').slice(0, 16)}.lock`);
      const since = new Date(deps.clock.now()).toISOString();
      // The token tells this lock from another of the same process and time (a release must only remove its own).
      const me = JSON.stringify({ pid: process.pid, host: os.hostname(), since, token: randomUUID() });
      const deadline = deps.clock.now() + options.waitMs;
      let lastReport = 0;
      for (;;) {
        try {
          await fs.writeFile(file, me, { flag: 'wx' });
          // Removed only while it is still this run's: never a lock that another deploy took over.
          return async () => {
            if ((await readText(file)) === me) await fs.rm(file, { force: true });
          };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const text = await readText(file);
        const holder = parseHolder(text);
        if (holder && holder.host === os.hostname() && !alive(holder.pid)) {
          await takeOver(file, text ?? '', holder, deps.log);
          continue;
        }
        if (signal?.aborted) throw new Error('cancelled while waiting for another deploy to the same proxies');
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
        await deps.clock.sleep(POLL_MS, signal);
      }
    },
  };
}

/**
 * Moves a dead process's lock away. Another waiter may have taken it over and locked anew between the read and the
 * rename: what was moved is then put back (link fails rather than replace a lock taken meanwhile).
 */
export async function takeOver(file: string, seen: string, holder: Holder, log: Logger): Promise<void> {
  const moved = `${file}.stale-${process.pid}`;
  try {
    await fs.rename(file, moved);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if ((await readText(moved)) === seen) {
    log.warn(`Took over the deploy lock ${file}: process ${holder.pid} that held it is gone.`);
  } else {
    await fs.link(moved, file).catch(() => undefined);
  }
  await fs.rm(moved, { force: true });
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseHolder(text: string | undefined): Holder | undefined {
  try {
    return text === undefined ? undefined : (JSON.parse(text) as Holder);
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
