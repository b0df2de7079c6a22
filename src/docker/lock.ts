import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import type { Clock, Logger } from '../io.js';
import { CommandError, type RunResult, type Runner } from '../runner.js';
import { packFile } from './tar.js';

/** Who holds a deploy lock, as its label says. */
export interface LockHolder {
  pid: number;
  host: string;
  user: string;
  since: string;
  /** Tells this lock from another of the same process and time: a release only removes its own. */
  token: string;
  command: string;
  /**
   * Linux only: the kernel's boot id, the process's pid namespace and its start time. Together with the host name
   * they tell whether the pid still names the same process: runner containers on one host share the host name
   * (network host) but not their pids, and a pid is reused after its process ends.
   */
  boot?: string;
  pidns?: string;
  started?: string;
}

/**
 * One deploy at a time per proxy (or compose project) on a Docker engine, whichever runner, OS user or machine
 * drives that engine.
 */
export interface Locks {
  /** Takes every key, waiting until the wait limit or until the signal aborts; resolves with their release. */
  acquire(keys: string[], signal?: AbortSignal): Promise<() => Promise<void>>;
  /** Who holds which of the keys now (status takes no lock, but shows them). */
  holders(keys: string[]): Promise<{ key: string; holder: LockHolder }[]>;
}

/** An empty image, imported on the engine (never pulled): lock containers need one, and are never started. */
export const LOCK_IMAGE = 'bluegreen-action/lock:1';
export const LOCK_LABEL = 'bluegreen-action.lock';
export const HOLDER_LABEL = 'bluegreen-action.holder';

/** Tokens of the locks this process holds: a lock of this pid with another token is a dead process's. */
const heldHere = new Set<string>();

const POLL_MS = 1_000;
const REPORT_EVERY_MS = 30_000;
const DOCKER_TIMEOUT_MS = 60_000;

/** A container name that people can read in `docker ps -a`; the hash keeps distinct keys apart. */
export function readableName(prefix: string, key: string): string {
  const readable = key
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 40);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return `${prefix}-${readable ? `${readable}-` : ''}${hash}`;
}

export function lockName(key: string): string {
  return readableName('bluegreen-lock', key);
}

interface Held {
  key: string;
  name: string;
  id: string;
}

/**
 * Locks that live on the Docker engine: a lock is a created, never started container whose name is derived from
 * the key. Names are unique per engine, so creating one is atomic, and every client of the engine sees it.
 */
export function dockerLocks(
  deps: { runner: Runner; clock: Clock; log: Logger },
  /**
   * sameRun: one run takes locks on several engines (hosts): a lock of this process's that another of its acquires
   * holds means two of its hosts are one engine, and waiting for it would wait for itself.
   */
  options: { waitMs: number; command: string; sameRun?: boolean },
): Locks {
  /** Runs docker; a failure throws, unless its message matches `expected` (then the caller reads the result). */
  async function docker(what: string, args: string[], expected?: RegExp, input?: Uint8Array): Promise<RunResult> {
    const r = await deps.runner.run('docker', args, { timeoutMs: DOCKER_TIMEOUT_MS, input });
    if (r.timedOut || (r.exitCode !== 0 && !expected?.test(r.stderr))) throw new CommandError(what, r);
    return r;
  }

  /** The container with this name or id and its holder, or undefined when there is none. */
  async function inspect(nameOrId: string): Promise<{ id: string; holder?: LockHolder } | undefined> {
    // An unreachable daemon also prints [] and exits 1: only "No such container" means there is none.
    const what = `reading the deploy lock ${nameOrId}`;
    const r = await docker(what, ['container', 'inspect', nameOrId], /No such container/i);
    if (r.exitCode !== 0) return undefined;
    const [found] = JSON.parse(r.stdout) as { Id: string; Config?: { Labels?: Record<string, string> } }[];
    return found && { id: found.Id, holder: parseHolder(found.Config?.Labels?.[HOLDER_LABEL]) };
  }

  async function ensureImage(): Promise<void> {
    const what = `looking for the lock image ${LOCK_IMAGE}`;
    const seen = await docker(what, ['image', 'inspect', LOCK_IMAGE], /No such image/i);
    if (seen.exitCode === 0) return;
    const archive = packFile('lock', 'bluegreen-action deploy lock: a container of this image is never started\n', 0);
    await docker(`creating the lock image ${LOCK_IMAGE}`, ['import', '-', LOCK_IMAGE], undefined, archive);
  }

  /**
   * Creates the lock container: its id, or undefined when another one holds the name. The image is made on the
   * first create that misses it (once per engine): asking for it before every create would cost each run a call.
   * Never pulled: a name on a registry is not ours.
   */
  async function create(key: string, name: string, token: string): Promise<string | undefined> {
    const holder = thisProcess(token, options.command, deps.clock.now());
    const labels = ['--label', `${LOCK_LABEL}=${key}`, '--label', `${HOLDER_LABEL}=${JSON.stringify(holder)}`];
    const args = ['create', '--name', name, ...labels, '--pull', 'never', LOCK_IMAGE, 'lock'];
    const what = `creating the deploy lock ${name}`;
    let r = await docker(what, args, /Conflict|already in use|No such image/i);
    if (/No such image/i.test(r.stderr)) {
      await ensureImage();
      r = await docker(what, args, /Conflict|already in use/i);
    }
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  /** Removes a container by id: false when it was gone already (another waiter or release was first). */
  async function remove(id: string, name: string): Promise<boolean> {
    return (await docker(`removing the deploy lock ${name}`, ['rm', id], /No such container/i)).exitCode === 0;
  }

  async function acquireOne(key: string, token: string, deadline: number, signal?: AbortSignal): Promise<Held> {
    const name = lockName(key);
    let who = 'another deploy';
    let lastReport = -Infinity;
    let retriedAtOnce = false;
    for (;;) {
      if (signal?.aborted) {
        const why = (signal.reason as Error | undefined)?.message ?? 'aborted';
        throw new Error(`cancelled (${why}) while waiting for another deploy to the same proxies (${who}).`);
      }
      const id = await create(key, name, token);
      if (id) return { key, name, id };
      const current = await inspect(name);
      const holder = current?.holder;
      if (current && holder && !holderAlive(holder)) {
        // By id, never by name: by now the name may be a fresh lock that another waiter took over.
        await remove(current.id, name);
        deps.log.warn(`Took over the deploy lock ${key}: ${describeHolder(holder)}, which held it, is gone.`);
        continue;
      }
      if (options.sameRun && holder && ownedHere(holder) && holder.token !== token) {
        throw new Error(
          `this run already holds the deploy lock ${key} on this Docker engine, for another of its hosts: two entries ` +
            'of hosts reach one engine (another address, user or context for it). Name each engine once; nothing was changed.',
        );
      }
      // Released between the create and the inspect: try again at once, but only once in a row.
      if (!current && !retriedAtOnce) {
        retriedAtOnce = true;
        continue;
      }
      retriedAtOnce = false;
      who = holder ? describeHolder(holder) : 'another deploy';
      if (deps.clock.now() >= deadline) {
        const minutes = Math.round(options.waitMs / 60_000);
        throw new Error(
          `another deploy holds the lock ${key} (${who}); gave up after ${minutes} min, nothing was changed. ` +
            'Run again when it is done. If that deploy is really gone (its process or machine was stopped), ' +
            `remove the lock by hand on the same Docker engine: docker rm ${name}`,
        );
      }
      if (deps.clock.now() - lastReport >= REPORT_EVERY_MS) {
        deps.log.info(`Waiting for another deploy to the same proxies to finish (lock ${key}: ${who}).`);
        lastReport = deps.clock.now();
      }
      await deps.clock.sleep(POLL_MS, signal);
    }
  }

  async function releaseAll(held: Held[]): Promise<void> {
    const problems: string[] = [];
    for (const h of [...held].reverse()) {
      try {
        // By the id this run created: no other lock can have it (a container's labels cannot change either).
        if (!(await remove(h.id, h.name))) {
          deps.log.warn(`The deploy lock ${h.key} was removed by someone else while this run held it.`);
        }
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    if (problems.length) throw new Error(problems.join('\n'));
  }

  return {
    async acquire(keys, signal) {
      const token = randomUUID();
      heldHere.add(token);
      const deadline = deps.clock.now() + options.waitMs;
      const held: Held[] = [];
      try {
        // Always in the same order: two deploys that share keys can never hold one each and wait for the other.
        for (const key of [...new Set(keys)].sort()) held.push(await acquireOne(key, token, deadline, signal));
      } catch (error) {
        await releaseAll(held).catch((e: Error) => deps.log.warn(`Could not remove the deploy lock: ${e.message}`));
        heldHere.delete(token);
        throw error;
      }
      return () => releaseAll(held).finally(() => heldHere.delete(token));
    },

    async holders(keys) {
      const found: { key: string; holder: LockHolder }[] = [];
      for (const key of [...new Set(keys)].sort()) {
        const current = await inspect(lockName(key));
        if (current) found.push({ key, holder: current.holder ?? unknownHolder() });
      }
      return found;
    },
  };
}

/** This process as a lock or journal names it. */
export function thisProcess(token: string, command: string, now: number): LockHolder {
  return {
    pid: process.pid,
    host: os.hostname(),
    user: userName(),
    since: new Date(now).toISOString(),
    token,
    command,
    ...processIdentity(process.pid),
  };
}

export function describeHolder(h: LockHolder): string {
  return `process ${h.pid} of user ${h.user} on host ${h.host} since ${h.since}`;
}

function parseHolder(text: string | undefined): LockHolder | undefined {
  try {
    const h = JSON.parse(text ?? '') as Partial<LockHolder>;
    return { ...unknownHolder(), ...h };
  } catch {
    return undefined;
  }
}

function unknownHolder(): LockHolder {
  return { pid: 0, host: '?', user: '?', since: '?', token: '', command: '?' };
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    // A uid with no passwd entry (a container running as an arbitrary uid) has no name.
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

/** Where /proc tells: the boot, pid namespace and start time of a process (Linux), else nothing. */
export function processIdentity(pid: number): Pick<LockHolder, 'boot' | 'pidns' | 'started'> {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return {
      boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      pidns: readlinkSync('/proc/self/ns/pid'),
      // Field 22, counted after the command name (which may hold spaces) ends with ')'.
      started: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19],
    };
  } catch {
    return {};
  }
}

/** A lock this very process holds (an acquire that has not been released). */
function ownedHere(holder: LockHolder): boolean {
  return holder.host === os.hostname() && holder.pid === process.pid && heldHere.has(holder.token);
}

/**
 * Whether the holder's process may still run. One on another host may (nothing here can tell), so does one of
 * another user (EPERM), an unreadable pid, and one in another pid namespace of this boot (a runner container beside
 * this one): its pid means nothing here. A holder from an earlier boot is gone.
 */
export function holderAlive(holder: LockHolder): boolean {
  const { pid, token } = holder;
  if (holder.host !== os.hostname()) return true;
  if (!Number.isInteger(pid) || pid <= 0) return true;
  const here = processIdentity(process.pid);
  if (holder.boot && here.boot) {
    if (holder.boot !== here.boot) return false;
    if (holder.pidns !== here.pidns) return true;
  }
  // This very pid: a process before this one had it (a restarted container often starts at the same pid).
  if (pid === process.pid) return heldHere.has(token);
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // The pid runs, but is it the holder, or a later process that was given its number?
  const now = processIdentity(pid).started;
  return !(holder.started && now && now !== holder.started);
}
