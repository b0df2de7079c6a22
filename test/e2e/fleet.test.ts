// Several hosts, one release, on real engines: engine a over its unix socket and engine b over ssh://, each in a
// network namespace of its own with its own proxy (scripts/fleet.sh). The tests run in order on one project: each
// starts from where the one before left both hosts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../src/engine/result.js';
import { runCli } from './support/action.js';
import { createFleetStack, onEngine, startFleet, type FleetEngine, type FleetStack } from './support/fleet.js';
import { parseResult } from './support/result.js';
import { startCli } from './support/scenarios.js';

let fleet: Awaited<ReturnType<typeof startFleet>>;
let engines: FleetEngine[];
let stack: FleetStack;

beforeAll(async () => {
  fleet = await startFleet();
  const a = fleet.engines.find((e) => e.name === 'a');
  const b = fleet.engines.find((e) => e.name === 'b-ssh');
  if (!a || !b)
    throw new Error(`scripts/fleet.sh env lists ${fleet.engines.map((e) => e.name).join(', ')}: no a or b-ssh`);
  engines = [a, b];
  stack = await createFleetStack(engines);
  // As users do once per host before the first deploy: the shared services run, the proxy on its placeholder.
  for (const e of engines) await onEngine(e).compose(stack.dir, stack.name, ['up', '-d', '--build', 'proxy', 'db']);
});

afterAll(async () => {
  await stack?.cleanup();
  await fleet?.stop();
});

async function deploy(
  extra: string[] = [],
  command = 'deploy',
): Promise<{ exitCode: number; result: Result; log: string }> {
  const run = await runCli([command, '--json', ...stack.flags, ...extra], { cwd: stack.dir });
  return { exitCode: run.exitCode, result: parseResult(run), log: run.stderr };
}

/** The color's app containers on an engine that run. */
async function running(engine: FleetEngine, color: string): Promise<boolean> {
  const r = await onEngine(engine).docker([
    'ps',
    '-q',
    '--filter',
    `label=com.docker.compose.project=${stack.name}`,
    '--filter',
    `label=com.docker.compose.service=app-${color}`,
  ]);
  return r.stdout.trim() !== '';
}

const served = () => Promise.all(engines.map((e) => stack.served(e)));

describe('several hosts: one release on two real engines (one over ssh://)', () => {
  it('a first deploy, then a deploy, switch both hosts', async () => {
    const first = await deploy();
    expect(first.exitCode, first.log).toBe(0);
    expect(first.result).toMatchObject({ status: 'deployed', color: 'blue', port: stack.ports.blue });
    expect(await served()).toEqual(['blue', 'blue']);

    const second = await deploy();
    expect(second.exitCode, second.log).toBe(0);
    expect(second.result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    expect(second.result.hosts?.map((h) => [h.host, h.docker, h.status, h.color])).toEqual([
      ['a', `DOCKER_HOST=${engines[0]?.dockerHost}`, 'deployed', 'green'],
      ['b-ssh', `DOCKER_HOST=${engines[1]?.dockerHost}`, 'deployed', 'green'],
    ]);
    for (const h of second.result.hosts ?? []) {
      expect(h.proxies[0]?.verified, h.host).toMatch(/from green/);
      expect(h.phases.map((p) => p.name)).toContain('cleanup');
    }
    expect(await served()).toEqual(['green', 'green']);
    for (const e of engines) expect(await running(e, 'blue'), e.name).toBe(false);
    // Every proxy of every host tested before any reloads: in the log, each host's last test comes before the first reload.
    const lines = second.log.split('\n');
    const switching = lines.flatMap((l, i) => (/^\[(a|b-ssh)\] .* → green$/.test(l) ? [i] : []));
    expect(switching).toHaveLength(2);
    const lastTest = Math.max(...switching);
    const firstReload = lines.findIndex((l) => /Reloaded .*-proxy/.test(l));
    expect(firstReload).toBeGreaterThan(lastTest);
  });

  it('a release that fails health on the second host leaves both hosts on the old color', async () => {
    const b = engines[1];
    if (!b) throw new Error('no second engine');
    await stack.setBase(b, { HEALTH_STATUS: '503' });
    const { exitCode, result, log } = await deploy(['--health-timeout', '4']);
    expect(exitCode, log).toBe(1);
    expect(result).toMatchObject({ status: 'rolled-back', color: 'green', rolledBack: true });
    expect(result.error).toMatch(/^b-ssh failed: blue did not become healthy within 4 s/);
    expect(result.error).toMatch(/Every host serves green\./);
    expect(log).not.toMatch(/Reloaded /);
    expect(await served()).toEqual(['green', 'green']);
    for (const e of engines) expect(await running(e, 'blue'), e.name).toBe(false);
    await stack.setBase(b, {});
  });

  it('a cancel mid-deploy restores both hosts', async () => {
    await stack.setColorEnv('blue', { STARTUP_DELAY_MS: '4000' });
    const live = startCli(['deploy', '--json', ...stack.flags], stack.dir);
    // Both hosts are bringing up blue (slow to start) when the job is cancelled.
    await live.seen(/\[a\] .*── health/);
    await live.seen(/\[b-ssh\] .*── health/);
    live.kill('SIGTERM');
    const done = await live.done;
    expect(done.exitCode, done.stderr).toBe(1);
    const result = JSON.parse(done.stdout) as Result;
    expect(result).toMatchObject({ status: 'rolled-back', color: 'green' });
    expect(result.error).toMatch(/cancelled \(SIGTERM\)/);
    expect(await served()).toEqual(['green', 'green']);
    for (const e of engines) expect(await running(e, 'blue'), e.name).toBe(false);
    await stack.setColorEnv('blue', {});
  });

  it('a migration runs once, on the first host, before either host starts its new color', async () => {
    const { exitCode, result, log } = await deploy([
      '--pre-deploy-command',
      `node -e 'console.log("migrated-"+process.env.COLOR)'`,
    ]);
    expect(exitCode, log).toBe(0);
    expect(result).toMatchObject({ status: 'deployed', color: 'blue' });
    expect(log.match(/^\[a\] migrated-blue$/gm)).toHaveLength(1);
    expect(log).not.toMatch(/^\[b-ssh\] migrated/m);
    expect(log).toMatch(/^\[b-ssh\] Waiting for pre-deploy-command on the first host before blue starts here\.$/m);
    expect(result.hooks).toMatchObject([{ name: 'pre-deploy', ok: true }]);
    expect(await served()).toEqual(['blue', 'blue']);
  });

  it('hosts that disagree on the live color are refused with what each serves, and nothing changes', async () => {
    const [a] = engines;
    if (!a) throw new Error('no engine');
    // Host a alone goes to green: the hosts now serve different colors.
    const alone = await deploy(['--hosts', `- { docker: "${a.dockerHost}", name: a, health-host: ${a.address} }`]);
    expect(alone.exitCode, alone.log).toBe(0);
    expect(await served()).toEqual(['green', 'blue']);
    const { exitCode, result, log } = await deploy();
    expect(exitCode, log).toBe(1);
    expect(result.error).toMatch(/^the hosts do not agree on the live color, so nothing was changed:/);
    expect(result.error).toMatch(/ a \(DOCKER_HOST=unix:[^)]*\): serves green; .*-proxy → green/);
    expect(result.error).toMatch(/ b-ssh \(DOCKER_HOST=ssh:[^)]*\): serves blue; .*-proxy → blue/);
    expect(log).not.toMatch(/── up/);
    expect(await served()).toEqual(['green', 'blue']);
    expect(await running(a, 'blue')).toBe(false);
  });

  it('one engine named twice (over its socket and over ssh://) fails at its lock, at once, before anything changes', async () => {
    const b = fleet.engines.find((e) => e.name === 'b');
    const ssh = engines[1];
    if (!b || !ssh) throw new Error('no engine b');
    const hosts = [b, ssh].map((e) => `- { docker: "${e.dockerHost}", name: ${e.name}, health-host: ${e.address} }`);
    const { exitCode, result, log } = await deploy(['--hosts', hosts.join('\n')]);
    expect(exitCode, log).toBe(1);
    expect(result.error).toMatch(
      /^b(-ssh)? failed: this run already holds the deploy lock proxy:\S+ on this Docker engine/,
    );
    expect(result.error).toMatch(/Every host serves what it served before the run\./);
    expect(log).not.toMatch(/── up/);
  });

  it('status reports each host', async () => {
    const { exitCode, result } = await deploy([], 'status');
    expect(exitCode).toBe(0);
    expect(result.hosts?.map((h) => [h.host, h.color])).toEqual([
      ['a', 'green'],
      ['b-ssh', 'blue'],
    ]);
    expect(result.color).toBeUndefined();
  });
});
