import { describe, expect, it } from 'vitest';
import { dockerJournal, JOURNAL_LABEL, journalName, type JournalEntry } from '../../src/docker/journal.js';
import { LOCK_IMAGE, thisProcess } from '../../src/docker/lock.js';
import { describeCommand, type RunOptions, type RunResult, type Runner } from '../../src/runner.js';
import { packFile, unpackFirstFile } from '../../src/docker/tar.js';

/** Journal containers on one engine, answering as the docker CLI does for create, cp (both ways) and rm. */
class JournalEngine implements Runner {
  readonly calls: string[] = [];
  /** Container name → its files. */
  readonly containers = new Map<string, Map<string, string>>();

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
    if (sub === 'create') {
      const name = rest[rest.indexOf('--name') + 1] ?? '';
      if (this.containers.has(name)) {
        return result(
          1,
          '',
          `Error response from daemon: Conflict. The container name "/${name}" is already in use by container "abc".`,
        );
      }
      this.containers.set(name, new Map());
      return result(0, 'f00d\n');
    }
    if (sub === 'cp' && rest[0] === '-') {
      const [name, dir] = (rest[1] ?? '').split(':') as [string, string];
      const files = this.containers.get(name);
      if (!files) return result(1, '', `Error response from daemon: No such container: ${name}`);
      const archive = Buffer.from(options.input as Uint8Array);
      const fileName = archive.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      files.set(`${dir}${fileName}`, unpackFirstFile(archive));
      return result(0, '');
    }
    if (sub === 'cp') {
      const [name, p] = (rest[0] ?? '').split(':') as [string, string];
      const content = this.containers.get(name)?.get(p);
      if (!this.containers.has(name)) return result(1, '', `Error response from daemon: No such container: ${name}`);
      if (content === undefined)
        return result(1, '', `Error response from daemon: Could not find the file ${p} in container ${name}`);
      return result(0, Buffer.from(packFile('journal.json', content, 0)).toString('latin1'));
    }
    if (sub === 'rm') {
      if (!this.containers.delete(rest[0] ?? ''))
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

describe('the journal on the Docker engine', () => {
  it('is a created, never started container of the lock image (speed: one docker create per run, then one docker cp per entry)', async () => {
    const engine = new JournalEngine();
    const journal = dockerJournal(engine);
    const name = journalName('project:app');
    expect(name).toMatch(/^bluegreen-journal-project-app-[0-9a-f]{8}$/);
    expect(await journal.read('project:app')).toBeUndefined();
    await journal.write('project:app', ENTRY);
    await journal.write('project:app', { ...ENTRY, phase: 'switched', reloading: ['proxy'] });
    expect(engine.calls).toEqual([
      `docker cp ${name}:/journal.json -`,
      `docker create --name ${name} --label ${JOURNAL_LABEL}=project:app ${LOCK_IMAGE} journal`,
      `docker cp - ${name}:/`,
      `docker cp - ${name}:/`,
    ]);
    expect(await journal.read('project:app')).toEqual({ ...ENTRY, phase: 'switched', reloading: ['proxy'] });
  });

  it('is read by the next run, on any runner, and removed once cleared', async () => {
    const engine = new JournalEngine();
    await dockerJournal(engine).write('project:app', ENTRY);
    const next = dockerJournal(engine);
    expect(await next.read('project:app')).toEqual(ENTRY);
    await next.clear('project:app');
    expect(engine.calls.at(-1)).toBe(`docker rm ${journalName('project:app')}`);
    expect(await next.read('project:app')).toBeUndefined();
    await next.clear('project:app');
  });

  it('takes over the container of a run that died before its first entry was stored', async () => {
    const engine = new JournalEngine();
    engine.containers.set(journalName('project:app'), new Map());
    const journal = dockerJournal(engine);
    expect(await journal.read('project:app')).toBeUndefined();
    await journal.write('project:app', ENTRY);
    expect(await journal.read('project:app')).toEqual(ENTRY);
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
    await expect(journal.write('project:app', ENTRY)).rejects.toThrow(/creating the deploy journal .*Cannot connect/s);
    await expect(journal.read('project:app')).rejects.toThrow(/reading the deploy journal/);
  });

  it('an entry that is not JSON says how to remove it', async () => {
    const engine = new JournalEngine();
    engine.containers.set(journalName('project:app'), new Map([['/journal.json', '{"version":1,']]));
    await expect(dockerJournal(engine).read('project:app')).rejects.toThrow(
      /cannot be read .* docker rm bluegreen-journal-project-app-/,
    );
  });
});
