import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import {
  COMPOSE_V1,
  COMPOSE_V2,
  ComposeDriver,
  detectCompose,
  parseInspect,
  PINNED_COMPOSE_ENV,
  projectNameOf,
  type ComposeCli,
} from '../../src/docker/compose.js';
import type { RunOptions, Runner } from '../../src/runner.js';
import { FakeFiles, FakeHost, fakeId, type ComposeVersion } from './fake-host.js';

const WD = '/srv/My.Shop';

describe('projectNameOf: the compose project as compose picks it', () => {
  const saved = process.env.COMPOSE_PROJECT_NAME;
  afterEach(() => {
    if (saved === undefined) delete process.env.COMPOSE_PROJECT_NAME;
    else process.env.COMPOSE_PROJECT_NAME = saved;
  });
  const config = (projectName = '') => ({
    projectName,
    workingDirectory: WD,
    composeFiles: ['a.yml', 'b.yml'],
    colorFile: 'docker-compose.{color}.yml',
    colors: ['blue', 'green'] as [string, string],
  });

  it('-p, then COMPOSE_PROJECT_NAME (environment, then .env), then name: (the last file), then the directory', async () => {
    delete process.env.COMPOSE_PROJECT_NAME;
    const files = new FakeFiles({ [`${WD}/a.yml`]: 'services: {}\n', [`${WD}/b.yml`]: 'services: {}\n' });
    expect(await projectNameOf(config(), files)).toBe('myshop');
    files.put(`${WD}/a.yml`, 'name: first\nservices: {}\n');
    files.put(`${WD}/b.yml`, 'name: "second"\nservices: {}\n');
    expect(await projectNameOf(config(), files)).toBe('second');
    files.put(`${WD}/.env`, '# local\nCOMPOSE_PROJECT_NAME=from-dotenv\n');
    expect(await projectNameOf(config(), files)).toBe('from-dotenv');
    process.env.COMPOSE_PROJECT_NAME = 'From_Env';
    expect(await projectNameOf(config(), files)).toBe('from_env');
    expect(await projectNameOf(config('given'), files)).toBe('given');
  });

  it('keeps lower-case letters, digits, - and _, and starts with a letter or digit', async () => {
    delete process.env.COMPOSE_PROJECT_NAME;
    const files = new FakeFiles({ [`${WD}/a.yml`]: 'name: _Shop.Prod-1\n' });
    expect(await projectNameOf({ ...config(), composeFiles: ['a.yml'] }, files)).toBe('shopprod-1');
  });
});

describe('parseInspect', () => {
  it('reads state, health, addresses and ports, and leaves one-off containers out', () => {
    const json = JSON.stringify([
      {
        Id: '0123456789abcdef',
        Name: '/shop-app-green-1',
        State: { Status: 'running', Running: true, ExitCode: 0, Health: { Status: 'starting' } },
        Config: {
          Labels: { 'com.docker.compose.service': 'app-green' },
          ExposedPorts: { '8000/tcp': {}, '53/udp': {} },
        },
        NetworkSettings: {
          Networks: { shop_default: { IPAddress: '172.18.0.4', GlobalIPv6Address: '' } },
          Ports: { '8000/tcp': null },
        },
      },
      { Id: 'fedcba9876543210', Name: '/shop-run-1', Config: { Labels: { 'com.docker.compose.oneoff': 'True' } } },
    ]);
    expect(parseInspect(json)).toEqual([
      {
        id: '0123456789ab',
        name: 'shop-app-green-1',
        service: 'app-green',
        running: true,
        status: 'running',
        exitCode: 0,
        health: 'starting',
        addresses: ['172.18.0.4'],
        ports: [8000],
      },
    ]);
  });
});

// ComposeDriver against the in-memory Docker host: the exact command line of each call, for Compose v1 and v2, in
// both layouts (each color a service of the shared files' project; each color its own project), and what the
// driver makes of Docker's answers.

const MIN = 60_000;
const FILES = {
  [`${WD}/docker-compose.yml`]:
    'services:\n  proxy:\n    image: nginx\n  db:\n    image: postgres\n    container_name: shop-db\n' +
    '  tools:\n    image: busybox\n    profiles: [tools]\n',
  [`${WD}/docker-compose.blue.yml`]: 'services:\n  app-blue:\n    build: .\n',
  [`${WD}/docker-compose.green.yml`]: 'services:\n  app-green:\n    build: .\n',
  [`${WD}/docker-compose.app.yml`]: 'services:\n  app:\n    build: .\n',
};
const GREEN_FILE = `${WD}/docker-compose.green.yml`;

/** Each color is a service of the shared files' project (named after the directory: myshop). */
const SHARED = {
  workingDirectory: WD,
  composeFiles: ['docker-compose.yml'],
  colorFile: 'docker-compose.{color}.yml',
  projectName: '',
  colors: ['blue', 'green'] as [string, string],
  ports: [8000, 8001] as [number, number],
};
/** Each color is its own project, from one color file. */
const SEPARATE = { ...SHARED, colorFile: 'docker-compose.app.yml', projectName: 'shop-{color}' };

const CLIS: [string, ComposeCli, ComposeVersion][] = [
  ['v1', COMPOSE_V1, 1],
  ['v2', COMPOSE_V2, 2],
];

interface Call {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
  streams: boolean;
}

/** The runner the driver is given: records each call as it was made, then lets the host answer it. */
class Recorder implements Runner {
  calls: Call[] = [];
  constructor(readonly host: FakeHost) {}
  run(file: string, args: readonly string[], options: RunOptions) {
    const { cwd, env, timeoutMs } = options;
    this.calls.push({ argv: [file, ...args], cwd, env, timeoutMs, streams: options.onLine !== undefined });
    return this.host.run(file, args, options);
  }
  /** The calls made since the last take. */
  take(): Call[] {
    const calls = this.calls;
    this.calls = [];
    return calls;
  }
}

function driverOn(layout: typeof SHARED, cli: ComposeCli, files = new FakeFiles(FILES)) {
  const host = new FakeHost(files, { 'app-blue': 8000, 'app-green': 8001 }, { workingDir: WD });
  host.composeV2 = true;
  const runner = new Recorder(host);
  const lines: string[] = [];
  const driver = new ComposeDriver(runner, cli, layout, files, (line) => lines.push(line));
  return { host, runner, driver, files, lines };
}

/** What the user's own shell would run (a one-off container, a check of what compose lists). */
function shell(host: FakeHost, cli: ComposeCli, args: string[]) {
  return host.run(cli.file, [...cli.prefix, ...args], { cwd: WD, timeoutMs: MIN });
}

describe('detectCompose', () => {
  it('uses the compose it is told to, without asking', async () => {
    const { host, runner } = driverOn(SHARED, COMPOSE_V1);
    expect(await detectCompose(runner, 'docker compose')).toBe(COMPOSE_V2);
    expect(await detectCompose(runner, 'docker-compose')).toBe(COMPOSE_V1);
    expect(host.calls).toEqual([]);
  });

  it('auto: v2 when `docker compose version` answers, else v1 when `docker-compose version` does, else a clear error', async () => {
    const { host, runner } = driverOn(SHARED, COMPOSE_V1);
    expect(await detectCompose(runner, 'auto')).toBe(COMPOSE_V2);
    expect(runner.take()).toEqual([{ argv: ['docker', 'compose', 'version'], timeoutMs: MIN, streams: false }]);
    host.composeV2 = false;
    expect(await detectCompose(runner, 'auto')).toBe(COMPOSE_V1);
    expect(runner.take().map((c) => c.argv)).toEqual([
      ['docker', 'compose', 'version'],
      ['docker-compose', 'version'],
    ]);
    host.composeV1 = false;
    await expect(detectCompose(runner, 'auto')).rejects.toThrow(
      /Neither "docker compose" nor "docker-compose" answered to "version"/,
    );
  });
});

describe.each(CLIS)('ComposeDriver with compose %s', (_, cli, version) => {
  /** The container name compose gives a service's first container. */
  const nameOf = (project: string, service: string) =>
    version === 2 ? `${project}-${service}-1` : `${project}_${service}_1`;
  const colorEnv = (color: string, port: number) => ({
    ...PINNED_COMPOSE_ENV,
    BLUEGREEN_COLOR: color,
    BLUEGREEN_PORT: String(port),
  });

  describe('the command line of each call (one project for both colors)', () => {
    const base = [cli.file, ...cli.prefix, '-f', 'docker-compose.yml', '-f', GREEN_FILE];

    it('pull, up with and without build, stop, start, rm: the shared files, then the color file, then the services', async () => {
      const { runner, driver } = driverOn(SHARED, cli);
      await driver.pull('green', ['app-green']);
      await driver.up('green', ['app-green'], true);
      await driver.up('green', ['app-green'], false);
      await driver.stop('green', ['app-green']);
      await driver.start('green', ['app-green']);
      await driver.remove('green', ['app-green']);
      const calls = runner.take();
      expect(calls.map((c) => c.argv)).toEqual([
        [...base, 'pull', 'app-green'],
        [...base, 'up', '-d', '--no-deps', '--build', 'app-green'],
        [...base, 'up', '-d', '--no-deps', 'app-green'],
        [...base, 'stop', 'app-green'],
        [...base, 'start', 'app-green'],
        [...base, 'rm', '--stop', '--force', 'app-green'],
      ]);
      expect(calls.map((c) => c.timeoutMs)).toEqual([30 * MIN, 30 * MIN, 30 * MIN, 5 * MIN, 5 * MIN, 5 * MIN]);
      // In the project's directory, with the pinned environment and the color's own variables; the output streams.
      for (const call of calls) expect(call).toEqual({ ...call, cwd: WD, env: colorEnv('green', 8001), streams: true });
    });

    it('the argument lists it shows in a dry run are the ones it runs', () => {
      const { driver } = driverOn(SHARED, cli);
      expect(driver.upArgs('green', ['app-green'], true)).toEqual([
        ...base.slice(1),
        'up',
        '-d',
        '--no-deps',
        '--build',
        'app-green',
      ]);
      expect(driver.stopArgs('green', ['app-green'])).toEqual([...base.slice(1), 'stop', 'app-green']);
      expect(driver.removeArgs('green', ['app-green'])).toEqual([
        ...base.slice(1),
        'rm',
        '--stop',
        '--force',
        'app-green',
      ]);
      expect(driver.args('green', ['start', 'app-green'])).toEqual([...base.slice(1), 'start', 'app-green']);
    });

    it('lists a color with compose ps, then reads the containers with one docker inspect; neither streams', async () => {
      const { host, runner, driver } = driverOn(SHARED, cli);
      await driver.up('green', ['app-green'], true);
      runner.take();
      const states = await driver.containers('green', ['app-green']);
      const full = host.containers.get('app-green')?.fullId as string;
      expect(runner.take()).toEqual([
        {
          argv: [...base, 'ps', '-a', '-q', 'app-green'],
          cwd: WD,
          env: colorEnv('green', 8001),
          timeoutMs: MIN,
          streams: false,
        },
        { argv: ['docker', 'inspect', '--type', 'container', full], timeoutMs: MIN, streams: false },
      ]);
      expect(states).toEqual([
        {
          id: fakeId('app-green'),
          name: nameOf('myshop', 'app-green'),
          service: 'app-green',
          running: true,
          status: 'running',
          exitCode: 0,
          health: undefined,
          addresses: ['172.18.0.2'],
          ports: [8000],
        },
      ]);
      expect(await driver.containers('green', [])).toEqual([]);
      expect(runner.take()).toEqual([]);
    });

    it('with project-name given as Compose labels it: one docker ps by its labels, the same containers', async () => {
      const { host, runner, driver } = driverOn({ ...SEPARATE, projectName: 'shop_2-{color}' }, cli);
      await driver.up('blue', ['app'], true);
      await driver.up('green', ['app'], true);
      await driver.stop('blue', ['app']);
      // A one-off container of green (compose run) and another project's container are not green's.
      const made = host.containers.get('app', 'shop_2-green')!;
      const labels = { ...made.labels, 'com.docker.compose.oneoff': 'True' };
      host.containers.add({ ...made, fullId: 'f'.repeat(64), oneoff: true, labels });
      runner.take();
      const [blue] = await driver.containers('blue', ['app']);
      const green = await driver.containers('green', ['app', 'worker']);
      const listed = (project: string) => [
        ...['docker', 'ps', '-a', '-q', '--no-trunc'],
        ...['--filter', `label=com.docker.compose.project=${project}`],
        ...['--filter', 'label=com.docker.compose.oneoff=False'],
      ];
      expect(runner.take().map((c) => c.argv)).toEqual([
        listed('shop_2-blue'),
        ['docker', 'inspect', '--type', 'container', host.containers.get('app', 'shop_2-blue')?.fullId],
        listed('shop_2-green'),
        ['docker', 'inspect', '--type', 'container', host.containers.get('app', 'shop_2-green')?.fullId],
      ]);
      expect(blue).toMatchObject({ id: fakeId('app', 1), running: false, status: 'exited' });
      expect(green).toMatchObject([{ id: fakeId('app', 2), running: true, service: 'app' }]);
      // Without project-name, Compose names the project itself: compose ps (the test above).
    });

    it('reads and parses each compose file once, however often its services are asked', async () => {
      const files = new FakeFiles(FILES);
      const read = files.read.bind(files);
      const reads: string[] = [];
      files.read = async (p) => (reads.push(p), read(p));
      const { driver } = driverOn(SHARED, cli, files);
      await driver.checkColorsApart();
      for (const color of ['blue', 'green']) {
        await driver.colorServices(color);
        await driver.oneOffServices(color);
      }
      await driver.sharedServices();
      // Each color file was asked five times, the shared file twice.
      await driver.sharedServices();
      const readsOf = (name: string) => reads.filter((r) => path.basename(r) === name);
      expect(readsOf('docker-compose.blue.yml')).toHaveLength(1);
      expect(readsOf('docker-compose.green.yml')).toHaveLength(1);
      // Once for its services, and once each for the project's name as v2 and v1 write it.
      expect(readsOf('docker-compose.yml')).toHaveLength(3);
    });

    it('both colors of one project asked at once: one listing serves both; asked again later, listed again', async () => {
      const { host, runner, driver } = driverOn({ ...SHARED, projectName: 'shop' }, cli);
      await driver.up('blue', ['app-blue'], true);
      await driver.up('green', ['app-green'], true);
      runner.take();
      const [blue, green] = await Promise.all([
        driver.containers('blue', ['app-blue']),
        driver.containers('green', ['app-green']),
      ]);
      expect(blue).toMatchObject([{ service: 'app-blue' }]);
      expect(green).toMatchObject([{ service: 'app-green' }]);
      const ids = ['app-blue', 'app-green'].map((s) => host.containers.get(s, 'shop')?.fullId);
      const once = [
        ['docker', 'ps', '-a', '-q', '--no-trunc', '--filter', 'label=com.docker.compose.project=shop'],
        ['docker', 'inspect', '--type', 'container', ...ids],
      ];
      expect(runner.take().map((c) => c.argv.slice(0, c.argv[1] === 'ps' ? 7 : undefined))).toEqual(once);
      await driver.containers('green', ['app-green']);
      expect(runner.take()).toHaveLength(2);
    });

    it('stops known containers and reads their logs with docker directly, by id', async () => {
      const { host, runner, driver } = driverOn(SHARED, cli);
      await driver.up('green', ['app-green'], true);
      const [green] = await driver.containers('green', ['app-green']);
      if (!green) throw new Error('no green container');
      runner.take();
      expect(await driver.logTail([green], 5)).toBe(`${nameOf('myshop', 'app-green')} | log line of app-green`);
      await driver.stopContainers([green]);
      expect(runner.take()).toEqual([
        { argv: ['docker', 'logs', '--tail', '5', fakeId('app-green')], timeoutMs: MIN, streams: false },
        { argv: ['docker', 'stop', fakeId('app-green')], timeoutMs: 5 * MIN, streams: false },
      ]);
      expect(host.containers.get('app-green')).toMatchObject({ running: false, status: 'exited' });
    });

    it('starts shared services from the shared files alone, never recreating one', async () => {
      const { host, runner, driver } = driverOn(SHARED, cli);
      await driver.startShared('blue', ['proxy', 'db']);
      expect(runner.take()).toEqual([
        {
          argv: [
            cli.file,
            ...cli.prefix,
            '-f',
            'docker-compose.yml',
            'up',
            '-d',
            '--no-deps',
            '--no-recreate',
            'proxy',
            'db',
          ],
          cwd: WD,
          env: colorEnv('blue', 8000),
          timeoutMs: 30 * MIN,
          streams: true,
        },
      ]);
      const db = host.containers.get('db', 'myshop');
      expect(db?.name).toBe('shop-db');
      await driver.stop('blue', ['db']);
      await driver.startShared('blue', ['db']);
      expect(host.containers.get('db', 'myshop')).toMatchObject({ id: db?.id, running: true });
    });

    it('passes -p when a project name is given, and every shared file in order; none when there is none', async () => {
      const files = new FakeFiles({
        ...FILES,
        [`${WD}/base.yml`]: 'services:\n  proxy:\n    image: nginx\n',
        [`${WD}/db.yml`]: 'services: {}\n',
      });
      const { host, driver } = driverOn(
        { ...SHARED, projectName: 'shop', composeFiles: ['base.yml', 'db.yml'] },
        cli,
        files,
      );
      const project = [...cli.prefix, '-p', 'shop', '-f', 'base.yml', '-f', 'db.yml'];
      expect(driver.args('green', ['ps'])).toEqual([...project, '-f', GREEN_FILE, 'ps']);
      expect(driver.sharedArgs(['up', 'proxy'])).toEqual([...project, 'up', 'proxy']);
      await driver.up('green', ['app-green'], false);
      expect(host.containers.get('app-green')).toMatchObject({ project: 'shop', name: nameOf('shop', 'app-green') });
      const alone = driverOn({ ...SHARED, composeFiles: [] }, cli).driver;
      expect(alone.args('green', ['ps'])).toEqual([...cli.prefix, '-f', GREEN_FILE, 'ps']);
    });
  });

  describe('each color its own project (project-name with {color})', () => {
    it('passes -p with the color and the one color file; the same service name in both projects', async () => {
      const { driver } = driverOn(SEPARATE, cli);
      expect(driver.separateProjects).toBe(true);
      const rest = ['-f', 'docker-compose.yml', '-f', `${WD}/docker-compose.app.yml`, 'up', '-d', '--no-deps', 'app'];
      expect(driver.upArgs('blue', ['app'], false)).toEqual([...cli.prefix, '-p', 'shop-blue', ...rest]);
      expect(driver.upArgs('green', ['app'], false)).toEqual([...cli.prefix, '-p', 'shop-green', ...rest]);
      expect(await driver.colorServices('blue')).toEqual(['app']);
      expect(await driver.colorServices('green')).toEqual(['app']);
      await expect(driver.checkColorsApart()).resolves.toBeUndefined();
      expect(driverOn(SHARED, cli).driver.separateProjects).toBe(false);
    });

    it('keeps each color in its own project, deploy after deploy', async () => {
      const { driver } = driverOn(SEPARATE, cli);
      await driver.up('blue', ['app'], true);
      await driver.up('green', ['app'], true);
      const [blue] = await driver.containers('blue', ['app']);
      const [green] = await driver.containers('green', ['app']);
      expect([blue?.name, green?.name]).toEqual([nameOf('shop-blue', 'app'), nameOf('shop-green', 'app')]);
      expect([blue?.id, green?.id]).toEqual([fakeId('app', 1), fakeId('app', 2)]);
      // Cleanup of blue, a third deploy (green again): blue's container is left as cleanup left it.
      await driver.stop('blue', ['app']);
      await driver.up('green', ['app'], true);
      expect(await driver.containers('blue', ['app'])).toMatchObject([
        { id: fakeId('app', 1), running: false, status: 'exited' },
      ]);
      expect(await driver.containers('green', ['app'])).toMatchObject([{ id: fakeId('app', 3), running: true }]);
      // A rollback to blue, then cleanup down of green: only green's container goes.
      await driver.start('blue', ['app']);
      await driver.remove('green', ['app']);
      expect(await driver.containers('green', ['app'])).toEqual([]);
      expect(await driver.containers('blue', ['app'])).toMatchObject([{ id: fakeId('app', 1), running: true }]);
    });
  });

  describe("reading Docker's answers", () => {
    it('docker inspect of a container that is gone: Docker prints the others, exits 1 and names it', async () => {
      const { host, driver } = driverOn(SHARED, cli);
      await driver.up('green', ['app-green'], true);
      const full = host.containers.get('app-green')?.fullId as string;
      const typed = await host.run('docker', ['inspect', '--type', 'container', full, 'gone'], { timeoutMs: MIN });
      expect(typed).toMatchObject({ exitCode: 1, stderr: 'Error: No such container: gone' });
      expect(parseInspect(typed.stdout).map((c) => c.service)).toEqual(['app-green']);
      const untyped = await host.run('docker', ['inspect', 'gone'], { timeoutMs: MIN });
      expect(untyped).toMatchObject({ exitCode: 1, stderr: 'Error: No such object: gone' });
      expect(parseInspect(untyped.stdout)).toEqual([]);
      // What the driver makes of it is in found-bugs.test.ts. Given no id, it asks nothing.
      expect(await driver.inspect([])).toEqual([]);
      expect(host.calls.filter((c) => c.startsWith('docker inspect'))).toHaveLength(2);
    });

    it('a crash-looping container: Docker says running while it restarts, and its status says restarting', async () => {
      const { host, driver } = driverOn(SHARED, cli);
      host.crashLooping.add('app-green');
      await driver.up('green', ['app-green'], true);
      expect(await driver.containers('green', ['app-green'])).toMatchObject([
        { service: 'app-green', running: true, status: 'restarting', exitCode: 1 },
      ]);
    });

    it('one-off containers (compose run) are listed by compose ps -a, and left out of a color', async () => {
      const { host, driver } = driverOn(SHARED, cli);
      const project = ['-f', 'docker-compose.yml', '-f', GREEN_FILE];
      await driver.up('green', ['app-green'], true);
      expect(await shell(host, cli, [...project, 'run', '-d', 'app-green', 'migrate'])).toMatchObject({ exitCode: 0 });
      expect(await shell(host, cli, [...project, 'run', '--rm', 'app-green', 'true'])).toMatchObject({ exitCode: 0 });
      expect(await shell(host, cli, [...project, 'run', 'app-green', 'true'])).toMatchObject({ exitCode: 0 });
      const [running, exited] = host.containers.oneOffs('app-green');
      expect(running?.labels['com.docker.compose.oneoff']).toBe('True');
      expect(running?.name).toBe(version === 2 ? `myshop-app-green-run-${running?.id}` : 'myshop_app-green_run_1');
      const listed = await shell(host, cli, [...project, 'ps', '-a', '-q', 'app-green']);
      expect(listed.stdout.split('\n').filter(Boolean)).toEqual([
        host.containers.get('app-green')?.fullId,
        running?.fullId,
        exited?.fullId,
      ]);
      expect((await driver.containers('green', ['app-green'])).map((c) => c.id)).toEqual([fakeId('app-green')]);
      // With the service's own container removed, a one-off is not taken for it.
      await driver.remove('green', ['app-green']);
      expect(host.containers.oneOffs('app-green')).toHaveLength(2);
      expect(await driver.containers('green', ['app-green'])).toEqual([]);
    });

    it('compose stop of a service without a container succeeds (rm too); start fails', async () => {
      const { driver } = driverOn(SHARED, cli);
      await expect(driver.stop('green', ['app-green'])).resolves.toBeUndefined();
      await expect(driver.remove('green', ['app-green'])).resolves.toBeUndefined();
      await expect(driver.start('green', ['app-green'])).rejects.toThrow(/^starting green failed \(exit code 1\)/);
    });
  });

  describe('services from the compose files', () => {
    it('a shared service without container_name is known by the name this compose gives its container', async () => {
      const { host, driver } = driverOn(SHARED, cli);
      const [proxy] = await driver.sharedServices();
      await driver.startShared('blue', ['proxy']);
      const created = host.containers.get('proxy')?.name;
      expect(created).toBe(nameOf('myshop', 'proxy'));
      expect(proxy?.containerNames).toContain(created);
    });
  });
});

describe('ComposeDriver: services from the compose files', () => {
  it("colorServices: the services of the color's own file", async () => {
    const { driver } = driverOn(SHARED, COMPOSE_V2);
    expect(await driver.colorServices('blue')).toEqual(['app-blue']);
    expect(await driver.colorServices('green')).toEqual(['app-green']);
    expect(driver.colorFile('green')).toBe(GREEN_FILE);
  });

  it('colorServices refuses a color file without services, not YAML, missing, or with a service name compose would read as an option', async () => {
    const cases: [string | null, RegExp][] = [
      ['services: {}\n', /defines no service for green: list the color's services under services:/],
      ['x-note: nothing\n', /defines no service for green/],
      ['services: [\n', /not valid YAML/],
      ['services: app\n', /not a compose file with a services: map/],
      [null, /not a compose file with a services: map/],
      ['services:\n  --build:\n    image: x\n', /"--build" is not a compose service name/],
    ];
    for (const [text, message] of cases) {
      const files = new FakeFiles(FILES);
      if (text === null) files.data.delete(GREEN_FILE);
      else files.put(GREEN_FILE, text);
      const error = await driverOn(SHARED, COMPOSE_V2, files)
        .driver.colorServices('green')
        .catch((e: unknown) => e);
      expect(error, String(text)).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues).toEqual([
        { input: 'color-file', value: GREEN_FILE, message: expect.stringMatching(message) },
      ]);
    }
  });

  it("sharedServices: the shared files' services that no color owns, without profiles, with their container names", async () => {
    const files = new FakeFiles({
      ...FILES,
      [`${WD}/override.yml`]:
        'services:\n  proxy:\n    container_name: edge\n  db:\n    environment: { A: "1" }\n  app-blue:\n    environment: { B: "1" }\n',
    });
    const { driver } = driverOn({ ...SHARED, composeFiles: ['docker-compose.yml', 'override.yml'] }, COMPOSE_V2, files);
    expect(await driver.sharedServices()).toEqual([
      { name: 'proxy', containerNames: ['edge'] },
      { name: 'db', containerNames: ['shop-db'] },
    ]);
    const plain = driverOn(SHARED, COMPOSE_V2).driver;
    expect(await plain.sharedServices()).toEqual([
      { name: 'proxy', containerNames: ['myshop-proxy-1', 'myshop_proxy_1'] },
      { name: 'db', containerNames: ['shop-db'] },
    ]);
  });

  it('sharedServices refuses a shared file that is not a compose file, naming compose-files', async () => {
    const files = new FakeFiles({ ...FILES, [`${WD}/docker-compose.yml`]: 'services: [\n' });
    const error = await driverOn(SHARED, COMPOSE_V2, files)
      .driver.sharedServices()
      .catch((e: unknown) => e);
    expect((error as ConfigError).issues).toEqual([
      { input: 'compose-files', value: `${WD}/docker-compose.yml`, message: expect.stringMatching(/^not valid YAML/) },
    ]);
  });

  it('checkColorsApart refuses both colors defining one service in one project', async () => {
    const files = new FakeFiles({
      ...FILES,
      [GREEN_FILE]: 'services:\n  app-green:\n    build: .\n  app-blue:\n    build: .\n',
    });
    const error = await driverOn(SHARED, COMPOSE_V2, files)
      .driver.checkColorsApart()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]?.message).toMatch(
      /^both color files define the service\(s\) app-blue in one compose project/,
    );
    await expect(driverOn(SHARED, COMPOSE_V2).driver.checkColorsApart()).resolves.toBeUndefined();
  });

  it("port and env: the color's port, and the variables a shared color file interpolates", () => {
    const { driver } = driverOn(SHARED, COMPOSE_V2);
    expect([driver.port('blue'), driver.port('green'), driver.port('red')]).toEqual([8000, 8001, NaN]);
    expect(driver.env('green')).toEqual({ ...PINNED_COMPOSE_ENV, BLUEGREEN_COLOR: 'green', BLUEGREEN_PORT: '8001' });
    expect(PINNED_COMPOSE_ENV).toEqual({
      COMPOSE_REMOVE_ORPHANS: 'false',
      COMPOSE_IGNORE_ORPHANS: 'true',
      COMPOSE_MENU: 'false',
      COMPOSE_ANSI: 'never',
    });
  });
});

describe('parseInspect: Docker states', () => {
  it('reads a restarting container as Docker reports it, a missing field as a default, and an empty answer', () => {
    const json = JSON.stringify([
      {
        Id: 'aaaaaaaaaaaaaaaa',
        Name: '/x',
        State: { Status: 'restarting', Running: true, Restarting: true, ExitCode: 2 },
      },
      { Id: 'bbbbbbbbbbbbbbbb' },
    ]);
    expect(parseInspect(json)).toEqual([
      {
        id: 'aaaaaaaaaaaa',
        name: 'x',
        service: '',
        running: true,
        status: 'restarting',
        exitCode: 2,
        health: undefined,
        addresses: [],
        ports: [],
      },
      {
        id: 'bbbbbbbbbbbb',
        name: '',
        service: '',
        running: false,
        status: 'unknown',
        exitCode: 0,
        health: undefined,
        addresses: [],
        ports: [],
      },
    ]);
    expect(parseInspect('[]\n')).toEqual([]);
  });

  it('keeps a container whose oneoff label is False', () => {
    const labels = (oneoff: string) => ({
      Config: { Labels: { 'com.docker.compose.service': 'app', 'com.docker.compose.oneoff': oneoff } },
    });
    expect(
      parseInspect(
        JSON.stringify([
          { Id: '1', ...labels('False') },
          { Id: '2', ...labels('True') },
        ]),
      ).map((c) => c.id),
    ).toEqual(['1']);
  });
});
