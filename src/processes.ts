import { readdir, readFile } from 'node:fs/promises';
import type { Clock } from './io.js';

/**
 * Every child process of a run gets this variable, set to the run's token: a tool killed with SIGKILL cannot end
 * its children, and they (a `compose up`, a build) go on changing containers. The next run finds them by it, with
 * no pid to record in a race with the spawn, and their own children (the compose plugin of `docker compose`)
 * inherit it too.
 */
export const RUN_ENV = 'BLUEGREEN_RUN';

export interface ProcessInfo {
  pid: number;
  command: string;
}

/**
 * Signals sent to a process of a container straight from this machine, without a `docker exec` (70 to 90 ms of the
 * engine's work): only where this machine runs that container's processes, which /proc tells.
 */
export interface ContainerSignals {
  /**
   * Sends `signal` to `pid` (as `docker top` names it) only if /proc shows that process in the container `id`'s
   * cgroup, its command line starting with `command`; false when that cannot be told or the signal not sent.
   */
  send(pid: number, id: string, command: string, signal: NodeJS.Signals): Promise<boolean>;
}

/** Reads /proc (Linux): a process of the container has its full id in its cgroup path, whatever the driver. */
export function procContainerSignals(proc = '/proc'): ContainerSignals {
  return {
    async send(pid, id, command, signal) {
      if (process.platform !== 'linux' || !/^[0-9a-f]{64}$/.test(id) || !Number.isInteger(pid) || pid <= 1)
        return false;
      try {
        const cgroup = await readFile(`${proc}/${pid}/cgroup`, 'utf8');
        const cmdline = (await readFile(`${proc}/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
        if (!cgroup.includes(id) || !cmdline.startsWith(command)) return false;
        process.kill(pid, signal);
        return true;
      } catch {
        // Not this machine's, gone, or not ours to signal (another user's): the caller uses docker exec.
        return false;
      }
    },
  };
}

/** The processes of this machine, as far as this tool needs them. */
export interface Processes {
  /** Those whose environment holds RUN_ENV=token: empty where environments cannot be read (not Linux). */
  find(token: string): Promise<ProcessInfo[]>;
  /** Ends them (SIGTERM, then SIGKILL after graceMs); resolves with the pids that still run after all. */
  end(pids: number[], graceMs: number): Promise<number[]>;
}

const POLL_MS = 100;
/** After SIGKILL, how long the kernel is given to take a process away. */
const KILL_WAIT_MS = 2_000;

/** Reads /proc (Linux). Processes of other users cannot be read, and a run's children are its user's. */
export function procProcesses(clock: Clock, proc = '/proc'): Processes {
  async function running(pid: number): Promise<boolean> {
    try {
      const stat = await readFile(`${proc}/${pid}/stat`, 'utf8');
      // The state follows the command name, which may hold spaces and ends with ')'. A zombie has ended.
      return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
    } catch {
      return false;
    }
  }

  async function waitGone(pids: number[], ms: number): Promise<number[]> {
    const until = clock.now() + ms;
    for (;;) {
      const left = (await Promise.all(pids.map(async (p) => ((await running(p)) ? p : 0)))).filter((p) => p);
      if (!left.length || clock.now() >= until) return left;
      await clock.sleep(POLL_MS);
    }
  }

  function signal(pids: number[], name: NodeJS.Signals): void {
    for (const pid of pids) {
      try {
        process.kill(pid, name);
      } catch {
        // Gone already, or not ours to end: what still runs is reported.
      }
    }
  }

  return {
    async find(token) {
      if (process.platform !== 'linux') return [];
      const wanted = `${RUN_ENV}=${token}`;
      const entries = await readdir(proc).catch(() => [] as string[]);
      const found: ProcessInfo[] = [];
      for (const entry of entries) {
        const pid = Number(entry);
        if (!Number.isInteger(pid) || pid === process.pid) continue;
        try {
          const environ = (await readFile(`${proc}/${pid}/environ`, 'utf8')).split('\0');
          if (!environ.includes(wanted)) continue;
          const command = (await readFile(`${proc}/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
          found.push({ pid, command });
        } catch {
          // Ended meanwhile, or another user's.
        }
      }
      return found;
    },

    async end(pids, graceMs) {
      signal(pids, 'SIGTERM');
      const left = await waitGone(pids, graceMs);
      if (!left.length) return [];
      signal(left, 'SIGKILL');
      return waitGone(left, KILL_WAIT_MS);
    },
  };
}
