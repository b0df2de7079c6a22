// The engine API runner against the docker CLI on a real engine: each command it serves gives what the CLI gives
// (the output callers read, the exit code, the error messages they match), and a reload through it is as real.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages } from '../../scripts/images.mjs';
import { endpointOf } from '../../src/docker/docker.js';
import { localApiSocket, socketTransport, viaEngineApi } from '../../src/docker/engine-api.js';
import { dockerJournal, JOURNAL_LABEL, type JournalEntry } from '../../src/docker/journal.js';
import { LOCK_IMAGE, thisProcess } from '../../src/docker/lock.js';
import { packFile, unpackFirstFile } from '../../src/docker/tar.js';
import { acceptingWorkerPids, shuttingDownWorkers } from '../../src/proxy/nginx.js';
import { procContainerSignals } from '../../src/processes.js';
import { createExecaRunner, type RunOptions, type Runner } from '../../src/runner.js';
import { docker, waitFor } from './support/docker.js';

const RUN = `bgapi-${process.pid}-${Date.now().toString(36)}`;
const proxy = `${RUN}-proxy`;
const missing = `${RUN}-missing`;
const cli = createExecaRunner();
let api: Runner;

const opts: RunOptions = { timeoutMs: 30_000 };
const both = (args: string[], options: RunOptions = opts) =>
  Promise.all([cli.run('docker', args, options), api.run('docker', args, options)]);

interface Inspected {
  Id?: string;
  Name?: string;
  State?: { Running?: boolean; Status?: string; StartedAt?: string };
  RestartCount?: number;
  Config?: { Labels?: Record<string, string>; Cmd?: string[] };
  NetworkSettings?: { Ports?: unknown };
}

/** The fields of `docker inspect` that the tool reads. */
function readFields(stdout: string) {
  return (JSON.parse(stdout) as Inspected[]).map((e) => ({
    Id: e.Id,
    Name: e.Name,
    State: { Running: e.State?.Running, Status: e.State?.Status, StartedAt: e.State?.StartedAt },
    RestartCount: e.RestartCount,
    Labels: e.Config?.Labels,
    Ports: e.NetworkSettings?.Ports,
  }));
}

describe('the Docker Engine API runner, beside the docker CLI, on a real engine', () => {
  beforeAll(async () => {
    const socket = await localApiSocket(endpointOf(process.env), process.env);
    // Every configuration CI runs (the machine's engine, Engine 26 on its own socket) has a local socket.
    expect(socket).toBeDefined();
    api = viaEngineApi(cli, socketTransport(socket ?? ''));
    const { nginx } = await ensureTestImages();
    await docker(['run', '-d', '--name', proxy, '--label', 'bluegreen.test=api', '-p', '127.0.0.1::80', nginx]);
    await waitFor(async () => acceptingWorkerPids((await docker(['top', proxy])).stdout).length > 0, 30_000);
  }, 120_000);

  afterAll(async () => {
    await docker(['rm', '-f', proxy, `${RUN}-lock`], { reject: false });
  });

  it('inspect: the same containers and fields, and the same refusal for one that does not exist', async () => {
    const [c, a] = await both(['inspect', '--type', 'container', proxy, missing]);
    expect([c.exitCode, a.exitCode]).toEqual([1, 1]);
    expect(readFields(a.stdout)).toEqual(readFields(c.stdout));
    expect(readFields(a.stdout)[0]?.Name).toBe(`/${proxy}`);
    for (const r of [c, a]) expect(r.stderr).toMatch(/no such (container|object)/i);

    const [c1, a1] = await both(['container', 'inspect', missing]);
    expect([c1.exitCode, a1.exitCode, a1.stdout.trim()]).toEqual([1, 1, '[]']);
    for (const r of [c1, a1]) expect(r.stderr).toMatch(/No such container/i);

    const [ci, ai] = await both(['image', 'inspect', `${RUN}/none:1`]);
    expect([ci.exitCode, ai.exitCode]).toEqual([1, 1]);
    for (const r of [ci, ai]) expect(r.stderr).toMatch(/No such image/i);
  });

  it('top: the same Nginx workers', async () => {
    const [c, a] = await both(['top', proxy]);
    expect([c.exitCode, a.exitCode]).toEqual([0, 0]);
    expect(acceptingWorkerPids(a.stdout).sort()).toEqual(acceptingWorkerPids(c.stdout).sort());
    expect(acceptingWorkerPids(a.stdout).length).toBeGreaterThan(0);
    expect(shuttingDownWorkers(a.stdout)).toBe(0);
    const [cm, am] = await both(['top', missing]);
    expect([cm.exitCode, am.exitCode]).toEqual([1, 1]);
    for (const r of [cm, am]) expect(r.stderr).toMatch(/No such container/i);
  });

  it('exec: the same output, streams and exit codes; a reload through the API starts new workers', async () => {
    const [c, a] = await both(['exec', proxy, 'nginx', '-T']);
    expect([c.exitCode, a.exitCode]).toEqual([0, 0]);
    expect(a.stdout).toBe(c.stdout);
    expect(a.stdout).toContain('include /etc/nginx/conf.d/*.conf;');
    expect(a.stderr).toBe(c.stderr);
    expect(a.stderr).toMatch(/test is successful/);

    const [cf, af] = await both(['exec', proxy, 'nginx', '-t', '-c', '/etc/nginx/none.conf']);
    expect(cf.exitCode).not.toBe(0);
    expect(af.exitCode).toBe(cf.exitCode);
    // Nginx starts each line with the time and its pid.
    const lines = (text: string) => text.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+:/gm, '$1');
    expect(lines(af.stderr)).toBe(lines(cf.stderr));
    expect(lines(af.stderr)).toMatch(/^\[emerg\] open\(\) "\/etc\/nginx\/none.conf" failed/);

    const [cn, an] = await both(['exec', proxy, '/no/such/binary']);
    expect(cn.exitCode).not.toBe(0);
    expect([an.exitCode, an.timedOut]).toEqual([cn.exitCode, false]);
    expect(an.stdout + an.stderr).toMatch(/no such file or directory|not found/i);

    const [cx, ax] = await both(['exec', missing, 'nginx', '-t']);
    expect([cx.exitCode, ax.exitCode]).toEqual([1, 1]);
    for (const r of [cx, ax]) expect(r.stderr).toMatch(/No such container/i);

    const before = acceptingWorkerPids((await docker(['top', proxy])).stdout);
    const reload = await api.run('docker', ['exec', proxy, 'nginx', '-s', 'reload'], opts);
    expect(reload.exitCode).toBe(0);
    await waitFor(async () => {
      const now = acceptingWorkerPids((await docker(['top', proxy])).stdout);
      return now.length > 0 && now.every((pid) => !before.includes(pid));
    }, 10_000);
  });

  it("a reload by SIGHUP from this machine: /proc shows the master in the proxy's cgroup, new workers start", async () => {
    const top = (await docker(['top', proxy])).stdout;
    const masterPid = Number(/^\S+\s+(\d+)\s.*nginx: master process/m.exec(top)?.[1]);
    const id = (JSON.parse((await docker(['container', 'inspect', proxy])).stdout) as Inspected[])[0]?.Id ?? '';
    const signals = procContainerSignals();
    // Not to another container's process, nor to a worker.
    expect(await signals.send(masterPid, 'f'.repeat(64), 'nginx: master process', 'SIGHUP')).toBe(false);
    const worker = Number(acceptingWorkerPids(top)[0]);
    expect(await signals.send(worker, id, 'nginx: master process', 'SIGHUP')).toBe(false);
    const before = acceptingWorkerPids(top);
    expect(await signals.send(masterPid, id, 'nginx: master process', 'SIGHUP')).toBe(true);
    await waitFor(async () => {
      const now = acceptingWorkerPids((await docker(['top', proxy])).stdout);
      return now.length > 0 && now.every((pid) => !before.includes(pid));
    }, 10_000);
    // Docker did not see a signal of its own: the container still runs, with its restart policy's count.
    const [after] = JSON.parse((await docker(['container', 'inspect', proxy])).stdout) as Inspected[];
    expect([after?.State?.Running, after?.RestartCount]).toEqual([true, 0]);
  });

  it('cp: a file written through the API is read back by the CLI, and the other way round', async () => {
    const input = packFile('api.conf', '# written through the API\n', 1_700_000_000);
    const put = await api.run('docker', ['cp', '-', `${proxy}:/etc/nginx/conf.d`], { ...opts, input });
    expect(put).toMatchObject({ exitCode: 0, stderr: '', timedOut: false });
    const read = { ...opts, encoding: 'latin1' as const };
    const [c, a] = await both(['cp', '-L', `${proxy}:/etc/nginx/conf.d/api.conf`, '-'], read);
    expect([c.exitCode, a.exitCode]).toEqual([0, 0]);
    expect(unpackFirstFile(Buffer.from(a.stdout, 'latin1'))).toBe('# written through the API\n');
    expect(unpackFirstFile(Buffer.from(c.stdout, 'latin1'))).toBe('# written through the API\n');

    const [cm, am] = await both(['cp', `${proxy}:/etc/nginx/conf.d/none.conf`, '-'], read);
    expect([cm.exitCode, am.exitCode]).toEqual([1, 1]);
    for (const r of [cm, am]) expect(r.stderr).toMatch(/could not find the file|no such file|no such container/i);
    const [cd, ad] = await both(['cp', '-', `${proxy}:/no/such/dir`], { ...opts, input });
    expect([cd.exitCode, ad.exitCode]).toEqual([1, 1]);
  });

  it('create and rm: the lock container made through the API is the one the CLI sees; conflicts read alike', async () => {
    // The lock image: imported by the lock's first acquire on this engine (lock.test.ts), or here.
    if ((await docker(['image', 'inspect', LOCK_IMAGE], { reject: false })).exitCode !== 0) {
      const archive = packFile('lock', 'bluegreen-action deploy lock\n', 0);
      await cli.run('docker', ['import', '-', LOCK_IMAGE], { ...opts, input: archive });
    }
    const name = `${RUN}-lock`;
    const args = ['create', '--name', name, '--label', 'bluegreen.test={"a":1}', LOCK_IMAGE, 'lock'];
    const made = await api.run('docker', args, opts);
    expect(made.exitCode).toBe(0);
    const seen = JSON.parse((await docker(['container', 'inspect', name])).stdout) as Inspected[];
    expect(made.stdout.trim()).toBe(seen[0]?.Id);
    expect(seen[0]?.Config?.Labels).toEqual({ 'bluegreen.test': '{"a":1}' });
    expect(seen[0]?.Config?.Cmd).toEqual(['lock']);
    const [c, a] = await both(args);
    expect([c.exitCode, a.exitCode]).toEqual([1, 1]);
    for (const r of [c, a]) expect(r.stderr).toMatch(/Conflict|already in use/i);

    const list = ['ps', '-a', '-q', '--no-trunc', '--filter', 'label=bluegreen.test={"a":1}'];
    const [cl, al] = await both(list);
    expect([cl.exitCode, al.exitCode, al.stdout]).toEqual([0, 0, cl.stdout]);
    expect(al.stdout).toBe(`${made.stdout.trim()}\n`);

    // --pull never (as the lock and the journal create): an image the engine lacks is refused alike, never pulled.
    const missing = ['create', '--name', `${name}-x`, '--pull', 'never', 'bluegreen-action/no-such-image:1', 'lock'];
    const [cm, am] = await both(missing);
    expect([cm.exitCode, am.exitCode]).toEqual([1, 1]);
    for (const r of [cm, am]) expect(r.stderr).toMatch(/No such image: bluegreen-action\/no-such-image:1/);

    expect(await api.run('docker', ['rm', name], opts)).toMatchObject({ exitCode: 0, stdout: `${name}\n` });
    const [cr, ar] = await both(['rm', name]);
    expect([cr.exitCode, ar.exitCode]).toEqual([1, 1]);
    for (const r of [cr, ar]) expect(r.stderr).toMatch(/No such container/i);
  });

  it('the journal: entries written through the API are read through the CLI, every character kept, then cleared', async () => {
    const key = `project:${RUN}`;
    const entry: JournalEntry = {
      version: 1,
      run: thisProcess('token-e2e', 'deploy', Date.now()),
      command: 'deploy',
      from: 'blue',
      to: 'green',
      phase: 'switch',
      at: new Date().toISOString(),
      includes: [
        { container: proxy, path: '/etc/nginx/conf.d/app.inc', previous: '# café →\nupstream app { server a:1; }\n' },
      ],
      reloading: [],
    };
    const written = dockerJournal(api);
    await written.write(key, entry);
    await written.write(key, { ...entry, phase: 'switched', reloading: [proxy] });
    expect(await dockerJournal(cli).read(key)).toEqual({ ...entry, phase: 'switched', reloading: [proxy] });
    await dockerJournal(cli).clear(key);
    expect(await dockerJournal(api).read(key)).toBeUndefined();
    const left = await docker(['ps', '-a', '-q', '--filter', `label=${JOURNAL_LABEL}=${key}`]);
    expect(left.stdout.trim()).toBe('');
  });
});
