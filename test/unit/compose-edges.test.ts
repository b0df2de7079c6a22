// Where Docker and Compose behave in ways easy to miss: each test says what they do, and what the tool makes of it.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import { COMPOSE_V1, COMPOSE_V2, ComposeDriver, type ComposeCli } from '../../src/docker/compose.js';
import { onDrain, setup } from './deploy-setup.js';
import { FakeFiles, FakeHost } from './fake-host.js';

/** A driver's configuration in `wd`: the given shared files, the default color files, colors and ports. */
function driverConfig(wd: string, composeFiles: string[]) {
  return {
    workingDirectory: wd,
    composeFiles,
    colorFile: 'docker-compose.{color}.yml',
    projectName: '',
    colors: ['blue', 'green'] as [string, string],
    ports: [8000, 8001] as [number, number],
  };
}

describe('a container that no longer exists', () => {
  // `docker inspect a b` with b gone prints a and exits 1 ("Error: No such container: b"): the others are read, and
  // the undo's "stop the new color" finds nothing to stop.
  it('the new color removed during the drain: rolled back to the old color, exit 1, not ROLLBACK INCOMPLETE', async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    onDrain(clock, host, () => {
      const green = host.containers.get('app-green');
      // `docker rm -f`, or a restart policy of "no" with --rm: the container is gone, not just stopped.
      if (green) host.containers.remove(green);
    });
    const result = await run();
    expect(host.servedColor('proxy')).toBe('blue');
    expect(result.error).not.toMatch(/ROLLBACK INCOMPLETE/);
    // Told by the check of the new color's own containers, before any check through a proxy.
    expect(result.error).toMatch(/^green lost container [0-9a-f]{12} during the drain: it was removed/);
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
  });

  it('a container of the new color removed during the health check fails it at once, naming it', async () => {
    const { host, run } = await setup({ live: 'blue' });
    let probes = 0;
    const get = host.get.bind(host);
    host.get = async (url: string) => {
      const green = host.containers.get('app-green');
      // The first probe finds the app still starting; before the next one, its container is gone.
      if (url.includes(':8001') && ++probes === 1 && green) {
        host.containers.remove(green);
        return { status: 503, body: 'starting', headers: {} };
      }
      return get(url);
    };
    const result = await run();
    expect(result.error).toMatch(/green did not become healthy .*last: container [0-9a-f]{12} was removed/s);
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.phases.find((p) => p.name === 'health')?.ms).toBeLessThan(5_000);
  });
});

describe("the compose project's directory is the first compose file's", () => {
  // Compose (v1 and v2) takes the directory of the first -f file as the project directory (unless
  // --project-directory is given) and names the project after it: with the shared files in a subdirectory, the
  // default container name of a shared-service proxy comes from that subdirectory.
  it.each([
    ['v1', 'deploy_proxy_1', COMPOSE_V1],
    ['v2', 'deploy-proxy-1', COMPOSE_V2],
  ] as [string, string, ComposeCli][])('compose %s names the proxy %s', async (_, name, cli) => {
    const wd = '/srv/shop';
    const files = new FakeFiles({
      [`${wd}/deploy/docker-compose.yml`]: 'services:\n  proxy:\n    image: nginx\n',
      [`${wd}/docker-compose.blue.yml`]: 'services:\n  app-blue: {}\n',
      [`${wd}/docker-compose.green.yml`]: 'services:\n  app-green: {}\n',
    });
    const host = new FakeHost(files, {}, { workingDir: wd });
    host.composeV2 = true;
    const config = driverConfig(wd, ['deploy/docker-compose.yml']);
    const driver = new ComposeDriver(host, cli, config, files);
    await driver.startShared('blue', ['proxy']);
    expect(host.containers.get('proxy')?.name).toBe(name);
    expect((await driver.sharedServices()).find((s) => s.name === 'proxy')?.containerNames).toContain(name);
  });
});

describe('compose v1 keeps a leading - or _ of the directory name', () => {
  // docker-compose 1.x: re.sub(r'[^-_a-z0-9]', '', name.lower()), no trimming (v2 trims them).
  it('a shared proxy in /srv/_shop is _shop_proxy_1 with docker-compose', async () => {
    const wd = '/srv/_shop';
    const files = new FakeFiles({
      [`${wd}/docker-compose.yml`]: 'services:\n  proxy:\n    image: nginx\n',
      [`${wd}/docker-compose.blue.yml`]: 'services:\n  app-blue: {}\n',
      [`${wd}/docker-compose.green.yml`]: 'services:\n  app-green: {}\n',
    });
    const host = new FakeHost(files, {}, { workingDir: wd });
    const config = driverConfig(wd, ['docker-compose.yml']);
    const driver = new ComposeDriver(host, COMPOSE_V1, config, files);
    await driver.startShared('blue', ['proxy']);
    expect(host.containers.get('proxy')?.name).toBe('_shop_proxy_1');
    expect((await driver.sharedServices()).find((s) => s.name === 'proxy')?.containerNames).toContain('_shop_proxy_1');
  });
});

describe('a color file whose services: is a list', () => {
  // Compose refuses it ("services must be a mapping"); taken for a map, its indexes would be service names ("0").
  it('is refused before anything changes, as not a compose file with a services: map', async () => {
    const files = new FakeFiles({
      '/srv/shop/docker-compose.blue.yml': 'services:\n  - app-blue\n',
      '/srv/shop/docker-compose.green.yml': 'services:\n  app-green: {}\n',
    });
    const driver = new ComposeDriver(new FakeHost(files, {}), COMPOSE_V2, driverConfig('/srv/shop', []), files);
    const error = await driver.colorServices('blue').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]?.message).toMatch(/not a compose file with a services: map/);
  });
});
