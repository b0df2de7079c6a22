import { describe, expect, it } from 'vitest';
import {
  dockerJournal,
  JOURNAL_CLEARED_LABEL,
  JOURNAL_ENTRY_LABEL,
  JOURNAL_LABEL,
  JOURNAL_SEQ_LABEL,
  journalName,
  type JournalEntry,
} from '../../src/docker/journal.js';
import { LOCK_IMAGE, thisProcess } from '../../src/docker/lock.js';
import { describeCommand, type RunOptions, type RunResult, type Runner } from '../../src/runner.js';
import { packFile } from '../../src/docker/tar.js';

interface Container {
  id: string;
  labels: Record<string, string>;
  /** Files, for the journal container of an earlier version (docker cp). */
  files: Map<string, string>;
}

/** Containers on one engine, answering as the docker CLI does for ps, inspect, create, rm and cp out. */
class JournalEngine implements Runner {
  readonly calls: string[] = [];
  /** Name → container, in the order created. */
  readonly containers = new Map<string, Container>();
  private nextId = 1;
  /** A name whose rm fails with a daemon error. */
  failRemoving?: string;

  /** Every id a name had, kept after its removal. */
  readonly ids = new Map<string, string>();

  add(name: string, labels: Record<string, string>, files: Record<string, string> = {}): void {
    const id = `${String(this.nextId++).padStart(4, '0')}${'f'.repeat(60)}`;
    this.ids.set(name, id);
    this.containers.set(name, { id, labels, files: new Map(Object.entries(files)) });
  }

  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    const command = describeCommand(file, args);
    this.calls.push(command);
    expect(options.timeoutMs).toBe(60_000);
    const result = (exitCode: number, stdout: string, stderr = '') => ({
      command,
      exitCode,
      stdout,
      stderr,
      timedOut: false,
    });
    const [sub, ...rest] = args;
    const byName = (nameOrId: string) =>
      [...this.containers].find(([name, c]) => name === nameOrId || c.id === nameOrId);
    if (sub === 'ps') {
      expect(rest.slice(0, 4)).toEqual(['-a', '-q', '--no-trunc', '--filter']);
      const [key, value] = (rest[4] ?? '').replace(/^label=/, '').split(/=(.*)/s) as [string, string];
      const ids = [...this.containers.values()].filter((c) => c.labels[key] === value).map((c) => c.id);
      return result(
        0,
        ids
          .reverse()
          .map((id) => `${id}\n`)
          .join(''),
      );
    }
    if (sub === 'inspect') {
      expect(rest.slice(0, 2)).toEqual(['--type', 'container']);
      const found = rest
        .slice(2)
        .map(byName)
        .filter((f) => f !== undefined);
      const missing = rest.slice(2).filter((id) => !byName(id));
      const json = found.map(([name, c]) => ({ Id: c.id, Name: `/${name}`, Config: { Labels: c.labels } }));
      return result(
        missing.length ? 1 : 0,
        `${JSON.stringify(json, null, 4)}\n`,
        missing.map((m) => `Error: No such object: ${m}\n`).join(''),
      );
    }
    if (sub === 'create') {
      const name = rest[rest.indexOf('--name') + 1] ?? '';
      if (this.containers.has(name)) {
        return result(
          1,
          '',
          `Error response from daemon: Conflict. The container name "/${name}" is already in use by container "abc".`,
        );
      }
      const labels: Record<string, string> = {};
      rest.forEach((a, i) => {
        if (a !== '--label') return;
        const [k, v] = (rest[i + 1] ?? '').split(/=(.*)/s) as [string, string];
        labels[k] = v;
      });
      expect(rest.slice(-2)).toEqual([LOCK_IMAGE, 'journal']);
      this.add(name, labels);
      return result(0, `${this.containers.get(name)?.id}\n`);
    }
    if (sub === 'cp') {
      const [name, p] = (rest[0] ?? '').split(':') as [string, string];
      const c = this.containers.get(name);
      if (!c) return result(1, '', `Error response from daemon: No such container: ${name}`);
      const content = c.files.get(p);
      if (content === undefined)
        return result(1, '', `Error response from daemon: Could not find the file ${p} in container ${name}`);
      return result(0, Buffer.from(packFile('journal.json', content, 0)).toString('latin1'));
    }
    if (sub === 'rm') {
      const [name] = byName(rest[0] ?? '') ?? [];
      if (name !== undefined && name === this.failRemoving)
        return result(1, '', 'Error response from daemon: driver failed');
      if (name === undefined || !this.containers.delete(name))
        return result(1, '', `Error response from daemon: No such container: ${rest[0]}`);
      return result(0, `${rest[0]}\n`);
    }
    return result(1, '', `unexpected docker ${args.join(' ')}`);
  }
}

const ENTRY: JournalEntry = {
  version: 1,
  run: thisProcess('token-1', 'deploy', Date.parse('2026-11-29T10:00:00Z')),
  command: 'deploy',
  from: 'blue',
  to: 'green',
  phase: 'switch',
  at: '2026-11-29T10:00:05.000Z',
  includes: [
    {
      container: 'proxy',
      file: '/srv/app/nginx/service-url.inc',
      previous: 'upstream app { server app-blue:8000; }\n',
    },
  ],
  reloading: [],
};

const KEY = 'project:app';
const NAME = journalName(KEY);
const LIST = `docker ps -a -q --no-trunc --filter label=${JOURNAL_LABEL}=${KEY}`;
const createCall = (seq: number, entry: JournalEntry) =>
  describeCommand('docker', [
    'create',
    '--name',
    `${NAME}-${seq}`,
    '--label',
    `${JOURNAL_LABEL}=${KEY}`,
    '--label',
    `${JOURNAL_SEQ_LABEL}=${seq}`,
    '--label',
    `${JOURNAL_ENTRY_LABEL}=${JSON.stringify(entry)}`,
    '--pull',
    'never',
    LOCK_IMAGE,
    'journal',
  ]);
/** `docker rm` of the id a name had. */
const rm = (engine: JournalEngine, name: string) => `docker rm ${engine.ids.get(name)}`;
/** Lets the removals that a write starts off the deploy's path run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const SWITCHED: JournalEntry = { ...ENTRY, phase: 'switched', reloading: ['proxy'] };

describe('the journal on the Docker engine', () => {
  it('is one created, never started container per entry, the entry in a label (a docker create each, no docker cp)', async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    expect(NAME).toMatch(/^bluegreen-journal-project-app-[0-9a-f]{8}$/);
    expect(await journal.read(KEY)).toBeUndefined();
    await journal.write(KEY, ENTRY);
    await journal.write(KEY, SWITCHED);
    await settle();
    expect(engine.calls).toEqual([LIST, createCall(1, ENTRY), createCall(2, SWITCHED), rm(engine, `${NAME}-1`)]);
    expect([...engine.containers.keys()]).toEqual([`${NAME}-2`]);
    expect(await journal.read(KEY)).toEqual(SWITCHED);
  });

  it('is read by the next run, on any runner, and removed once cleared', async () => {
    const engine = new JournalEngine();
    await dockerJournal(engine).write(KEY, ENTRY);
    const next = dockerJournal(engine);
    expect(await next.read(KEY)).toEqual(ENTRY);
    await next.write(KEY, SWITCHED);
    engine.calls.length = 0;
    await next.clear(KEY);
    expect(engine.containers.size).toBe(0);
    expect(await next.read(KEY)).toBeUndefined();
    await next.clear(KEY);
  });

  it('a run that died before its older entries were removed: the highest number is its last entry', async () => {
    const engine = new JournalEngine();
    // Created in another order than numbered: the number decides, not the order docker lists them in.
    for (const [seq, phase] of [
      [2, 'switch'],
      [3, 'switched'],
      [1, 'up'],
    ] as const) {
      const entry = { ...ENTRY, phase };
      engine.add(`${NAME}-${seq}`, {
        [JOURNAL_LABEL]: KEY,
        [JOURNAL_SEQ_LABEL]: String(seq),
        [JOURNAL_ENTRY_LABEL]: JSON.stringify(entry),
      });
    }
    const journal = dockerJournal(engine);
    expect(await journal.read(KEY)).toMatchObject({ phase: 'switched' });
    engine.calls.length = 0;
    await journal.write(KEY, { ...ENTRY, phase: 'undo' });
    await settle();
    // The older ones go oldest first: a run that dies meanwhile leaves its newest entry the highest.
    expect(engine.calls).toEqual([
      createCall(4, { ...ENTRY, phase: 'undo' }),
      rm(engine, `${NAME}-1`),
      rm(engine, `${NAME}-2`),
      rm(engine, `${NAME}-3`),
    ]);
    expect(await dockerJournal(engine).read(KEY)).toMatchObject({ phase: 'undo' });
  });

  it("a run's clear of its own entry, every older one gone: one rm, no listing", async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    await journal.write(KEY, ENTRY);
    await journal.write(KEY, SWITCHED);
    await settle();
    const own = rm(engine, `${NAME}-2`);
    engine.calls.length = 0;
    await journal.clear(KEY);
    expect(engine.calls).toEqual([own]);
    expect(engine.containers.size).toBe(0);
  });

  it('clears oldest first, after the removals under way', async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    await journal.write(KEY, ENTRY);
    await journal.write(KEY, SWITCHED);
    await journal.write(KEY, { ...SWITCHED, phase: 'cleanup' });
    await journal.clear(KEY);
    expect(engine.calls.filter((c) => c.startsWith('docker rm'))).toEqual([
      rm(engine, `${NAME}-1`),
      rm(engine, `${NAME}-2`),
      rm(engine, `${NAME}-3`),
    ]);
    expect(engine.containers.size).toBe(0);
  });

  it('a removal that fails does not fail the deploy; the clear then marks the journal cleared above what is left', async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    await journal.write(KEY, ENTRY);
    engine.failRemoving = `${NAME}-1`;
    await journal.write(KEY, SWITCHED);
    await settle();
    expect([...engine.containers.keys()]).toEqual([`${NAME}-1`, `${NAME}-2`]);
    expect(await dockerJournal(engine).read(KEY)).toEqual(SWITCHED);
    engine.calls.length = 0;
    await journal.clear(KEY);
    // Entry 1 cannot go: the mark (3) stays above it, and the journal reads as cleared.
    expect(engine.calls.filter((c) => !c.startsWith('docker ps') && !c.startsWith('docker inspect'))).toEqual([
      describeCommand('docker', [
        'create',
        '--name',
        `${NAME}-3`,
        '--label',
        `${JOURNAL_LABEL}=${KEY}`,
        '--label',
        `${JOURNAL_SEQ_LABEL}=3`,
        '--label',
        `${JOURNAL_CLEARED_LABEL}=true`,
        '--pull',
        'never',
        LOCK_IMAGE,
        'journal',
      ]),
      rm(engine, `${NAME}-1`),
      rm(engine, `${NAME}-2`),
    ]);
    expect([...engine.containers.keys()]).toEqual([`${NAME}-1`, `${NAME}-3`]);
    expect(await dockerJournal(engine).read(KEY)).toBeUndefined();
    // The next run writes above the mark; its clear removes all, the mark last.
    engine.failRemoving = undefined;
    const next = dockerJournal(engine);
    expect(await next.read(KEY)).toBeUndefined();
    await next.write(KEY, ENTRY);
    await next.clear(KEY);
    expect(engine.containers.size).toBe(0);
  });

  it('a create that timed out yet was made: the next write lists again and goes above it', async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    await journal.write(KEY, ENTRY);
    const timedOut = engine.run.bind(engine);
    let once = true;
    engine.run = async (file, args, options) => {
      const r = await timedOut(file, args, options);
      if (once && args[0] === 'create') {
        once = false;
        return { ...r, exitCode: -1, stdout: '', timedOut: true };
      }
      return r;
    };
    await expect(journal.write(KEY, SWITCHED)).rejects.toThrow(/writing the deploy journal/);
    await journal.write(KEY, { ...SWITCHED, phase: 'undo' });
    await settle();
    expect([...engine.containers.keys()]).toEqual([`${NAME}-3`]);
    expect(await dockerJournal(engine).read(KEY)).toMatchObject({ phase: 'undo' });
  });

  it('a name already taken by such a create is written above at once', async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    expect(await journal.read(KEY)).toBeUndefined();
    // Made by a create whose answer never came, after this run listed the journal.
    engine.add(`${NAME}-1`, {
      [JOURNAL_LABEL]: KEY,
      [JOURNAL_SEQ_LABEL]: '1',
      [JOURNAL_ENTRY_LABEL]: JSON.stringify(ENTRY),
    });
    await journal.write(KEY, SWITCHED);
    await settle();
    expect([...engine.containers.keys()]).toEqual([`${NAME}-2`]);
    expect(await journal.read(KEY)).toEqual(SWITCHED);
  });

  it('read without the lock (status) while a run replaces its entry: listed again when every one listed is gone', async () => {
    const engine = new JournalEngine();
    await dockerJournal(engine).write(KEY, ENTRY);
    const real = engine.run.bind(engine);
    let raced = false;
    engine.run = async (file, args, options) => {
      if (!raced && args[0] === 'inspect') {
        raced = true;
        // Between the list and the inspect: the other run writes entry 2 and removes entry 1.
        const other = dockerJournal({ run: real });
        await other.write(KEY, SWITCHED);
        await settle();
      }
      return real(file, args, options);
    };
    expect(await dockerJournal(engine).read(KEY)).toEqual(SWITCHED);
  });

  it('keeps every character of an include, whatever the runner decodes', async () => {
    const engine = new JournalEngine();
    const entry: JournalEntry = {
      ...ENTRY,
      includes: [
        {
          container: 'proxy',
          path: '/etc/nginx/conf.d/app.inc',
          previous: '# café → ünïcode\nupstream app { server a:1; }\n',
        },
      ],
    };
    await dockerJournal(engine).write(KEY, entry);
    expect(await dockerJournal(engine).read(KEY)).toEqual(entry);
  });

  it('reads the journal of an earlier version (a file in one container), and replaces it with the first entry', async () => {
    const engine = new JournalEngine();
    engine.add(NAME, { [JOURNAL_LABEL]: KEY }, { '/journal.json': JSON.stringify(ENTRY) });
    const journal = dockerJournal(engine);
    expect(await journal.read(KEY)).toEqual(ENTRY);
    expect(engine.calls.at(-1)).toBe(`docker cp ${NAME}:/journal.json -`);
    await journal.write(KEY, SWITCHED);
    await settle();
    expect(engine.calls.slice(-2)).toEqual([createCall(1, SWITCHED), rm(engine, `${NAME}`)]);
    expect(await journal.read(KEY)).toEqual(SWITCHED);
    // One that died before its first entry was stored holds nothing.
    const empty = new JournalEngine();
    empty.add(NAME, { [JOURNAL_LABEL]: KEY });
    expect(await dockerJournal(empty).read(KEY)).toBeUndefined();
  });

  it('an engine that cannot be reached fails the write, so the step it announces does not begin', async () => {
    const journal = dockerJournal({
      run: async (file, args) => ({
        command: describeCommand(file, args),
        exitCode: 1,
        stdout: '',
        stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.',
        timedOut: false,
      }),
    });
    await expect(journal.write(KEY, ENTRY)).rejects.toThrow(/deploy journal .*Cannot connect/s);
    await expect(journal.read(KEY)).rejects.toThrow(/reading the deploy journal/);
  });

  it('an entry that is not JSON says how to remove the journal', async () => {
    const engine = new JournalEngine();
    engine.add(`${NAME}-1`, { [JOURNAL_LABEL]: KEY, [JOURNAL_SEQ_LABEL]: '1', [JOURNAL_ENTRY_LABEL]: '{"version":1,' });
    await expect(dockerJournal(engine).read(KEY)).rejects.toThrow(
      /cannot be read .*remove its containers \(docker ps -a -q --filter "label=bluegreen-action\.journal=project:app" lists them\) with docker rm/,
    );
  });
});
