// Failures on a real engine: each one is rolled back and traffic stays on the old color (blue).
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction, runCli, type ActionRun } from './support/action.js';
import { docker, isRunning, workerPids } from './support/docker.js';
import { createStack, runningColors, servedColor, serviceContainerId, type Stack } from './support/stack.js';

/** Short, so that the scenarios that wait for the deadline stay fast. */
const HEALTH_TIMEOUT_S = 5;

/** Ids of every container of the compose project, running or not. */
async function projectContainers(stack: Stack): Promise<string[]> {
  const r = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${stack.name}`]);
  return r.stdout.split(/\s+/).filter(Boolean).sort();
}

/** Time of one phase from the summary table, e.g. `| health | 0.4 s | **failed** |`. */
function phaseSeconds(summary: string, phase: string): number | undefined {
  const m = new RegExp(`^\\| ${phase} \\| ([\\d.]+) s \\| (ok|\\*\\*failed\\*\\*) \\|$`, 'm').exec(summary);
  return m ? Number(m[1]) : undefined;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

async function deployBlue(stack: Stack, inputs: Record<string, string>): Promise<void> {
  const run = await runAction(inputs, { cwd: stack.dir });
  expect(run.exitCode, run.stdout).toBe(0);
  expect(run.outputs).toMatchObject({ status: 'deployed', color: 'blue' });
  expect(await servedColor(stack.proxyUrl)).toBe('blue');
}

/**
 * What every rolled-back failure leaves: exit code 1, the outputs, blue served and running, green's container
 * kept but stopped, the reason in the summary and the log, and green's log tail where green ran.
 */
async function expectRolledBack(
  stack: Stack,
  run: ActionRun,
  expected: { reason: RegExp; logLine: RegExp; greenService?: string },
): Promise<void> {
  expect(run.exitCode, run.stdout).toBe(1);
  expect(run.outputs).toMatchObject({
    status: 'rolled-back',
    'rolled-back': 'true',
    color: 'blue',
    port: String(stack.ports.blue),
    'previous-color': 'blue',
  });
  expect(await servedColor(stack.proxyUrl)).toBe('blue');
  expect(await runningColors(stack)).toEqual(['blue']);
  expect(await isRunning(await serviceContainerId(stack, 'app-blue'))).toBe(true);
  const green = await serviceContainerId(stack, expected.greenService ?? 'app-green');
  expect(green, 'green was stopped, not removed').not.toBe('');
  expect(await isRunning(green)).toBe(false);

  expect(run.summary).toMatch(/Blue-green: deploy of green failed and was rolled back/);
  expect(run.summary).toMatch(/### What went wrong/);
  expect(run.summary).toMatch(expected.reason);
  expect(run.summary).toMatch(/Rolled back: traffic is on blue as before, green was stopped/);
  expect(run.stdout).toMatch(expected.reason);
  expect(run.stdout).toMatch(/status=rolled-back color=blue .* rolled-back=true .* exit=1/);
  // The log tail of the new color: in the summary inside <details>, and in the log.
  const details = /<details><summary>Last log lines of green<\/summary>([\s\S]*?)<\/details>/.exec(run.summary);
  expect(details, run.summary).not.toBeNull();
  expect(details?.[1]).toMatch(expected.logLine);
  expect(run.stdout).toMatch(/Last 50 log lines of green:/);
  expect(run.stdout).toMatch(expected.logLine);
}

describe('failures of the new color, rolled back on a real engine', () => {
  let stack: Stack;
  let inputs: Record<string, string>;
  let include: string;

  beforeAll(async () => {
    stack = await createStack();
    inputs = { ...stack.inputs, 'health-timeout': String(HEALTH_TIMEOUT_S) };
    await deployBlue(stack, inputs);
    include = await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8');
    expect(include).toMatch(/server app-blue:8000;/);
  });
  afterAll(async () => stack?.cleanup());

  it('green never becomes healthy (HTTP 500): rolled back after the health timeout', async () => {
    await stack.setAppEnv('green', { HEALTH_STATUS: '500' });
    const started = Date.now();
    const run = await runAction(inputs, { cwd: stack.dir });
    console.log(`unhealthy green: rolled back in ${seconds(started)}`);
    await expectRolledBack(stack, run, {
      reason: new RegExp(
        `green did not become healthy within ${HEALTH_TIMEOUT_S} s at http://127\\.0\\.0\\.1:${stack.ports.green}/health \\(\\d+ probes; last: HTTP 500`,
      ),
      logLine: /listening color=green/,
    });
    expect(phaseSeconds(run.summary, 'health')).toBeGreaterThanOrEqual(HEALTH_TIMEOUT_S - 1);
    expect(run.summary).not.toMatch(/^\| switch \|/m);
    expect(await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8')).toBe(include);
  });

  it('green crashes at start: fails fast, well under the health timeout', async () => {
    await stack.setAppEnv('green', { CRASH_AT_START: '1' });
    const timeout = 60;
    const started = Date.now();
    const run = await runAction({ ...inputs, 'health-timeout': String(timeout) }, { cwd: stack.dir });
    const elapsed = (Date.now() - started) / 1000;
    console.log(
      `crashing green: rolled back in ${elapsed.toFixed(1)} s (health phase ${phaseSeconds(run.summary, 'health')} s)`,
    );
    await expectRolledBack(stack, run, {
      reason: /green did not become healthy within 60 s .*last: container \S+ is exited \(exit code 1\)/,
      logLine: /crashing at start as requested \(CRASH_AT_START=1\) color=green/,
    });
    expect(phaseSeconds(run.summary, 'health')).toBeLessThan(5);
    expect(elapsed).toBeLessThan(timeout / 2);
    expect(await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8')).toBe(include);
  });

  it('the proxy answers 502 for green after the switch: its check through the proxy undoes the switch', async () => {
    // Green listens on 9000 and publishes it, so the health check passes; the include points at app-green:8000.
    // No verify-url: the action finds the proxy's published port itself.
    await stack.setAppEnv('green', { PORT: '9000', APP_PORT: '9000' });
    const before = await workerPids(stack.proxyContainer);
    const started = Date.now();
    const run = await runAction(inputs, { cwd: stack.dir });
    console.log(`verify failure: rolled back in ${seconds(started)}`);
    await expectRolledBack(stack, run, {
      reason: new RegExp(
        `${stack.proxyContainer} did not answer as expected from green at ${stack.proxyUrl}/health within \\d+ s: HTTP 502`,
      ),
      logLine: /listening color=green port=9000/,
    });
    expect(run.summary).toMatch(/^\| health \| [\d.]+ s \| ok \|$/m);
    expect(run.summary).toMatch(/^\| switch \| [\d.]+ s \| ok \|$/m);
    expect(run.summary).toMatch(/^\| verify \| [\d.]+ s \| \*\*failed\*\* \|$/m);
    expect(run.stdout).toMatch(/Proxies restored to blue and reloaded\./);
    expect(await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8')).toBe(include);
    // Reloaded twice (onto green, back to blue): the workers are new ones, and they serve blue.
    const after = await workerPids(stack.proxyContainer);
    expect(after.length).toBeGreaterThan(0);
    expect(after.some((pid) => before.includes(pid))).toBe(false);
    for (let i = 0; i < 5; i++) expect(await servedColor(stack.proxyUrl)).toBe('blue');
  });

  it('invalid input (the same port twice): exit code 2, the input named, nothing changed', async () => {
    await stack.setAppEnv('green', {});
    const containers = await projectContainers(stack);
    const pids = await workerPids(stack.proxyContainer);
    const run = await runAction({ ...inputs, ports: `${stack.ports.blue},${stack.ports.blue}` }, { cwd: stack.dir });
    expect(run.exitCode, run.stdout).toBe(2);
    expect(run.outputs).toMatchObject({ status: 'failed', 'rolled-back': 'false', color: '' });
    const message = `ports = "${stack.ports.blue},${stack.ports.blue}" (from input ports): the two colors need different ports`;
    expect(run.stdout).toContain(message);
    expect(run.stdout).toMatch(/::error::Invalid configuration; nothing was changed/);
    expect(run.summary).toContain(message);
    expect(run.summary).toMatch(/status \| `failed` \(exit code 2\)/);
    expect(await projectContainers(stack)).toEqual(containers);
    expect(await workerPids(stack.proxyContainer)).toEqual(pids);
    expect(await runningColors(stack)).toEqual(['blue']);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
    expect(await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8')).toBe(include);
  });

  it('through the CLI: an unhealthy green exits 1 with status rolled-back in --json', async () => {
    await stack.setAppEnv('green', { HEALTH_STATUS: '500' });
    const args = ['deploy', '--json', ...Object.entries(inputs).flatMap(([k, v]) => [`--${k}`, v])];
    const started = Date.now();
    const run = await runCli(args, { cwd: stack.dir });
    console.log(`CLI unhealthy green: rolled back in ${seconds(started)}`);
    expect(run.exitCode, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({
      status: 'rolled-back',
      exitCode: 1,
      rolledBack: true,
      color: 'blue',
      previousColor: 'blue',
      targetColor: 'green',
    });
    expect(result.error).toMatch(/green did not become healthy within 5 s .*HTTP 500/);
    expect(result.logTail).toMatch(/listening color=green/);
    expect(run.stderr).toMatch(/Last 50 log lines of green:/);
    expect(run.stderr).toMatch(/Result: deploy of green failed and was rolled back/);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
    expect(await runningColors(stack)).toEqual(['blue']);
  });
});

describe('nginx -t rejects the new include: nothing is reloaded', () => {
  let stack: Stack;
  let inputs: Record<string, string>;

  beforeAll(async () => {
    // The include names app-green, but green's service is app-green-v2: that host does not resolve.
    stack = await createStack({ greenService: 'app-green-v2' });
    inputs = { ...stack.inputs, 'health-timeout': String(HEALTH_TIMEOUT_S) };
    await deployBlue(stack, inputs);
  });
  afterAll(async () => stack?.cleanup());

  it('host not found in upstream: the include is restored to blue and the proxy never reloaded', async () => {
    const includeFile = path.join(stack.dir, 'nginx/service-url.inc');
    const include = await fs.readFile(includeFile, 'utf8');
    expect(include).toMatch(/server app-blue:8000;/);
    const proxyId = await serviceContainerId(stack, 'proxy');
    const pids = await workerPids(stack.proxyContainer);
    expect(pids.length).toBeGreaterThan(0);
    const started = Date.now();
    const run = await runAction(inputs, { cwd: stack.dir });
    console.log(`nginx -t failure: rolled back in ${seconds(started)}`);
    await expectRolledBack(stack, run, {
      reason: new RegExp(`nginx -t in ${stack.proxyContainer} rejected the new include`),
      logLine: /listening color=green/,
      greenService: 'app-green-v2',
    });
    expect(run.summary).toMatch(/host not found in upstream "app-green:8000"/);
    expect(run.stdout).toMatch(/host not found in upstream "app-green:8000"/);
    expect(run.summary).toMatch(/^\| switch \| [\d.]+ s \| \*\*failed\*\* \|$/m);
    expect(await fs.readFile(includeFile, 'utf8')).toBe(include);
    // Same container, same workers: no reload ever ran with the bad include.
    expect(await serviceContainerId(stack, 'proxy')).toBe(proxyId);
    expect(await workerPids(stack.proxyContainer)).toEqual(pids);
    const logs = await docker(['logs', stack.proxyContainer]);
    expect(logs.stdout + logs.stderr).not.toMatch(/host not found/);
    // And the configuration on disk loads again, as it must at the proxy's next start.
    expect((await docker(['exec', stack.proxyContainer, 'nginx', '-t'], { reject: false })).exitCode).toBe(0);
  });
});
