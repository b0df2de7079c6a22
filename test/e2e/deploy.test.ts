// The basic swaps on a real engine, driving the bundled action as the runner does and the CLI as Jenkins does.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction, runCli } from './support/action.js';
import { COMPOSE } from './support/compose.js';
import { get } from './support/http.js';
import { createStack, runningColors, servedColor, serviceContainerId, type Stack } from './support/stack.js';

describe('deploys on a real engine (action bundle and CLI)', () => {
  let stack: Stack;
  let sharedIds: { proxy: string; db: string };

  beforeAll(async () => {
    stack = await createStack();
  });
  afterAll(async () => stack?.cleanup());

  it('first deploy on an empty host: starts the shared services and deploys blue', async () => {
    // The include holds a placeholder so the proxy can start; the action starts proxy and db itself.
    const run = await runAction(stack.inputs, { cwd: stack.dir });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({
      status: 'deployed',
      color: 'blue',
      port: String(stack.ports.blue),
      'previous-color': '',
      'rolled-back': 'false',
    });
    expect(Number(run.outputs.duration)).toBeGreaterThan(0);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
    expect(await runningColors(stack)).toEqual(['blue']);
    expect(run.summary).toMatch(/Blue-green: deployed blue/);
    expect(run.stdout).toMatch(/::group::up/);
    // The Compose of this run (E2E_COMPOSE), as the tool logs it: the run provably used that version.
    expect(run.stdout).toContain(`Using compose: ${COMPOSE.command} (compose-command: ${COMPOSE.command})`);
    sharedIds = { proxy: await serviceContainerId(stack, 'proxy'), db: await serviceContainerId(stack, 'db') };
    expect(sharedIds.proxy).not.toBe('');
    expect(sharedIds.db).not.toBe('');
  });

  it('blue to green, with the shared compose file changed: proxy and db are not recreated', async () => {
    const shared = path.join(stack.dir, 'docker-compose.yml');
    const text = await fs.readFile(shared, 'utf8');
    await fs.writeFile(
      shared,
      text.replace('environment: { COLOR: db }', 'environment: { COLOR: db, CHANGED: "yes" }'),
    );
    await stack.setAppEnv('green', { APP_VERSION: '2' });
    const run = await runAction(stack.inputs, { cwd: stack.dir });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({
      status: 'deployed',
      color: 'green',
      port: String(stack.ports.green),
      'previous-color': 'blue',
      'previous-port': String(stack.ports.blue),
    });
    const answer = await get(`${stack.proxyUrl}/`);
    expect(answer.color).toBe('green');
    expect(JSON.parse(answer.body).version).toBe('2');
    expect(await runningColors(stack)).toEqual(['green']);
    expect(await serviceContainerId(stack, 'proxy')).toBe(sharedIds.proxy);
    expect(await serviceContainerId(stack, 'db')).toBe(sharedIds.db);
    // cleanup: stop keeps blue's container for an instant rollback.
    expect(await serviceContainerId(stack, 'app-blue')).not.toBe('');
  });

  it('green to blue through the CLI, with --json on stdout and the log on stderr', async () => {
    const args = ['deploy', '--json', ...Object.entries(stack.inputs).flatMap(([k, v]) => [`--${k}`, v])];
    const run = await runCli(args, { cwd: stack.dir });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ status: 'deployed', color: 'blue', previousColor: 'green', exitCode: 0 });
    expect(run.stderr).toMatch(/== health ==/);
    expect(run.stdout + run.stderr).not.toMatch(/::(set-output|group|endgroup|error)/);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
    expect(await runningColors(stack)).toEqual(['blue']);
  });

  it('status reports the live color and what the proxy points at, and changes nothing', async () => {
    const run = await runAction({ ...stack.inputs, command: 'status' }, { cwd: stack.dir });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({ status: 'unchanged', color: 'blue', port: String(stack.ports.blue) });
    expect(run.stdout).toMatch(/service-url\.inc \(mounted in .*-proxy\) points at blue/);
    expect(await runningColors(stack)).toEqual(['blue']);
  });

  it('rollback after a good deploy (cleanup: stop): traffic is back on the previous color within seconds', async () => {
    const started = Date.now();
    const run = await runAction({ ...stack.inputs, command: 'rollback' }, { cwd: stack.dir });
    const seconds = (Date.now() - started) / 1000;
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({
      status: 'rolled-back',
      color: 'green',
      'previous-color': 'blue',
      'rolled-back': 'true',
    });
    expect(await servedColor(stack.proxyUrl)).toBe('green');
    expect(await runningColors(stack)).toEqual(['green']);
    console.log(`rollback took ${seconds.toFixed(1)} s (its drain, at most 1 s, included)`);
    expect(seconds).toBeLessThan(15);
  });

  it('dry-run prints the plan and changes nothing', async () => {
    const run = await runAction({ ...stack.inputs, 'dry-run': 'true' }, { cwd: stack.dir });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({ status: 'planned', color: 'green' });
    expect(run.stdout).toMatch(/up -d --no-deps --build app-blue/);
    expect(await servedColor(stack.proxyUrl)).toBe('green');
    expect(await runningColors(stack)).toEqual(['green']);
  });
});
