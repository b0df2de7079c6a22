// @github/local-action runs the action from its TypeScript sources (src/action/main.ts, no bundle), as the README
// tells contributors to: status and a dry-run deploy against a stack that the bundled action deployed on the real
// engine. What local-action prints (its @actions/core stub's ::set-output lines and outputs table), the job summary
// and the exit code must tell the engine's state, and the engine must be left as it was.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runAction } from './support/action.js';
import { COMPOSE } from './support/compose.js';
import { ENTRYPOINT, runLocalAction } from './support/local-action.js';
import { createStack, runningColors, servedColor, serviceContainerId, type Stack } from './support/stack.js';

describe('@github/local-action runs src/action/main.ts on a real engine', () => {
  let stack: Stack;
  let inputs: Record<string, string>;
  let ids: { blue: string; green: string; proxy: string };

  /** The engine as the two deploys left it: green serves, blue stopped, no container recreated. */
  async function expectEngineUnchanged(): Promise<void> {
    expect(await servedColor(stack.proxyUrl)).toBe('green');
    expect(await runningColors(stack)).toEqual(['green']);
    expect({
      blue: await serviceContainerId(stack, 'app-blue'),
      green: await serviceContainerId(stack, 'app-green'),
      proxy: await serviceContainerId(stack, 'proxy'),
    }).toEqual(ids);
  }

  beforeAll(async () => {
    stack = await createStack();
    // Two deploys with the bundled action: green is live, so a status that answered the first color, or a dry-run
    // that planned it, would fail below.
    const first = await runAction(stack.inputs, { cwd: stack.dir });
    expect(first.exitCode, first.stdout).toBe(0);
    expect(first.outputs).toMatchObject({ status: 'deployed', color: 'blue' });
    await stack.setAppEnv('green', { APP_VERSION: '2' });
    const second = await runAction(stack.inputs, { cwd: stack.dir });
    expect(second.exitCode, second.stdout).toBe(0);
    expect(second.outputs).toMatchObject({ status: 'deployed', color: 'green', 'previous-color': 'blue' });
    ids = {
      blue: await serviceContainerId(stack, 'app-blue'),
      green: await serviceContainerId(stack, 'app-green'),
      proxy: await serviceContainerId(stack, 'proxy'),
    };
    expect(Object.values(ids)).not.toContain('');
    // local-action runs in the repository root (its npm exec tsx and npm ls need it): the project is an input.
    inputs = { ...stack.inputs, 'working-directory': stack.dir };
  });
  afterAll(async () => stack?.cleanup());

  it('status: the live color the engine serves (green), through the stubbed @actions/core, exit 0', async () => {
    const run = await runLocalAction({ ...inputs, command: 'status' }, { timeoutMs: 120_000 });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    // The sources ran, under local-action: its configuration table names the entrypoint, its title precedes the run.
    expect(run.stdout).toContain(path.join(ROOT, ENTRYPOINT));
    expect(run.stdout).toMatch(/Running Action[\s\S]*Action Outputs/);
    expect(run.outputs).toEqual({
      color: 'green',
      port: String(stack.ports.green),
      'previous-color': 'green',
      'previous-port': String(stack.ports.green),
      status: 'unchanged',
      'rolled-back': 'false',
      duration: expect.stringMatching(/^\d+\.\d$/),
      // status watches no traffic.
      'requests-observed': '',
      'error-rate': '',
    });
    // What the stub collected is what was printed: the outputs went through local-action's @actions/core.
    expect(run.table).toEqual(run.outputs);
    expect(run.stdout).toMatch(/service-url\.inc \(mounted in .*-proxy\) points at green/);
    expect(run.stdout).toContain(`Live color: green (port ${stack.ports.green}); running: green`);
    expect(run.stdout).toContain(`Using compose: ${COMPOSE.command} (compose-command: ${COMPOSE.command})`);
    expect(run.stdout).toContain(`Result: live color: green`);
    expect(run.stdout).not.toMatch(/^::error::/m);
    expect(run.summary).toMatch(/Blue-green: live color: green/);
    expect(run.summary).toContain(`| live color now | green (port ${stack.ports.green}) |`);
    expect(run.summary).toMatch(new RegExp(`^\\| ${stack.proxyContainer} \\| .* \\| green \\| — \\|$`, 'm'));
    await expectEngineUnchanged();
  });

  it('dry-run of a deploy: plans blue from the live green, exit 0, and changes nothing', async () => {
    const run = await runLocalAction({ ...inputs, 'dry-run': 'true' }, { timeoutMs: 120_000 });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.outputs).toMatchObject({
      status: 'planned',
      color: 'green',
      port: String(stack.ports.green),
      'rolled-back': 'false',
    });
    expect(run.table).toEqual(run.outputs);
    // The plan starts from what the engine runs: green live, so blue is deployed and green stopped.
    expect(run.stdout).toContain(
      `live color green (port ${stack.ports.green}); deploy blue (port ${stack.ports.blue}), services app-blue`,
    );
    expect(run.stdout).toMatch(/up -d --no-deps --build app-blue$/m);
    expect(run.stdout).toMatch(/stop app-green$/m);
    expect(run.stdout).not.toMatch(/--build app-green/);
    // The multi-line upstream-template came through the .env intact: the include it would write.
    expect(run.stdout).toContain(
      `# bluegreen-action: color=blue port=${stack.ports.blue}\nupstream app {\n    server app-blue:8000;\n}`,
    );
    expect(run.stdout).toContain('Result: dry run of deploy blue: nothing changed');
    expect(run.summary).toMatch(/Blue-green: dry run of deploy blue: nothing changed/);
    expect(await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8')).toMatch(/server app-green:8000;/);
    await expectEngineUnchanged();
  });

  it('a run that fails: the failed status and the exit code come through local-action', async () => {
    const run = await runLocalAction({ ...inputs, command: 'status', ports: 'not-a-port' }, { timeoutMs: 120_000 });
    expect(run.exitCode, run.stdout + run.stderr).toBe(2);
    expect(run.outputs).toMatchObject({ status: 'failed', color: '' });
    expect(run.table).toEqual(run.outputs);
    expect(run.stdout).toMatch(/^::error::Invalid configuration; nothing was changed/m);
    expect(run.stdout).toMatch(/ports/);
    await expectEngineUnchanged();
  });
});
