// A deploy, a status and a rollback driven only by bluegreen.yml (no flags, no inputs but the command and the
// environment), from the bundled CLI, the bundled action and the sources under @github/local-action; a file with a
// typo refused before any docker call; `bluegreen config` telling where each value came from.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INPUTS } from '../../src/inputs.js';
import { COMPOSE } from './support/compose.js';
import { bluegreen, configLine, runActionWith } from './support/config-file.js';
import { docker } from './support/docker.js';
import { get } from './support/http.js';
import { runLocalAction } from './support/local-action.js';
import { createStack, runningColors, servedColor, type Stack } from './support/stack.js';

/**
 * Every setting of the stack, in the shapes a user writes: lists, a block scalar, numbers. The top level holds
 * production's values; only the e2e environment's overlay makes the deploy pass here: production's health endpoint
 * answers 204 where the test app answers 200 (it answers 200 on any path, so a wrong health-path would not show),
 * and its drain takes 30 s.
 */
function configYaml(stack: Stack): string {
  return `# bluegreen.yml of the e2e stack
project-name: ${stack.name}
compose-command: ${COMPOSE.command}
compose-files: [docker-compose.yml]
color-file: 'docker-compose.{color}.yml'
colors: [blue, green]
ports: [${stack.ports.blue}, ${stack.ports.green}]
health-path: /health
health-status: 204
health-timeout: 20
health-interval: 0.2
nginx-container: ${stack.proxyContainer}
upstream-file: nginx/service-url.inc
upstream-template: |
  upstream app {
      server app-{color}:8000;
  }
color-header: X-Color
drain-seconds: 30

environments:
  e2e:
    health-status: 200-399
    drain-seconds: 1
  production:
    health-timeout: 120
`;
}

/** The inputs that the file may set: all but the command and the two that choose the file. */
const FILE_INPUTS = INPUTS.map((i) => i.name as string).filter(
  (n) => !['command', 'config', 'environment'].includes(n),
);

describe('bluegreen.yml alone drives the CLI and the action', () => {
  let stack: Stack;
  let file: string;
  /** A directory without any bluegreen.yml: the action runs there with the config input. */
  let elsewhere: string;

  async function projectContainers(): Promise<string[]> {
    const r = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${stack.name}`]);
    return r.stdout.split('\n').filter(Boolean);
  }

  async function expectServed(color: string, port: number): Promise<void> {
    expect(await servedColor(stack.proxyUrl)).toBe(color);
    expect(await runningColors(stack)).toEqual([color]);
    expect(port).toBe(stack.ports[color as 'blue' | 'green']);
  }

  beforeAll(async () => {
    stack = await createStack();
    file = path.join(stack.dir, 'bluegreen.yml');
    elsewhere = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-elsewhere-'));
  });
  afterAll(async () => {
    // The stack's cleanup passes every .yml of the directory to compose down: not this one.
    await fs.rm(file, { force: true }).catch(() => undefined);
    await fs.rm(elsewhere, { recursive: true, force: true }).catch(() => undefined);
    await stack?.cleanup();
  });

  it('refuses a file with a typo before any docker call, naming the key, the file and the right key', async () => {
    await fs.writeFile(file, configYaml(stack).replace('drain-seconds: 30', 'drain-second: 3'));
    const run = await bluegreen(['deploy', '--environment', 'e2e'], { cwd: stack.dir });
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/drain-second\b/);
    expect(run.stderr).toContain('bluegreen.yml');
    expect(run.stderr).toContain('drain-seconds');
    expect(await projectContainers()).toEqual([]);
  });

  it('`bluegreen config` shows every input, its value and its source; an env var beats the file', async () => {
    await fs.writeFile(file, configYaml(stack));

    const text = await bluegreen(['config', '--environment', 'e2e'], { cwd: stack.dir });
    expect(text.exitCode, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toContain('bluegreen.yml');
    for (const name of FILE_INPUTS) expect(configLine(text.stdout, name), `${name} in\n${text.stdout}`).toBeDefined();
    expect(configLine(text.stdout, 'ports')).toContain('bluegreen.yml');
    expect(configLine(text.stdout, 'ports')).not.toContain('environments');
    expect(configLine(text.stdout, 'drain-seconds')).toContain('environments.e2e');
    expect(configLine(text.stdout, 'build')).toContain('default');

    const json = await bluegreen(['config', '--environment', 'e2e', '--json'], { cwd: stack.dir });
    expect(json.exitCode, json.stdout + json.stderr).toBe(0);
    const config = JSON.parse(json.stdout);
    expect(config).toMatchObject({ schemaVersion: 1, environment: 'e2e', valid: true });
    expect(config.file).toContain('bluegreen.yml');
    expect(Object.keys(config.inputs)).toEqual(expect.arrayContaining(FILE_INPUTS));
    const { inputs } = config;
    expect(JSON.stringify(inputs.ports.value)).toMatch(new RegExp(`${stack.ports.blue}\\D+${stack.ports.green}`));
    expect(inputs.ports.source).toContain('bluegreen.yml');
    expect(inputs.ports.source).not.toContain('environments');
    expect(inputs['compose-command']).toMatchObject({ value: COMPOSE.command });
    expect(inputs['upstream-template']).toMatchObject({ value: 'upstream app {\n    server app-{color}:8000;\n}\n' });
    expect(String(inputs['drain-seconds'].value)).toBe('1');
    expect(inputs['drain-seconds'].source).toMatch(/bluegreen\.yml.*environments\.e2e/);
    expect(String(inputs['health-status'].value)).toBe('200-399');
    expect(inputs['health-status'].source).toMatch(/environments\.e2e/);
    expect(inputs.build.source).toBe('default');

    const env = { BLUEGREEN_DRAIN_SECONDS: '0' };
    const overridden = await bluegreen(['config', '--environment', 'e2e', '--json'], { cwd: stack.dir, env });
    expect(overridden.exitCode, overridden.stdout + overridden.stderr).toBe(0);
    const drain = JSON.parse(overridden.stdout).inputs['drain-seconds'];
    expect(String(drain.value)).toBe('0');
    expect(drain.source).toBe('env BLUEGREEN_DRAIN_SECONDS');
    const shown = await bluegreen(['config', '--environment', 'e2e'], { cwd: stack.dir, env });
    expect(configLine(shown.stdout, 'drain-seconds')).toContain('BLUEGREEN_DRAIN_SECONDS');
    expect(await projectContainers()).toEqual([]);
  });

  it('CLI in the project directory: deploy, status, deploy, rollback, with no flag but the environment', async () => {
    const first = await bluegreen(['deploy', '--environment', 'e2e', '--json'], { cwd: stack.dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const deployed = JSON.parse(first.stdout);
    expect(Object.keys(deployed)[0]).toBe('schemaVersion');
    expect(deployed).toMatchObject({ schemaVersion: 1, status: 'deployed', color: 'blue', exitCode: 0 });
    await expectServed('blue', deployed.port);
    // The log shows the configuration the run used.
    expect(configLine(first.stderr, 'drain-seconds')).toContain('environments.e2e');

    const status = await bluegreen(['status', '--json'], { cwd: stack.dir });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ schemaVersion: 1, status: 'unchanged', color: 'blue' });

    await stack.setAppEnv('green', { APP_VERSION: '2' });
    const second = await bluegreen(['deploy', '--environment', 'e2e', '--json'], { cwd: stack.dir });
    expect(second.exitCode, second.stderr).toBe(0);
    const redeployed = JSON.parse(second.stdout);
    expect(redeployed).toMatchObject({ schemaVersion: 1, status: 'deployed', color: 'green', previousColor: 'blue' });
    await expectServed('green', redeployed.port);
    expect(JSON.parse((await get(`${stack.proxyUrl}/`)).body).version).toBe('2');

    // The environment from BLUEGREEN_ENVIRONMENT this time.
    const back = await bluegreen(['rollback', '--json'], { cwd: stack.dir, env: { BLUEGREEN_ENVIRONMENT: 'e2e' } });
    expect(back.exitCode, back.stderr).toBe(0);
    const rolledBack = JSON.parse(back.stdout);
    expect(rolledBack).toMatchObject({
      schemaVersion: 1,
      status: 'rolled-back',
      color: 'blue',
      previousColor: 'green',
    });
    await expectServed('blue', rolledBack.port);
  });

  it('bundled action: deploy in the project directory, then status and rollback from elsewhere with the config input', async () => {
    const deploy = await runActionWith({ command: 'deploy', environment: 'e2e' }, { cwd: stack.dir });
    expect(deploy.exitCode, deploy.stdout).toBe(0);
    expect(deploy.outputs).toMatchObject({ status: 'deployed', color: 'green', 'previous-color': 'blue' });
    await expectServed('green', Number(deploy.outputs.port));
    expect(deploy.stdout).toContain('::group::Configuration');
    expect(configLine(deploy.stdout, 'drain-seconds')).toContain('environments.e2e');
    expect(deploy.stdout).toContain(`Using compose: ${COMPOSE.command} (compose-command: ${COMPOSE.command})`);

    // The working directory is the file's directory when nothing sets it.
    const status = await runActionWith({ command: 'status', config: file }, { cwd: elsewhere });
    expect(status.exitCode, status.stdout).toBe(0);
    expect(status.outputs).toMatchObject({ status: 'unchanged', color: 'green', port: String(stack.ports.green) });

    const rollback = await runActionWith({ command: 'rollback', config: file, environment: 'e2e' }, { cwd: elsewhere });
    expect(rollback.exitCode, rollback.stdout).toBe(0);
    expect(rollback.outputs).toMatchObject({ status: 'rolled-back', color: 'blue', 'rolled-back': 'true' });
    await expectServed('blue', Number(rollback.outputs.port));
  });

  it('src/action/main.ts under local-action (in the repository root): deploy with the config input', async () => {
    // runLocalAction adds the suite's compose-command unless given: empty counts as not given, the file's applies.
    const run = await runLocalAction(
      { command: 'deploy', config: file, environment: 'e2e', 'compose-command': '' },
      { timeoutMs: 240_000 },
    );
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.outputs).toMatchObject({ status: 'deployed', color: 'green', 'previous-color': 'blue' });
    expect(configLine(run.stdout, 'compose-command')).toContain('bluegreen.yml');
    await expectServed('green', Number(run.outputs.port));
  });
});
