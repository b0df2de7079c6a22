// Whole runs on the in-memory Docker host where Compose's own behaviour matters: each color its own compose
// project over several deploys, one-off containers (compose run) next to a color's, and crash-looping containers,
// with Compose v1 and v2.
import { describe, expect, it } from 'vitest';
import { INCLUDE, RELOAD, setup, WD } from './deploy-setup.js';
import { FakeFiles, FakeHost, fakeId } from './fake-host.js';
import { renderInclude } from '../../src/proxy/include.js';

const VERSIONS: [string, boolean][] = [
  ['v1', false],
  ['v2', true],
];

describe.each(VERSIONS)('each color its own compose project (compose %s)', (_, v2) => {
  const cli = v2 ? 'docker compose' : 'docker-compose';
  const compose = (color: string, rest: string) =>
    `${cli} -p shop-${color} -f docker-compose.yml -f ${WD}/docker-compose.${color}.yml ${rest}`;
  const nameIn = (project: string) => (v2 ? `${project}-app-1` : `${project}_app_1`);

  /** Both color files define the service app; each color runs it in its own project. */
  async function separate(raw: Record<string, string> = {}) {
    const s = await setup({ raw: { 'project-name': 'shop-{color}', 'compose-command': cli, ...raw } });
    s.host.composeV2 = v2;
    s.files.put(`${WD}/docker-compose.blue.yml`, 'services:\n  app:\n    build: .\n');
    s.files.put(`${WD}/docker-compose.green.yml`, 'services:\n  app:\n    build: .\n');
    delete s.host.portOf['app-blue'];
    delete s.host.portOf['app-green'];
    Object.assign(s.host.portOf, { 'shop-blue/app': 8000, 'shop-green/app': 8001 });
    const again = async (run: () => ReturnType<typeof s.run>) => {
      s.host.calls.length = 0;
      const result = await run();
      expect(result.error).toBeUndefined();
      return result;
    };
    return { ...s, again };
  }

  it('deploys blue, green, blue again, then rolls back to green, each time leaving the other project as it was', async () => {
    const { host, again, run, runWith } = await separate();
    expect(await again(run)).toMatchObject({ status: 'deployed', color: 'blue' });
    expect(host.changes).toEqual([compose('blue', 'up -d --no-deps --build app'), RELOAD]);

    expect(await again(run)).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    expect(host.changes).toEqual([
      compose('green', 'up -d --no-deps --build app'),
      RELOAD,
      compose('blue', 'stop app'),
    ]);
    expect(host.containers.get('app', 'shop-blue')).toMatchObject({
      id: fakeId('app', 1),
      name: nameIn('shop-blue'),
      running: false,
    });
    expect(host.containers.get('app', 'shop-green')).toMatchObject({
      id: fakeId('app', 2),
      name: nameIn('shop-green'),
      running: true,
    });

    expect(await again(run)).toMatchObject({ status: 'deployed', color: 'blue', previousColor: 'green' });
    expect(host.changes).toEqual([
      compose('blue', 'up -d --no-deps --build app'),
      RELOAD,
      compose('green', 'stop app'),
    ]);
    expect(host.containers.get('app', 'shop-blue')).toMatchObject({ id: fakeId('app', 3), running: true });
    expect(host.containers.get('app', 'shop-green')).toMatchObject({ id: fakeId('app', 2), running: false });

    expect(await again(() => runWith({ command: 'rollback' }))).toMatchObject({
      status: 'rolled-back',
      color: 'green',
      previousColor: 'blue',
    });
    expect(host.changes).toEqual([compose('green', 'start app'), RELOAD, compose('blue', 'stop app')]);
    expect(host.containers.get('app', 'shop-green')).toMatchObject({ id: fakeId('app', 2), running: true });
    expect(host.servedColor('proxy')).toBe('green');
    expect(host.containers.size).toBe(2);
  });

  it("cleanup down removes only the old color's container, in its own project", async () => {
    const { host, again, run } = await separate({ cleanup: 'down' });
    await again(run);
    await again(run);
    expect(host.changes).toEqual([
      compose('green', 'up -d --no-deps --build app'),
      RELOAD,
      compose('blue', 'rm --stop --force app'),
    ]);
    expect(host.containers.has('app', 'shop-blue')).toBe(false);
    expect(host.containers.get('app', 'shop-green')).toMatchObject({ running: true });
  });
});

describe.each(VERSIONS)('one-off and crash-looping containers (compose %s)', (_, v2) => {
  const cli = v2 ? 'docker compose' : 'docker-compose';
  const compose = (color: string, rest: string) =>
    `${cli} -f docker-compose.yml -f ${WD}/docker-compose.${color}.yml ${rest}`;
  const nameOf = (service: string) => (v2 ? `app-${service}-1` : `app_${service}_1`);

  async function on(options: Parameters<typeof setup>[0] = {}) {
    const s = await setup({ ...options, raw: { 'compose-command': cli, ...options.raw } });
    s.host.composeV2 = v2;
    return s;
  }

  it("one-offs of either color are not the color's containers: checked, kept and stopped are the services' own", async () => {
    const { host, run } = await on({ live: 'blue' });
    const job = host.addOneOff('app-green');
    host.addOneOff('app-blue', { running: false });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    expect(host.changes).toEqual([
      compose('green', 'up -d --no-deps --build app-green'),
      RELOAD,
      compose('blue', 'stop app-blue'),
    ]);
    // After up, compose lists the new color (its one-off too), then the probes inspect the new container alone.
    const up = host.calls.indexOf(compose('green', 'up -d --no-deps --build app-green'));
    const probes = host.calls
      .slice(up)
      .filter((c) => c.startsWith('docker inspect --type container '))
      .slice(1);
    expect(probes.length).toBeGreaterThan(0);
    for (const probe of probes) expect(probe).toBe(`docker inspect --type container ${fakeId('app-green')}`);
    expect(job.running).toBe(true);
  });

  it('the undo of a failed deploy stops the new container, not a one-off of its service', async () => {
    const { host, run } = await on({ live: 'blue' });
    const job = host.addOneOff('app-green');
    host.crashing.add('app-green');
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(new RegExp(`container ${nameOf('app-green')} is exited \\(exit code 1\\)`));
    expect(host.changes).toEqual([
      compose('green', 'up -d --no-deps --build app-green'),
      `docker stop ${fakeId('app-green')}`,
    ]);
    expect(job.running).toBe(true);
  });

  it('a running one-off of the color an include names does not make that color live', async () => {
    const { host, files, log, config, run } = await on();
    const target = config.targets[0];
    if (!target) throw new Error('no target');
    files.put(INCLUDE, renderInclude(target, 'blue', 8000));
    host.addOneOff('app-blue');
    const result = await run();
    expect(log.text).toMatch(/An include points at blue, which is not running: blue is not live\./);
    expect(result).toMatchObject({ status: 'deployed', color: 'blue' });
    expect(result.previousColor).toBeUndefined();
  });

  it('a rollback finds no container to go back to in a one-off', async () => {
    const { host, run } = await on({ live: 'green', raw: { command: 'rollback' } });
    host.addOneOff('app-blue', { running: false });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(result.error).toMatch(/blue has no container for app-blue to go back to/);
    expect(host.changes).toEqual([]);
  });

  it('a new color that crash-loops fails at once (Docker says running; its status says restarting) and is stopped', async () => {
    const { host, clock, run } = await on({ live: 'blue' });
    host.crashLooping.add('app-green');
    const start = clock.now();
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(new RegExp(`container ${nameOf('app-green')} is restarting \\(exit code 1\\)`));
    expect(clock.now() - start).toBeLessThan(5_000);
    expect(host.changes).toEqual([
      compose('green', 'up -d --no-deps --build app-green'),
      `docker stop ${fakeId('app-green')}`,
    ]);
    expect(host.containers.get('app-green')).toMatchObject({ running: false, status: 'exited' });
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('a rollback to a stopped color that crash-loops once started: stopped again, traffic left where it was', async () => {
    const { host, run } = await on({ live: 'green', idleStopped: true, raw: { command: 'rollback' } });
    host.crashLooping.add('app-blue');
    const result = await run();
    expect(result).toMatchObject({ exitCode: 1, color: 'green' });
    expect(result.error).toMatch(new RegExp(`container ${nameOf('app-blue')} is restarting`));
    expect(host.changes).toEqual([compose('blue', 'start app-blue'), `docker stop ${fakeId('app-blue')}`]);
    expect(host.servedColor('proxy')).toBe('green');
  });

  it('an idle color crash-looping beside the live one (restart: always after a reboot) is replaced by the deploy', async () => {
    const { host, run } = await on({ live: 'blue' });
    host.addRunning('app-green', true, { status: 'restarting' });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    expect(host.containers.get('app-green')).toMatchObject({ id: fakeId('app-green', 2), status: 'running' });
  });
});

describe('the fake host answers as Compose does', () => {
  const files = () =>
    new FakeFiles({
      '/srv/Shop.Web/deploy/docker-compose.yml': 'services:\n  web:\n    image: nginx\n',
      '/srv/Shop.Web/docker-compose.blue.yml': 'services:\n  app:\n    container_name: app-blue\n',
      '/srv/Shop.Web/.env': 'COMPOSE_PROJECT_NAME=\n',
    });
  const compose = (host: FakeHost, v2: boolean, args: string[]) =>
    host.run(v2 ? 'docker' : 'docker-compose', [...(v2 ? ['compose'] : []), ...args], {
      cwd: '/srv/Shop.Web',
      timeoutMs: 1000,
    });

  it.each(VERSIONS)(
    '%s: the project is -p, else COMPOSE_PROJECT_NAME, else the directory of the first file',
    async (_, v2) => {
      const host = new FakeHost(files(), {});
      host.composeV2 = v2;
      await compose(host, v2, ['-f', 'deploy/docker-compose.yml', 'up', '-d', 'web']);
      await compose(host, v2, ['-p', 'given', '-f', 'deploy/docker-compose.yml', 'up', '-d', 'web']);
      host.files.put('/srv/Shop.Web/deploy/.env', 'COMPOSE_PROJECT_NAME=from_env\n');
      await compose(host, v2, ['-f', 'deploy/docker-compose.yml', 'up', '-d', 'web']);
      const sep = v2 ? '-' : '_';
      expect(
        [...host.containers].map((c) => [c.project, c.name, c.labels['com.docker.compose.project.working_dir']]),
      ).toEqual([
        ['deploy', `deploy${sep}web${sep}1`, '/srv/Shop.Web/deploy'],
        ['given', `given${sep}web${sep}1`, '/srv/Shop.Web/deploy'],
        ['from_env', `from_env${sep}web${sep}1`, '/srv/Shop.Web/deploy'],
      ]);
    },
  );

  it('v2 reads a top-level name: and refuses a -p it would have to change; v1 ignores the one and lower-cases the other', async () => {
    const host = new FakeHost(files(), {});
    host.composeV2 = true;
    host.files.put('/srv/Shop.Web/deploy/docker-compose.yml', 'name: named\nservices:\n  web:\n    image: nginx\n');
    expect(await compose(host, true, ['-f', 'deploy/docker-compose.yml', 'up', '-d', 'web'])).toMatchObject({
      exitCode: 0,
    });
    expect(await compose(host, false, ['-f', 'deploy/docker-compose.yml', 'up', '-d', 'web'])).toMatchObject({
      exitCode: 0,
    });
    expect(await compose(host, true, ['-p', 'Big', '-f', 'deploy/docker-compose.yml', 'ps', '-q'])).toMatchObject({
      exitCode: 1,
      stderr: expect.stringMatching(/^invalid project name "Big"/),
    });
    expect(
      await compose(host, false, ['-p', 'Big', '-f', 'deploy/docker-compose.yml', 'up', '-d', 'web']),
    ).toMatchObject({ exitCode: 0 });
    expect([...host.containers].map((c) => c.project)).toEqual(['named', 'deploy', 'big']);
  });

  it.each(VERSIONS)(
    '%s: a service or file that does not exist, an option it does not know, a container name taken: exit 1',
    async (_, v2) => {
      const host = new FakeHost(files(), {});
      host.composeV2 = v2;
      const blue = ['-f', 'docker-compose.blue.yml'];
      expect((await compose(host, v2, [...blue, 'stop', 'nope'])).stderr).toBe(
        v2 ? 'no such service: nope' : 'No such service: nope',
      );
      expect((await compose(host, v2, ['-f', 'gone.yml', 'ps', '-q'])).exitCode).toBe(1);
      expect((await compose(host, v2, [...blue, 'up', '--pull', 'always', 'app'])).exitCode).toBe(1);
      expect((await compose(host, v2, [...blue, 'up', '-d', 'app'])).exitCode).toBe(0);
      expect(host.containers.get('app')?.name).toBe('app-blue');
      const other = await compose(host, v2, ['-p', 'other', ...blue, 'up', '-d', 'app']);
      expect(other).toMatchObject({
        exitCode: 1,
        stderr: expect.stringMatching(/Conflict\. The container name "\/app-blue" is already in use/),
      });
    },
  );

  it.each(VERSIONS)('%s: stop and rm of a service without a container succeed; start fails', async (_, v2) => {
    const host = new FakeHost(files(), {});
    host.composeV2 = v2;
    const blue = ['-f', 'docker-compose.blue.yml'];
    expect(await compose(host, v2, [...blue, 'stop', 'app'])).toMatchObject({ exitCode: 0 });
    expect(await compose(host, v2, [...blue, 'rm', '--stop', '--force', 'app'])).toMatchObject({
      exitCode: 0,
      stderr: 'No stopped containers\n',
    });
    expect(await compose(host, v2, [...blue, 'start', 'app'])).toMatchObject({ exitCode: 1 });
  });

  it('docker stop stops what it finds and exits 1 naming what it does not', async () => {
    const host = new FakeHost(files(), {});
    const app = host.addRunning('app');
    const r = await host.run('docker', ['stop', app.id, 'gone'], { timeoutMs: 1000 });
    expect(r).toMatchObject({
      exitCode: 1,
      stdout: `${app.id}\n`,
      stderr: 'Error response from daemon: No such container: gone',
    });
    expect(app).toMatchObject({ running: false, status: 'exited' });
  });
});
