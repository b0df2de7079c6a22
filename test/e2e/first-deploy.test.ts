// First deploys of the seed's layout exactly as a repository commits it: nginx/service-url.inc already names blue's
// container (which does not exist yet), the color files join a network that only the shared file defines, and
// nothing was started by hand, or the proxy was started by hand and crash-loops. The action must bring everything up
// in the order that works: shared services (the network), blue, health, the includes, then the proxies.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './support/action.js';
import { compose, docker, waitFor } from './support/docker.js';
import { get } from './support/http.js';
import {
  containerState,
  createCommittedSeedStack,
  expectServes,
  seedProxyOnlyInputs,
  type SeedStack,
} from './support/scenarios.js';
import { serviceContainerId } from './support/stack.js';

/** Index of the first stdout line matching re, to check the order of the steps. */
function lineIndex(stdout: string, re: RegExp): number {
  const i = stdout.split('\n').findIndex((l) => re.test(l));
  expect(i, `no line matching ${re} in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  return i;
}

function expectFirstDeployOfBlue(stack: SeedStack, run: Awaited<ReturnType<typeof runAction>>): void {
  expect(run.exitCode, run.stdout).toBe(0);
  expect(run.outputs).toMatchObject({
    status: 'deployed',
    color: 'blue',
    port: String(stack.ports.blue),
    'previous-color': '',
    'previous-port': '',
    'rolled-back': 'false',
  });
  // The committed include names blue, which does not run: not live, so a first deploy.
  expect(run.stdout).toMatch(/An include points at blue, which is not running: blue is not live\./);
  expect(run.stdout).toMatch(/No live color: this is a first deploy\./);
}

describe('first deploy of the committed seed layout, nothing started', () => {
  let stack: SeedStack;

  beforeAll(async () => {
    stack = await createCommittedSeedStack();
  });
  afterAll(async () => stack?.cleanup());

  it('the proxy not started: db (and its network) first, blue, the include, then the proxy; it serves blue', async () => {
    expect(await containerState(stack.proxyContainer)).toBeUndefined();
    expect((await docker(['network', 'inspect', `${stack.name}-net`], { reject: false })).exitCode).not.toBe(0);
    const started = Date.now();
    const run = await runAction(seedProxyOnlyInputs(stack), { cwd: stack.dir });
    console.log(`first deploy, proxy not started: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expectFirstDeployOfBlue(stack, run);

    // The order: the shared non-proxy services (creating the network the color files join), blue, health, the
    // include, and only then the proxy, whose include names a container that exists by then.
    const shared = lineIndex(run.stdout, /^Starting shared services that are not running: ts-postgres$/);
    const up = lineIndex(run.stdout, /^::group::up$/);
    const health = lineIndex(run.stdout, /^::group::health$/);
    const written = lineIndex(run.stdout, /service-url\.inc \(mounted in .*-proxy\) → blue$/);
    const proxy = lineIndex(
      run.stdout,
      new RegExp(
        `^Starting the proxy ${stack.proxyContainer} \\(shared service ts-proxy\\) now that its include names blue\\.$`,
      ),
    );
    // v1: "Creating <name>-dev-blue ...", v2: "Container <name>-dev-blue  Creating".
    const blue = lineIndex(
      run.stdout,
      new RegExp(`Creating ${stack.name}-dev-blue|${stack.name}-dev-blue\\s+Creating`),
    );
    expect(up).toBeLessThan(shared);
    expect(shared).toBeLessThan(blue);
    expect(blue).toBeLessThan(health);
    expect(health).toBeLessThan(written);
    expect(written).toBeLessThan(proxy);

    // Verified through the proxy's published port, the color told by the X-Bluegreen-Upstream header.
    expect(run.summary).toMatch(
      new RegExp(
        `\\| ${stack.proxyContainer} \\| .* \\| blue \\| HTTP 200 from blue \\(X-Bluegreen-Upstream [\\d.]+:\\d+\\) \\|`,
      ),
    );
    await expectServes(stack.proxyUrl, 'blue');
    expect((await containerState(stack.proxyContainer))?.running).toBe(true);
    expect((await containerState(`${stack.name}-db`))?.running).toBe(true);
    expect((await docker(['network', 'inspect', `${stack.name}-net`])).exitCode).toBe(0);
    expect(await containerState(`${stack.name}-dev-green`)).toBeUndefined();
    const include = await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8');
    expect(include).toBe(
      `# bluegreen-action: color=blue port=${stack.ports.blue}\nupstream app {\n    server ${stack.name}-dev-blue:${stack.ports.blue};\n}\n`,
    );
  });
});

describe('first deploy of the committed seed layout, the proxy crash-looping', () => {
  let stack: SeedStack;
  let proxyId: string;
  let dbId: string;

  beforeAll(async () => {
    stack = await createCommittedSeedStack({ proxyRestart: 'unless-stopped' });
    // By hand, as a user would: the shared file up. Nginx cannot resolve <name>-dev-blue, exits, and is restarted.
    await compose(stack.dir, ['up', '-d'], { projectName: stack.name, files: ['docker-compose.yml'] });
    await waitFor(
      async () => {
        const state = await containerState(stack.proxyContainer);
        const logs = await docker(['logs', stack.proxyContainer]);
        return (state?.restarts ?? 0) >= 1 && /host not found in upstream/.test(logs.stdout + logs.stderr);
      },
      30_000,
      { description: 'the proxy crash-looping' },
    );
    // The seed's second proxy, its own project: `set $service_url` and a resolver, so it runs.
    await compose(path.join(stack.dir, 'edge'), ['up', '-d'], {
      projectName: `${stack.name}-edge`,
      files: ['compose.yaml'],
    });
    await waitFor(async () => (await get(`${stack.edgeUrl}/`).catch(() => ({ status: 0 }))).status >= 500, 30_000, {
      description: 'the edge proxy answering (502 on its placeholder)',
    });
    proxyId = (await containerState(stack.proxyContainer))?.id ?? '';
    dbId = await serviceContainerId(stack, 'ts-postgres');
    expect(proxyId).not.toBe('');
    expect(dbId).not.toBe('');
  });
  afterAll(async () => stack?.cleanup());

  it('both proxies targeted: the crash-looping one is restarted once its include names blue; both serve blue', async () => {
    const before = await containerState(stack.proxyContainer);
    console.log(
      `the proxy before the deploy: running=${before?.running} restarting=${before?.restarting} restarts=${before?.restarts}`,
    );
    const started = Date.now();
    const run = await runAction({ ...stack.inputs, 'color-header': 'X-Color' }, { cwd: stack.dir });
    console.log(`first deploy, proxy crash-looping: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expectFirstDeployOfBlue(stack, run);
    expect(run.stdout).toContain(
      `Restarting the proxy ${stack.proxyContainer}, which could not run before its include named blue.`,
    );
    expect(run.stdout).not.toMatch(/Starting shared services/);

    const proxy = await containerState(stack.proxyContainer);
    expect(proxy).toMatchObject({ id: proxyId, running: true, restarting: false });
    expect(await serviceContainerId(stack, 'ts-postgres')).toBe(dbId);
    for (const container of [stack.proxyContainer, stack.edgeContainer]) {
      expect(run.summary).toMatch(new RegExp(`\\| ${container} \\| .* \\| HTTP 200 from blue \\(X-Color\\) \\|`));
    }
    await expectServes(stack.proxyUrl, 'blue');
    await expectServes(stack.edgeUrl, 'blue');
    // Still up a moment later: it is not between two crashes.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await containerState(stack.proxyContainer)).toMatchObject({ id: proxyId, running: true, restarting: false });
    await expectServes(stack.proxyUrl, 'blue', 1);
  });
});
