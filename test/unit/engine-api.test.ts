// The Engine API runner against a fake daemon on a real local socket (a named pipe on Windows): what it sends, and
// that what it returns is what the docker CLI would print.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ApiTransport,
  demultiplex,
  localApiSocket,
  socketTransport,
  viaEngineApi,
} from '../../src/docker/engine-api.js';
import { packFile, unpackFirstFile } from '../../src/docker/tar.js';
import { acceptingWorkerPids, shuttingDownWorkers } from '../../src/proxy/nginx.js';
import { describeCommand, type RunOptions, type RunResult, type Runner } from '../../src/runner.js';

interface Recorded {
  method: string;
  /** With the version prefix and the query, as sent. */
  url: string;
  type: string | undefined;
  body: Buffer;
}

interface Canned {
  status?: number;
  json?: unknown;
  body?: Buffer | string;
  headers?: Record<string, string>;
}

/** A canned answer, or a handler that answers when (and if) it likes. */
type Reply = Canned | ((res: http.ServerResponse, req: Recorded) => void);

const pipeName = (what: string) => `\\\\.\\pipe\\bg-api-${what}-${randomUUID()}`;

let dir = '';
let socket = '';
let server: http.Server;
let requests: Recorded[] = [];
let pings = 0;
let apiVersion = '1.41';
/** "METHOD url" to its answer; a list is answered in turn, its last answer repeated. */
let routes: Record<string, Reply | Reply[]> = {};

function send(res: http.ServerResponse, r: Canned): void {
  const type = r.json === undefined ? {} : { 'Content-Type': 'application/json' };
  res.writeHead(r.status ?? 200, { ...type, ...r.headers });
  res.end(r.json === undefined ? r.body : JSON.stringify(r.json));
}

function answer(req: Recorded, res: http.ServerResponse): void {
  const route = routes[`${req.method} ${req.url}`];
  const reply = Array.isArray(route) ? (route.length > 1 ? route.shift() : route[0]) : route;
  if (reply === undefined) return send(res, { status: 500, json: { message: `no route: ${req.method} ${req.url}` } });
  if (typeof reply === 'function') return reply(res, req);
  send(res, reply);
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'bg-api-'));
  socket = process.platform === 'win32' ? pipeName('d') : path.join(dir, 'd.sock');
  requests = [];
  routes = {};
  pings = 0;
  apiVersion = '1.41';
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // The engine's version, asked once per transport: answered here and counted, not recorded with the rest.
      if (req.url === '/_ping') {
        pings++;
        res.writeHead(200, { 'Api-Version': apiVersion, 'Content-Type': 'text/plain' });
        return void res.end('OK');
      }
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        type: req.headers['content-type'],
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      answer(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

interface CliCall {
  file: string;
  args: readonly string[];
  options: RunOptions;
}

const CLI_RESULT: RunResult = {
  command: 'the cli',
  exitCode: 0,
  stdout: 'from the cli\n',
  stderr: '',
  timedOut: false,
};

function fakeCli(): Runner & { calls: CliCall[] } {
  const calls: CliCall[] = [];
  return {
    calls,
    async run(file, args, options) {
      calls.push({ file, args, options });
      return CLI_RESULT;
    },
  };
}

function engine(transport: ApiTransport = socketTransport(socket)) {
  const cli = fakeCli();
  const runner = viaEngineApi(cli, transport);
  const run = (args: string[], options: Partial<RunOptions> = {}) =>
    runner.run('docker', args, { timeoutMs: 5_000, ...options });
  return { cli, runner, run };
}

function result(args: string[], exitCode: number, stdout: string, stderr = ''): RunResult {
  return { command: describeCommand('docker', args), exitCode, stdout, stderr, timedOut: false };
}

/** What the fake daemon was asked, JSON bodies parsed. */
function asked() {
  return requests.map((r) => ({
    method: r.method,
    url: r.url,
    type: r.type,
    body: r.type === 'application/json' ? (JSON.parse(r.body.toString('utf8')) as unknown) : r.body.toString('latin1'),
  }));
}

/** One frame of Docker's multiplexed stream. */
function frame(kind: number, data: Buffer | string): Buffer {
  const bytes = Buffer.from(data);
  const head = Buffer.from([kind, 0, 0, 0, 0, 0, 0, 0]);
  head.writeUInt32BE(bytes.length, 4);
  return Buffer.concat([head, bytes]);
}

const notFound = (message: string): Canned => ({ status: 404, json: { message } });

describe('inspect', () => {
  const a = { Id: 'aaa', Name: '/a', State: { Running: true } };
  const c = { Id: 'ccc', Name: '/c', State: { Running: false } };

  it('prints the found containers as the CLI does and exits 1 naming each missing one', async () => {
    routes = {
      'GET /v1.41/containers/a/json': { json: a },
      'GET /v1.41/containers/b/json': notFound('No such container: b'),
    };
    const args = ['inspect', '--type', 'container', 'a', 'b'];
    expect(await engine().run(args)).toEqual(
      result(args, 1, `${JSON.stringify([a], null, 4)}\n`, 'Error: No such container: b\n'),
    );
    expect(
      asked()
        .map((r) => `${r.method} ${r.url} ${r.type}`)
        .sort(),
    ).toEqual(['GET /v1.41/containers/a/json undefined', 'GET /v1.41/containers/b/json undefined']);
  });

  it('keeps the order of the arguments when the answers come in another order', async () => {
    let cAnswered = () => {};
    const cDone = new Promise<void>((resolve) => (cAnswered = resolve));
    routes = {
      // a is answered only once c has been: a's reply comes last.
      'GET /v1.41/containers/a/json': (res) => void cDone.then(() => send(res, { json: a })),
      'GET /v1.41/containers/b/json': notFound('No such container: b'),
      'GET /v1.41/containers/c/json': (res) => {
        send(res, { json: c });
        cAnswered();
      },
      'GET /v1.41/containers/d/json': notFound('No such container: d'),
    };
    const args = ['inspect', '--type', 'container', 'd', 'a', 'b', 'c'];
    expect(await engine().run(args)).toEqual(
      result(
        args,
        1,
        `${JSON.stringify([a, c], null, 4)}\n`,
        'Error: No such container: d\nError: No such container: b\n',
      ),
    );
  });

  it('exits 0 when all are found, and says "No such container" for `container inspect`', async () => {
    routes = { 'GET /v1.41/containers/a/json': { json: a }, 'GET /v1.41/containers/x/json': notFound('gone') };
    const { run } = engine();
    expect(await run(['container', 'inspect', 'a'])).toEqual(
      result(['container', 'inspect', 'a'], 0, `${JSON.stringify([a], null, 4)}\n`),
    );
    expect(await run(['container', 'inspect', 'x'])).toEqual(
      result(['container', 'inspect', 'x'], 1, '[]\n', 'Error: No such container: x\n'),
    );
  });

  it('encodes the name into the path', async () => {
    routes = { 'GET /v1.41/containers/my%20app%2F1/json': { json: a } };
    const args = ['inspect', '--type', 'container', 'my app/1'];
    expect((await engine().run(args)).exitCode).toBe(0);
    expect(requests.map((r) => r.url)).toEqual(['/v1.41/containers/my%20app%2F1/json']);
  });

  it('reports a daemon error other than "not found" as the CLI does: exit 1, its message, the others found', async () => {
    routes = {
      'GET /v1.41/containers/a/json': { status: 500, json: { message: 'devicemapper: boom' } },
      'GET /v1.41/containers/b/json': { json: { Id: 'b' } },
    };
    const args = ['inspect', '--type', 'container', 'a', 'b'];
    expect(await engine().run(args)).toEqual({
      command: 'docker inspect --type container a b',
      exitCode: 1,
      stdout: `${JSON.stringify([{ Id: 'b' }], null, 4)}\n`,
      stderr: 'Error response from daemon: devicemapper: boom\n',
      timedOut: false,
    });
  });

  it('image inspect: a JSON array, or "No such image" on a 404 and the daemon\'s message on another error', async () => {
    const image = { Id: 'sha256:1', RepoTags: ['img:1'] };
    routes = {
      'GET /v1.41/images/img%3A1/json': { json: image },
      'GET /v1.41/images/img%3A2/json': notFound('No such image: img:2'),
      'GET /v1.41/images/img%3A3/json': { status: 500, json: { message: 'store broken' } },
    };
    const { run } = engine();
    expect(await run(['image', 'inspect', 'img:1'])).toEqual(
      result(['image', 'inspect', 'img:1'], 0, `${JSON.stringify([image], null, 4)}\n`),
    );
    expect(await run(['image', 'inspect', 'img:2'])).toEqual(
      result(['image', 'inspect', 'img:2'], 1, '', 'Error: No such image: img:2\n'),
    );
    expect(await run(['image', 'inspect', 'img:3'])).toEqual(
      result(['image', 'inspect', 'img:3'], 1, '', 'Error response from daemon: store broken\n'),
    );
  });
});

describe('top', () => {
  const processes = [
    ['root', '7', '1', '0', '10:00', '?', '00:00:00', 'nginx: master process /usr/sbin/nginx -g daemon off;'],
    ['101', '31', '7', '0', '10:00', '?', '00:00:00', 'nginx: worker process'],
    ['101', '1032', '7', '0', '10:01', '?', '00:00:00', 'nginx: worker process'],
    ['101', '29', '7', '0', '09:58', '?', '00:00:01', 'nginx: worker process is shutting down'],
  ];
  const titles = ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'];

  it('prints ps as a table that the Nginx readers parse', async () => {
    routes = { 'GET /v1.41/containers/proxy/top': { json: { Titles: titles, Processes: processes } } };
    const r = await engine().run(['top', 'proxy']);
    expect(r).toMatchObject({ command: 'docker top proxy', exitCode: 0, stderr: '', timedOut: false });
    expect(acceptingWorkerPids(r.stdout)).toEqual(['31', '1032']);
    expect(shuttingDownWorkers(r.stdout)).toBe(1);
    // Cells apart by 3 spaces or more, each column starting where its title does (the CLI's tabwriter layout).
    const lines = r.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => l.split(/ {3,}/))).toEqual([titles, ...processes]);
    for (const title of ['PID', 'PPID', 'CMD']) {
      const at = lines[0]?.indexOf(title) ?? -1;
      const column = titles.indexOf(title);
      expect(lines.map((l, i) => l.indexOf(([titles, ...processes][i] ?? [])[column] ?? '', at))).toEqual(
        lines.map(() => at),
      );
    }
    expect(requests.map((q) => `${q.method} ${q.url}`)).toEqual(['GET /v1.41/containers/proxy/top']);
  });

  it("exits 1 with the daemon's message when the container is not running", async () => {
    routes = { 'GET /v1.41/containers/c/top': { status: 409, json: { message: 'Container c is not running' } } };
    expect(await engine().run(['top', 'c'])).toEqual(
      result(['top', 'c'], 1, '', 'Error response from daemon: Container c is not running\n'),
    );
  });
});

describe('exec', () => {
  const stream = Buffer.concat([
    frame(1, 'line 1\n'),
    frame(2, 'warn: a\n'),
    frame(1, Buffer.from([0xc3])), // é, split across two frames with another stream's in between
    frame(2, Buffer.from('€').subarray(0, 1)),
    frame(1, Buffer.from([0xa9])),
    frame(2, Buffer.concat([Buffer.from('€').subarray(1), Buffer.from(' b\n')])),
    frame(1, 'line 2\n'),
  ]);

  it('creates, starts and then asks until the exec has an exit code', async () => {
    routes = {
      'POST /v1.41/containers/proxy/exec': { status: 201, json: { Id: 'e1' } },
      'POST /v1.41/exec/e1/start': {
        body: stream,
        headers: { 'Content-Type': 'application/vnd.docker.raw-stream' },
      },
      // The output can end before the engine has the exit code.
      'GET /v1.41/exec/e1/json': [
        { json: { Running: true, ExitCode: null } },
        { json: { Running: false, ExitCode: 1 } },
      ],
    };
    const args = ['exec', 'proxy', 'nginx', '-T'];
    expect(await engine().run(args)).toEqual(result(args, 1, 'line 1\néline 2\n', 'warn: a\n€ b\n'));
    expect(asked()).toEqual([
      {
        method: 'POST',
        url: '/v1.41/containers/proxy/exec',
        type: 'application/json',
        body: { AttachStdout: true, AttachStderr: true, Cmd: ['nginx', '-T'] },
      },
      { method: 'POST', url: '/v1.41/exec/e1/start', type: 'application/json', body: { Detach: false, Tty: false } },
      { method: 'GET', url: '/v1.41/exec/e1/json', type: undefined, body: '' },
      { method: 'GET', url: '/v1.41/exec/e1/json', type: undefined, body: '' },
    ]);
  });

  it("exits 1 with the daemon's message for a missing container, and starts nothing", async () => {
    routes = { 'POST /v1.41/containers/proxy/exec': notFound('No such container: proxy') };
    const args = ['exec', 'proxy', 'nginx', '-s', 'reload'];
    expect(await engine().run(args)).toEqual(
      result(args, 1, '', 'Error response from daemon: No such container: proxy\n'),
    );
    expect(requests.map((r) => r.url)).toEqual(['/v1.41/containers/proxy/exec']);
  });

  it('asks for the exit code a bounded number of times, then says the engine did not report it', async () => {
    routes = {
      'POST /v1.41/containers/proxy/exec': { status: 201, json: { Id: 'e2' } },
      'POST /v1.41/exec/e2/start': { body: frame(1, 'out\n') },
      'GET /v1.41/exec/e2/json': { json: { Running: false, ExitCode: null } },
    };
    const args = ['exec', 'proxy', 'nginx', '-t'];
    expect(await engine().run(args, { timeoutMs: 30_000 })).toEqual(
      result(args, -1, 'out\n', 'the engine did not report the exit code within 1 s\n'),
    );
    expect(requests.filter((r) => r.url === '/v1.41/exec/e2/json')).toHaveLength(200);
  });

  it('is not handed to the CLI once its command ran: an engine gone after the start fails the call', async () => {
    const { cli, run } = engine();
    routes = {
      'POST /v1.41/containers/proxy/exec': { status: 201, json: { Id: 'e3' } },
      'POST /v1.41/exec/e3/start': (res: http.ServerResponse) => {
        // The reload ran; the engine then stops listening before its exit code is asked for.
        res.end();
        server.close();
        server.closeAllConnections();
        if (process.platform !== 'win32') rmSync(socket, { force: true });
      },
    };
    const args = ['exec', 'proxy', 'nginx', '-s', 'reload'];
    const r = await run(args);
    expect([r.exitCode, r.timedOut]).toEqual([-1, false]);
    expect(r.stderr).toMatch(/^docker engine API: the engine went away: /);
    expect(cli.calls).toEqual([]);
  });

  it('demultiplex: an empty stream is empty output; a cut-off last frame keeps what came', () => {
    expect(demultiplex(Buffer.alloc(0))).toEqual({ stdout: Buffer.alloc(0), stderr: '' });
    const cut = Buffer.concat([frame(1, 'abc'), frame(2, 'error: 12345').subarray(0, 8 + 7)]);
    expect(demultiplex(cut)).toEqual({ stdout: Buffer.from('abc'), stderr: 'error: ' });
    // A header that is not whole is no frame.
    const header = Buffer.concat([frame(2, 'e'), frame(1, 'more').subarray(0, 5)]);
    expect(demultiplex(header)).toEqual({ stdout: Buffer.alloc(0), stderr: 'e' });
  });
});

describe('cp', () => {
  const content = 'upstream app { server app-green:8000; } # é\n';

  it('puts a tar from stdin into a directory of the container', async () => {
    const archive = packFile('service-url.inc', content, 1_700_000_000);
    const url = '/v1.41/containers/proxy/archive?path=%2Fetc%2Fnginx%2Fconf.d&noOverwriteDirNonDir=true';
    routes = { [`PUT ${url}`]: { status: 200 } };
    const args = ['cp', '-', 'proxy:/etc/nginx/conf.d'];
    expect(await engine().run(args, { input: archive })).toEqual(result(args, 0, ''));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'PUT', url, type: 'application/x-tar' });
    expect(requests[0]?.body.equals(Buffer.from(archive))).toBe(true);
  });

  it("exits 1 with the daemon's message when the put fails", async () => {
    routes = {
      'PUT /v1.41/containers/proxy/archive?path=%2Fetc&noOverwriteDirNonDir=true': notFound('No such container: proxy'),
    };
    const args = ['cp', '-', 'proxy:/etc'];
    expect(await engine().run(args, { input: packFile('a', 'b', 0) })).toEqual(
      result(args, 1, '', 'Error response from daemon: No such container: proxy\n'),
    );
  });

  it('gets a tar to stdout byte for byte with latin1', async () => {
    const archive = Buffer.from(packFile('x.conf', content, 0));
    routes = { 'GET /v1.41/containers/proxy/archive?path=%2Fetc%2Fx.conf': { body: archive } };
    const args = ['cp', 'proxy:/etc/x.conf', '-'];
    const r = await engine().run(args, { encoding: 'latin1' });
    expect(r).toEqual(result(args, 0, archive.toString('latin1')));
    expect(unpackFirstFile(Buffer.from(r.stdout, 'latin1'))).toBe(content);
    expect(requests.map((q) => `${q.method} ${q.url}`)).toEqual([
      'GET /v1.41/containers/proxy/archive?path=%2Fetc%2Fx.conf',
    ]);
  });

  describe('a symbolic link', () => {
    const link = Buffer.from(packFile('link.conf', 'the link itself\n', 0));
    const real = Buffer.from(packFile('real.conf', content, 0));
    const stat = Buffer.from(JSON.stringify({ name: 'link.conf', linkTarget: '/etc/real.conf' })).toString('base64');
    beforeEach(() => {
      routes = {
        'GET /v1.41/containers/proxy/archive?path=%2Fetc%2Flink.conf': {
          body: link,
          headers: { 'X-Docker-Container-Path-Stat': stat },
        },
        'GET /v1.41/containers/proxy/archive?path=%2Fetc%2Freal.conf': { body: real },
      };
    });

    it('is followed with -L: its target is fetched', async () => {
      const args = ['cp', '-L', 'proxy:/etc/link.conf', '-'];
      const r = await engine().run(args, { encoding: 'latin1' });
      expect(r).toEqual(result(args, 0, real.toString('latin1')));
      expect(unpackFirstFile(Buffer.from(r.stdout, 'latin1'))).toBe(content);
      expect(requests.map((q) => q.url)).toEqual([
        '/v1.41/containers/proxy/archive?path=%2Fetc%2Flink.conf',
        '/v1.41/containers/proxy/archive?path=%2Fetc%2Freal.conf',
      ]);
    });

    it('is copied as it is without -L', async () => {
      const args = ['cp', 'proxy:/etc/link.conf', '-'];
      expect(await engine().run(args, { encoding: 'latin1' })).toEqual(result(args, 0, link.toString('latin1')));
      expect(requests.map((q) => q.url)).toEqual(['/v1.41/containers/proxy/archive?path=%2Fetc%2Flink.conf']);
    });
  });
});

describe('create and rm', () => {
  const args = ['create', '--name', 'n1', '--label', 'k=v', '--label', 'j={"a":1}', 'img:1', 'lock'];

  it('creates a named, labelled container and prints its id', async () => {
    routes = { 'POST /v1.41/containers/create?name=n1': { status: 201, json: { Id: 'abc123', Warnings: [] } } };
    expect(await engine().run(args)).toEqual(result(args, 0, 'abc123\n'));
    expect(asked()).toEqual([
      {
        method: 'POST',
        url: '/v1.41/containers/create?name=n1',
        type: 'application/json',
        body: { Image: 'img:1', Labels: { k: 'v', j: '{"a":1}' }, Cmd: ['lock'] },
      },
    ]);
  });

  it("exits 1 with the daemon's conflict when the name is taken", async () => {
    const message =
      'Conflict. The container name "/n1" is already in use by container "abc123". You have to remove (or rename) ' +
      'that container to be able to reuse that name.';
    routes = { 'POST /v1.41/containers/create?name=n1': { status: 409, json: { message } } };
    const r = await engine().run(args);
    expect(r).toEqual(result(args, 1, '', `Error response from daemon: ${message}\n`));
    expect(r.stderr.startsWith('Error response from daemon: Conflict.')).toBe(true);
  });

  it("--pull never, as the lock asks: the API never pulls; a missing image is the daemon's message", async () => {
    const never = ['create', '--name', 'n1', '--label', 'k=v', '--pull', 'never', 'img:1', 'lock'];
    routes = { 'POST /v1.41/containers/create?name=n1': notFound('No such image: img:1') };
    expect(await engine().run(never)).toEqual(
      result(never, 1, '', 'Error response from daemon: No such image: img:1\n'),
    );
    expect(asked()).toMatchObject([{ body: { Image: 'img:1', Labels: { k: 'v' }, Cmd: ['lock'] } }]);
  });

  it("rm deletes and prints the name; a missing one is the daemon's message", async () => {
    routes = {
      'DELETE /v1.41/containers/n1': [{ status: 204 }, notFound('No such container: n1')],
    };
    const { run } = engine();
    expect(await run(['rm', 'n1'])).toEqual(result(['rm', 'n1'], 0, 'n1\n'));
    expect(await run(['rm', 'n1'])).toEqual(
      result(['rm', 'n1'], 1, '', 'Error response from daemon: No such container: n1\n'),
    );
    expect(asked()).toEqual([
      { method: 'DELETE', url: '/v1.41/containers/n1', type: undefined, body: '' },
      { method: 'DELETE', url: '/v1.41/containers/n1', type: undefined, body: '' },
    ]);
  });
});

describe('ps', () => {
  it('lists the full ids of every container with the labels asked, one per line', async () => {
    const filters = encodeURIComponent(JSON.stringify({ label: ['bluegreen-action.journal=project:app', 'x=1'] }));
    routes = { [`GET /v1.41/containers/json?all=1&filters=${filters}`]: { json: [{ Id: 'c2' }, { Id: 'c1' }] } };
    const args = ['ps', '-a', '-q', '--no-trunc', '--filter', 'label=bluegreen-action.journal=project:app'];
    args.push('--filter', 'label=x=1');
    // As latin1, as the journal may ask: ids are ASCII either way.
    expect(await engine().run(args, { encoding: 'latin1' })).toEqual(result(args, 0, 'c2\nc1\n'));
    expect(requests).toHaveLength(1);
  });

  it('leaves every other form to the CLI', async () => {
    const { cli, run } = engine();
    for (const args of [
      ['ps'],
      ['ps', '-a', '-q', '--no-trunc'],
      ['ps', '-a', '-q', '--no-trunc', '--filter', 'name=x'],
      ['ps', '-a', '-q', '--filter', 'label=x'],
      ['ps', '-a', '-q', '--no-trunc', '--filter'],
    ])
      await run(args);
    expect(cli.calls).toHaveLength(5);
    expect(requests).toEqual([]);
  });

  it('gives UTF-8 output as the bytes the CLI prints when latin1 is asked for', async () => {
    routes = { 'GET /v1.41/containers/a/json': { json: { Id: 'a', Config: { Labels: { k: 'café' } } } } };
    const r = await engine().run(['container', 'inspect', 'a'], { encoding: 'latin1' });
    expect(JSON.parse(Buffer.from(r.stdout, 'latin1').toString('utf8'))).toEqual([
      { Id: 'a', Config: { Labels: { k: 'café' } } },
    ]);
  });
});

describe('the API version', () => {
  it("is the engine's own, asked once per transport, so that an engine that refuses old versions is served", async () => {
    apiVersion = '1.51';
    routes = {
      'GET /v1.51/containers/a/json': { json: { Id: 'a' } },
      'DELETE /v1.51/containers/a': { status: 204 },
    };
    const { run } = engine();
    expect((await run(['container', 'inspect', 'a'])).exitCode).toBe(0);
    expect((await run(['rm', 'a'])).exitCode).toBe(0);
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1.51/containers/a/json',
      'DELETE /v1.51/containers/a',
    ]);
    expect(pings).toBe(1);
  });
});

describe('what stays with the CLI', () => {
  it('hands every other command to the CLI unchanged and asks the engine nothing', async () => {
    const { cli, runner } = engine();
    const cases: [string, string[], RunOptions][] = [
      ['docker', ['compose', 'ps'], { timeoutMs: 1_000 }],
      ['docker', ['stop', 'a'], { timeoutMs: 1_000 }],
      ['docker', ['logs', '--tail', '8', 'c'], { timeoutMs: 1_000, linesOnly: true, onLine: () => {} }],
      ['docker', ['exec', '-i', 'c', 'sh'], { timeoutMs: 1_000, input: 'echo hi\n' }],
      ['docker', ['exec', 'c'], { timeoutMs: 1_000 }],
      ['docker', ['create', '--rm', 'img'], { timeoutMs: 1_000 }],
      ['docker', ['create', '--name', 'n1'], { timeoutMs: 1_000 }],
      ['docker', ['create', '--name', 'n1', '--pull', 'always', 'img'], { timeoutMs: 1_000 }],
      ['docker', ['cp', 'a', 'b'], { timeoutMs: 1_000 }],
      ['docker', ['cp', 'proxy:/a', '/tmp/a'], { timeoutMs: 1_000 }],
      ['docker', ['cp', '-', 'proxy:/etc'], { timeoutMs: 1_000, input: 'not a tar as bytes' }],
      ['docker', ['rm', '-f', 'x'], { timeoutMs: 1_000 }],
      ['docker', ['rm', 'x', 'y'], { timeoutMs: 1_000 }],
      ['docker', ['inspect', 'x'], { timeoutMs: 1_000 }],
      ['docker', ['inspect', '--type', 'container', '-f', '{{.Id}}', 'x'], { timeoutMs: 1_000 }],
      ['docker', ['image', 'inspect', 'a', 'b'], { timeoutMs: 1_000 }],
      ['docker', ['top', 'c', 'aux'], { timeoutMs: 1_000 }],
      ['docker', ['import', '-', 'img:1'], { timeoutMs: 1_000, input: packFile('a', 'b', 0) }],
      ['docker-compose', ['inspect', '--type', 'container', 'a'], { timeoutMs: 1_000 }],
      ['git', ['top', 'c'], { timeoutMs: 1_000 }],
    ];
    for (const [file, args, options] of cases) expect(await runner.run(file, args, options)).toBe(CLI_RESULT);
    expect(cli.calls).toHaveLength(cases.length);
    cases.forEach(([file, args, options], i) => {
      expect(cli.calls[i]?.file).toBe(file);
      expect(cli.calls[i]?.args).toBe(args);
      expect(cli.calls[i]?.options).toBe(options);
    });
    expect(requests).toEqual([]);
  });

  it('after the socket could not be reached, every call goes to the CLI', async () => {
    const missing = process.platform === 'win32' ? pipeName('missing') : path.join(dir, 'missing.sock');
    let target = missing;
    const { cli, run } = engine({ request: (req) => socketTransport(target).request(req) });
    routes = { 'GET /v1.41/containers/c/top': { json: { Titles: ['PID', 'CMD'], Processes: [] } } };
    expect(await run(['inspect', '--type', 'container', 'a'])).toBe(CLI_RESULT);
    // The engine is there now: the runner still does not go back to it.
    target = socket;
    expect(await run(['top', 'c'])).toBe(CLI_RESULT);
    expect(cli.calls.map((c) => [c.file, c.args])).toEqual([
      ['docker', ['inspect', '--type', 'container', 'a']],
      ['docker', ['top', 'c']],
    ]);
    expect(requests).toEqual([]);
    // A fresh runner does reach it, so the silence above is the first runner's choice.
    expect((await engine().run(['top', 'c'])).stdout).toBe('PID   CMD\n');
    expect(requests).toHaveLength(1);
  });
});

describe('deadline and cancel', () => {
  it('a request that gets no answer ends at the deadline', async () => {
    routes = { 'GET /v1.41/containers/c/top': () => {} };
    const started = Date.now();
    const r = await engine().run(['top', 'c'], { timeoutMs: 100 });
    expect(r).toEqual({
      command: 'docker top c',
      exitCode: -1,
      stdout: '',
      stderr: 'docker engine API: timed out',
      timedOut: true,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('so does an answer whose body never ends', async () => {
    routes = {
      'POST /v1.41/exec/e1/start': (res) => {
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
        res.write(frame(1, 'partial'));
      },
      'POST /v1.41/containers/c/exec': { status: 201, json: { Id: 'e1' } },
    };
    const started = Date.now();
    const r = await engine().run(['exec', 'c', 'sleep', '9'], { timeoutMs: 100 });
    expect(r).toMatchObject({ exitCode: -1, stdout: '', stderr: 'docker engine API: timed out', timedOut: true });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a cancel ends a request under way, and one that was cancelled before is not sent', async () => {
    const controller = new AbortController();
    // Cancelled once the request has reached the engine.
    routes = { 'GET /v1.41/containers/c/top': () => controller.abort(new Error('SIGTERM')) };
    const { run } = engine();
    const cancelled = {
      command: 'docker top c',
      exitCode: -1,
      stdout: '',
      stderr: 'docker engine API: cancelled',
      timedOut: false,
    };
    expect(await run(['top', 'c'], { signal: controller.signal })).toEqual(cancelled);
    expect(requests).toHaveLength(1);
    expect(await run(['top', 'c'], { signal: controller.signal })).toEqual(cancelled);
    expect(requests).toHaveLength(1);
  });
});

describe('localApiSocket', () => {
  const reader = (text: string | Error) => {
    const read: string[] = [];
    const readText = async (file: string) => {
      read.push(file);
      if (text instanceof Error) throw text;
      return text;
    };
    return { read, readText };
  };
  const missingFile = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });

  it('takes the socket of a local DOCKER_HOST, and none of a remote one or a named context', async () => {
    const { read, readText } = reader('{"currentContext":"remote"}');
    expect(await localApiSocket({ host: 'unix:///run/x.sock' }, {}, readText, 'linux')).toBe('/run/x.sock');
    expect(await localApiSocket({ host: 'npipe:////./pipe/docker_engine' }, {}, readText, 'win32')).toBe(
      '\\\\.\\pipe\\docker_engine',
    );
    expect(await localApiSocket({ host: 'unix://' }, {}, readText, 'linux')).toBeUndefined();
    expect(await localApiSocket({ host: 'tcp://10.0.0.5:2376' }, {}, readText, 'linux')).toBeUndefined();
    expect(await localApiSocket({ host: 'ssh://deploy@web1' }, {}, readText, 'linux')).toBeUndefined();
    expect(await localApiSocket({ context: 'prod' }, {}, readText, 'linux')).toBeUndefined();
    // DOCKER_CONTEXT=default wins over the config's current context.
    expect(await localApiSocket({ context: 'default' }, {}, readText, 'linux')).toBe('/var/run/docker.sock');
    expect(await localApiSocket({ context: 'default' }, {}, readText, 'win32')).toBe('\\\\.\\pipe\\docker_engine');
    expect(read).toEqual([]);
  });

  it("follows the CLI config's current context when nothing else names the engine", async () => {
    const env = { DOCKER_CONFIG: '/cfg', HOME: '/home/u' };
    const config = path.join('/cfg', 'config.json');
    const remote = reader('{"currentContext":"remote"}');
    expect(await localApiSocket({}, env, remote.readText, 'linux')).toBeUndefined();
    expect(remote.read).toEqual([config]);
    for (const text of ['{"currentContext":"default"}', '{}', '{"currentContext":""}', 'not json', missingFile]) {
      const r = reader(text);
      expect(await localApiSocket({}, env, r.readText, 'linux'), String(text)).toBe('/var/run/docker.sock');
      expect(await localApiSocket({}, env, r.readText, 'win32'), String(text)).toBe('\\\\.\\pipe\\docker_engine');
      expect(r.read).toEqual([config, config]);
    }
  });

  it("reads the config in the user's home directory without DOCKER_CONFIG, as the CLI does", async () => {
    const r = reader(missingFile);
    expect(await localApiSocket({}, { HOME: '/elsewhere' }, r.readText, 'linux')).toBe('/var/run/docker.sock');
    expect(r.read).toEqual([path.join(os.homedir(), '.docker', 'config.json')]);
  });
});
