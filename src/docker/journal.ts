import { LOCK_IMAGE, readableName, type LockHolder } from './lock.js';
import { CommandError, type RunResult, type Runner } from '../runner.js';
import { unpackFirstFile } from './tar.js';

/**
 * Where a deploy was when it was last recorded. Each is written before the step it names begins, so a run that
 * dies leaves the step it was in, or the one before when it died while writing:
 * - up: the new color is being brought up (or started, for a rollback); no proxy was touched;
 * - switch: includes are being written, tested and reloaded; `reloading` names the proxies whose reload began;
 * - switched: every proxy was reloaded onto `to`; it is being checked, then the old color drains;
 * - post-switch: every proxy serves `to` and was checked; a required post-switch-command is running, whose failure
 *   would put the proxies back on `from`;
 * - canary: the proxies split the requests between `from` and `to` (a canary step), or were being made to; `to` was
 *   not yet judged, so the proxies go back to `from`;
 * - cleanup: `to` passed every check and serves; the old color is being stopped;
 * - undo: the run failed or was cancelled and was putting the proxies back on `from`.
 */
export type JournalPhase = 'up' | 'switch' | 'canary' | 'switched' | 'post-switch' | 'cleanup' | 'undo';

/** One include as the run found it, to put back what a proxy loaded before. */
export interface JournalInclude {
  container: string;
  file?: string;
  path?: string;
  /** The content before the run wrote it; null when there was no include. */
  previous: string | null;
}

export interface JournalEntry {
  version: 1;
  /** The process that wrote it: its token is also in the environment of every child process it started. */
  run: LockHolder;
  command: 'deploy' | 'rollback';
  /** The color that served when the run began (none on a first deploy), and the one it brought up. */
  from?: string;
  to: string;
  phase: JournalPhase;
  /** When the phase was recorded (ISO time of the writer's clock). */
  at: string;
  includes: JournalInclude[];
  /** Proxies whose reload began: they may serve `to` whatever their include says now. */
  reloading: string[];
}

/**
 * A write-ahead record of a deploy under way, kept where the next run finds it whichever runner it runs on, and
 * after a reboot of the runner: on the Docker engine that the deploy changes.
 */
export interface Journal {
  read(key: string): Promise<JournalEntry | undefined>;
  /** Resolves once the entry is stored: only then may the step it announces begin. */
  write(key: string, entry: JournalEntry): Promise<void>;
  /** Called once the run left a state the next run needs no help with. */
  clear(key: string): Promise<void>;
  /** Resolves once what the journal does off the deploy's path is done: before the lock goes to the next run. */
  settle(key: string): Promise<void>;
}

export const JOURNAL_LABEL = 'bluegreen-action.journal';
/** Each entry's place in the order of writes, and the entry itself (JSON), on the container that holds it. */
export const JOURNAL_SEQ_LABEL = 'bluegreen-action.journal.seq';
export const JOURNAL_ENTRY_LABEL = 'bluegreen-action.journal.entry';
/** On the entry that marks a journal cleared while older entries could not all be removed. */
export const JOURNAL_CLEARED_LABEL = 'bluegreen-action.journal.cleared';
/** Where an earlier version of this tool kept the entry: a file in the journal container, written with docker cp. */
const LEGACY_FILE = 'journal.json';
const TIMEOUT_MS = 60_000;

export function journalName(key: string): string {
  return readableName('bluegreen-journal', key);
}

/** How a user removes a journal by hand: every container that holds one of its entries. */
export function journalRemoval(key: string): string {
  const list = `docker ps -a -q --filter "label=${JOURNAL_LABEL}=${key}"`;
  return `remove its containers (${list} lists them) with docker rm`;
}

interface Stored {
  id: string;
  name: string;
  /** -1: an entry of an earlier version, in a file. */
  seq: number;
  entry?: string;
  /** A mark that the journal was cleared: the entries below it are left over. */
  cleared: boolean;
}

/**
 * The journal as created, never started containers of the lock's empty image (made by the lock before any entry is
 * written), one per entry: the entry is a label of its container. A `docker create` takes the engine 15 to 20 ms,
 * where a `docker cp` into a container takes it 70 to 110 (it mounts the container's file system and unpacks in
 * a child process). Each entry gets the next number; the highest is the journal. Older entries are removed
 * after a newer one is stored, oldest first, so that whatever a run that dies leaves, the highest is the last
 * entry it wrote. Every client of the engine sees them.
 */
export function dockerJournal(runner: Runner): Journal {
  async function docker(
    what: string,
    args: string[],
    expected?: RegExp,
    encoding: 'utf8' | 'latin1' = 'latin1',
  ): Promise<RunResult> {
    const r = await runner.run('docker', args, { timeoutMs: TIMEOUT_MS, encoding });
    if (r.timedOut || (r.exitCode !== 0 && !expected?.test(r.stderr))) throw new CommandError(what, r);
    return r;
  }

  /** The containers of a journal, oldest entry first. */
  async function stored(key: string, again = true): Promise<Stored[]> {
    const what = `reading the deploy journal ${journalName(key)}`;
    const ps = await docker(what, ['ps', '-a', '-q', '--no-trunc', '--filter', `label=${JOURNAL_LABEL}=${key}`]);
    const ids = ps.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (!ids.length) return [];
    const r = await docker(what, ['inspect', '--type', 'container', ...ids], undefined, 'utf8').catch(
      (error: unknown) => {
        // Removed meanwhile (by the run that holds the lock, while `status` reads): docker prints the others.
        const r = error instanceof CommandError ? error.result : undefined;
        const lines = r?.stderr.split('\n').filter((l) => l.trim()) ?? [];
        if (r && !r.timedOut && lines.length && lines.every((l) => GONE.test(l))) return r;
        throw error;
      },
    );
    const found = (
      JSON.parse(r.stdout || '[]') as { Id?: string; Name?: string; Config?: { Labels?: Record<string, string> } }[]
    ).map((c) => {
      const labels = c.Config?.Labels ?? {};
      const seq = Number(labels[JOURNAL_SEQ_LABEL] ?? -1);
      return {
        id: c.Id ?? '',
        name: (c.Name ?? '').replace(/^\//, ''),
        seq: Number.isInteger(seq) ? seq : -1,
        entry: labels[JOURNAL_ENTRY_LABEL],
        cleared: labels[JOURNAL_CLEARED_LABEL] === 'true',
      };
    });
    // Every one gone between the two: a newer entry may have been written meanwhile.
    if (!found.length && again) return stored(key, false);
    return found.sort((a, b) => a.seq - b.seq);
  }

  /**
   * Per key: the highest number seen or written, the ids of older entries not yet removed, their removal, and
   * whether every entry is known here (this run wrote the newest, and every removal of an older one succeeded).
   */
  const state = new Map<string, { seq: number; older: string[]; removing: Promise<void>; whole: boolean }>();

  async function known(key: string, all?: Stored[]) {
    let s = state.get(key);
    if (!s || all) {
      const list = all ?? (await stored(key));
      const removing = s?.removing ?? Promise.resolve();
      s = { seq: Math.max(0, ...list.map((e) => e.seq)), older: list.map((e) => e.id), removing, whole: false };
      state.set(key, s);
    }
    return s;
  }

  /** Removes each, oldest first; those that cannot be removed now are left for a later clear. */
  async function remove(ids: string[]): Promise<string[]> {
    const left: string[] = [];
    for (const id of ids) {
      const r = await docker(`removing a deploy journal entry ${id}`, ['rm', id], GONE).catch(() => undefined);
      if (!r) left.push(id);
    }
    return left;
  }

  async function create(key: string, seq: number, labels: Record<string, string>): Promise<string> {
    const name = `${journalName(key)}-${seq}`;
    const all = { [JOURNAL_LABEL]: key, [JOURNAL_SEQ_LABEL]: String(seq), ...labels };
    const args = Object.entries(all).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const r = await docker(`writing the deploy journal ${name}`, [
      'create',
      '--name',
      name,
      ...args,
      // Never pulled, should the image be gone: a name on a registry is not ours.
      '--pull',
      'never',
      LOCK_IMAGE,
      'journal',
    ]);
    return r.stdout.trim();
  }

  return {
    async read(key) {
      const all = await stored(key);
      await known(key, all);
      const newest = all.at(-1);
      if (!newest || newest.cleared) return undefined;
      const text = newest.seq < 0 ? await readLegacy(newest.name) : newest.entry;
      if (text === undefined) return undefined;
      try {
        const entry = JSON.parse(text) as JournalEntry;
        return entry.version === 1 ? entry : undefined;
      } catch {
        throw new Error(
          `the deploy journal ${newest.name} cannot be read (${text.slice(0, 80)}). To deploy anyway, ${journalRemoval(key)}.`,
        );
      }
    },

    async write(key, entry) {
      const labels = { [JOURNAL_ENTRY_LABEL]: JSON.stringify(entry) };
      let s = await known(key);
      let id: string;
      try {
        id = await create(key, s.seq + 1, labels);
      } catch (error) {
        // A create that timed out may have been made all the same: the next write lists the entries again. One that
        // a name already held (such a create) is retried above it at once.
        state.delete(key);
        if (!(error instanceof CommandError && IN_USE.test(error.result.stderr))) throw error;
        s = await known(key);
        id = await create(key, s.seq + 1, labels);
      }
      s.seq += 1;
      // Off the deploy's path: until they are gone, the higher number is the journal.
      const older = s.older;
      s.older = [id];
      s.whole = true;
      const now = s;
      s.removing = s.removing.then(async () => {
        if ((await remove(older)).length) now.whole = false;
      });
    },

    async clear(key) {
      const s = state.get(key);
      await s?.removing;
      state.delete(key);
      // Only this run's entry is left: it goes at once, without listing the journal again.
      const [own] = s?.whole ? s.older : [];
      if (own && s?.older.length === 1) {
        await docker(`removing the deploy journal entry ${own}`, ['rm', own], GONE);
        return;
      }
      const all = await stored(key);
      const [only] = all;
      // One entry goes at once: there is no older one that could become the journal if its removal failed.
      if (all.length === 1 && only) {
        await docker(`removing the deploy journal ${only.name}`, ['rm', only.id], GONE);
        return;
      }
      if (!all.length) return;
      // Several (a run that died before its removals): a mark above them all first, so that the journal reads as
      // cleared whichever of them cannot be removed now.
      const mark = await create(key, Math.max(0, ...all.map((e) => e.seq)) + 1, { [JOURNAL_CLEARED_LABEL]: 'true' });
      const left = await remove(all.map((e) => e.id));
      if (!left.length) await remove([mark]);
    },

    async settle(key) {
      await state.get(key)?.removing;
    },
  };

  /** The entry an earlier version of this tool wrote into a file; undefined when it died before writing one. */
  async function readLegacy(name: string): Promise<string | undefined> {
    const r = await docker(`reading the deploy journal ${name}`, ['cp', `${name}:/${LEGACY_FILE}`, '-'], NOT_THERE);
    return r.exitCode === 0 ? unpackFirstFile(Buffer.from(r.stdout, 'latin1')) : undefined;
  }
}

/** Docker CLI 24+ says "Could not find the file", older ones "No such container:path" or "No such container". */
const NOT_THERE = /could not find the file|no such file|no such container/i;
/** Removed by another run meanwhile, or already. */
const GONE = /no such (container|object)/i;
/** The name of the entry was taken: by a create that timed out here, yet was made. */
const IN_USE = /Conflict|already in use/i;
