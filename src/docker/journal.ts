import { LOCK_IMAGE, readableName, type LockHolder } from './lock.js';
import { CommandError, type RunResult, type Runner } from '../runner.js';
import { packFile, unpackFirstFile } from './tar.js';

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
}

export const JOURNAL_LABEL = 'bluegreen-action.journal';
const FILE = 'journal.json';
const TIMEOUT_MS = 60_000;

export function journalName(key: string): string {
  return readableName('bluegreen-journal', key);
}

/**
 * The journal as a file in a created, never started container (of the lock's empty image, which the lock made
 * before any entry is written): `docker cp` writes and reads it, and every client of the engine sees it.
 */
export function dockerJournal(runner: Runner): Journal {
  async function docker(what: string, args: string[], expected?: RegExp, input?: Uint8Array): Promise<RunResult> {
    const r = await runner.run('docker', args, { timeoutMs: TIMEOUT_MS, input, encoding: 'latin1' });
    if (r.timedOut || (r.exitCode !== 0 && !expected?.test(r.stderr))) throw new CommandError(what, r);
    return r;
  }
  /** Names whose container exists: created once per run, not before each entry. */
  const created = new Set<string>();

  return {
    async read(key) {
      const name = journalName(key);
      const r = await docker(`reading the deploy journal ${name}`, ['cp', `${name}:/${FILE}`, '-'], NOT_THERE);
      if (r.exitCode !== 0) return undefined;
      const text = unpackFirstFile(Buffer.from(r.stdout, 'latin1'));
      try {
        const entry = JSON.parse(text) as JournalEntry;
        return entry.version === 1 ? entry : undefined;
      } catch {
        throw new Error(
          `the deploy journal ${name} cannot be read (${text.slice(0, 80)}). Remove it: docker rm ${name}`,
        );
      }
    },

    async write(key, entry) {
      const name = journalName(key);
      if (!created.has(name)) {
        const labels = ['--label', `${JOURNAL_LABEL}=${key}`];
        await docker(
          `creating the deploy journal ${name}`,
          ['create', '--name', name, ...labels, LOCK_IMAGE, 'journal'],
          IN_USE,
        );
        created.add(name);
      }
      const archive = packFile(FILE, `${JSON.stringify(entry)}\n`, Date.parse(entry.at) / 1000 || 0);
      await docker(`writing the deploy journal ${name}`, ['cp', '-', `${name}:/`], undefined, archive);
    },

    async clear(key) {
      const name = journalName(key);
      await docker(`removing the deploy journal ${name}`, ['rm', name], /No such container/i);
      created.delete(name);
    },
  };
}

/** Docker CLI 24+ says "Could not find the file", older ones "No such container:path" or "No such container". */
const NOT_THERE = /could not find the file|no such file|no such container/i;
/** The container is there already: a journal left by an earlier run, which this one replaces. */
const IN_USE = /Conflict|already in use/i;
