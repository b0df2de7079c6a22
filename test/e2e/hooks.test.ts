// Migrations and hooks (issue 10) on a real engine, real Compose and a real Nginx: pre-deploy-command in a one-off
// container of the new color's image, the runner hooks (pre-switch, post-switch, on-failure) with their environment,
// and one-off services in color files.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_IMAGE } from '../../scripts/images.mjs';
import { ROOT, runAction, type ActionRun } from './support/action.js';
import { docker, workerPids } from './support/docker.js';
import { get } from './support/http.js';
import { startLoad } from './support/load.js';
import { cli } from './support/result.js';
import { cliFlags, describeLoad } from './support/scenarios.js';
import { createStack, runningColors, servedColor, type Stack } from './support/stack.js';

/** The runner hook of these tests: records its environment (and where traffic is) to a JSON-lines file. */
const RECORD = path.join(ROOT, 'test/fixtures/hooks/record.mjs');
const INCLUDE = 'nginx/service-url.inc';

type Color = 'blue' | 'green';

/** One line that record.mjs wrote. */
interface HookRecord {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  pid: number;
  at: number;
  probes: { url: string; status: number; color: string | null; error?: string }[];
}

interface ContainerInfo {
  name: string;
  service: string;
  oneOff: boolean;
  status: string;
  exitCode: number;
  startedAt: string;
}

/** A command line as the tool splits it (no shell): each word in single quotes. */
function words(...parts: string[]): string {
  for (const p of parts) if (p.includes("'")) throw new Error(`no single quote in a word, please: ${p}`);
  return parts.map((p) => `'${p}'`).join(' ');
}

/** `node record.mjs <file> <args>`: a runner hook that records what it sees, then exits as told. */
function recordHook(file: string, ...args: string[]): string {
  return words(process.execPath, RECORD, file, ...args);
}

async function readRecords(file: string): Promise<HookRecord[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as HookRecord);
}

async function readLines(file: string): Promise<string[] | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  return text?.split('\n').filter(Boolean);
}

function other(color: Color): Color {
  return color === 'blue' ? 'green' : 'blue';
}

/** Every container of the compose project, running or not, one-offs of `compose run` included. */
async function projectContainers(stack: Stack): Promise<ContainerInfo[]> {
  const ids = (
    await docker(['ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${stack.name}`])
  ).stdout
    .split(/\s+/)
    .filter(Boolean);
  if (!ids.length) return [];
  const format =
    '{{.Name}}|{{index .Config.Labels "com.docker.compose.service"}}|{{index .Config.Labels "com.docker.compose.oneoff"}}' +
    '|{{.State.Status}}|{{.State.ExitCode}}|{{.State.StartedAt}}';
  const r = await docker(['container', 'inspect', '--format', format, ...ids]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name = '', service = '', oneOff = '', status = '', exitCode = '', startedAt = ''] = line.split('|');
      return {
        name: name.replace(/^\//, ''),
        service,
        oneOff: oneOff === 'True',
        status,
        exitCode: Number(exitCode),
        startedAt,
      };
    });
}

/** The containers of one service (not the one-offs of `compose run`). */
async function serviceContainers(stack: Stack, service: string): Promise<ContainerInfo[]> {
  return (await projectContainers(stack)).filter((c) => c.service === service && !c.oneOff);
}

async function oneOffContainers(stack: Stack): Promise<ContainerInfo[]> {
  return (await projectContainers(stack)).filter((c) => c.oneOff);
}

async function expectServes(stack: Stack, color: Color, times = 3): Promise<void> {
  for (let i = 0; i < times; i++) {
    const answer = await get(`${stack.proxyUrl}/`);
    expect(answer.status, answer.body).toBe(200);
    expect(answer.color).toBe(color);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * A color file of the hooks stack: the app built from ./app (whose Dockerfile sets APP_VERSION, which the app
 * serves), and ./shared mounted at /shared, where the pre-deploy commands write.
 */
function appColorFile(color: Color, env: Record<string, string> = {}): string {
  const lines = Object.entries({ COLOR: color, ...env }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
  return `services:
  app-${color}:
    build: ./app
    environment:
${lines.join('\n')}
    ports: ["127.0.0.1:\${BLUEGREEN_PORT}:8000"]
    volumes: ["./shared:/shared"]
`;
}

describe('pre-deploy-command and the runner hooks on a real engine', () => {
  let stack: Stack;
  let base: Record<string, string>;
  let records: string;

  const includePath = () => path.join(stack.dir, INCLUDE);
  const readInclude = () => fs.readFile(includePath(), 'utf8');
  const out = (name: string) => path.join(records, `${name}.jsonl`);

  async function writeColor(color: Color, env: Record<string, string> = {}): Promise<void> {
    await fs.writeFile(path.join(stack.dir, `docker-compose.${color}.yml`), appColorFile(color, env));
  }

  /** The image's version (the app serves APP_VERSION): the "new release" of the next build. */
  async function setImageVersion(version: string): Promise<void> {
    await fs.writeFile(path.join(stack.dir, 'app/Dockerfile'), `FROM ${APP_IMAGE}\nENV APP_VERSION=${version}\n`);
  }

  async function live(): Promise<Color> {
    const color = await servedColor(stack.proxyUrl);
    if (color !== 'blue' && color !== 'green') throw new Error(`the proxy serves ${color}`);
    return color;
  }

  /** What a failure before or at the switch leaves: `from` served and running alone, the include unchanged. */
  async function expectStillOn(from: Color, include: string): Promise<void> {
    await expectServes(stack, from);
    expect(await runningColors(stack)).toEqual([from]);
    expect(await readInclude()).toBe(include);
    expect(include).toMatch(new RegExp(`server app-${from}:8000;`));
    expect(await oneOffContainers(stack)).toEqual([]);
  }

  /** The new color's containers exist but were stopped. */
  async function expectStopped(color: Color): Promise<void> {
    const containers = await serviceContainers(stack, `app-${color}`);
    expect(containers.length, `${color} was stopped, not removed`).toBe(1);
    expect(containers[0]?.status).toBe('exited');
  }

  function expectRolledBackOutputs(run: ActionRun, from: Color): void {
    expect(run.exitCode, run.stdout).toBe(1);
    expect(run.outputs).toMatchObject({
      status: 'rolled-back',
      'rolled-back': 'true',
      color: from,
      port: String(stack.ports[from]),
      'previous-color': from,
    });
  }

  beforeAll(async () => {
    stack = await createStack();
    records = path.join(stack.dir, 'records');
    await fs.mkdir(records);
    await fs.mkdir(path.join(stack.dir, 'shared'));
    await setImageVersion('1');
    await writeColor('blue');
    await writeColor('green');
    base = { ...stack.inputs };
    const first = await runAction(base, { cwd: stack.dir });
    expect(first.exitCode, first.stdout).toBe(0);
    expect(first.outputs).toMatchObject({ status: 'deployed', color: 'blue' });
    await expectServes(stack, 'blue');
  });
  afterAll(async () => {
    // The stack's cleanup passes every .yml of its directory to compose down: not a config file.
    await fs.rm(path.join(stack.dir, 'bluegreen.yml'), { force: true }).catch(() => undefined);
    await stack?.cleanup();
  });

  it('a failing pre-deploy-command: nothing started or switched, exit 1, its last output lines in the error', async () => {
    const include = await readInclude();
    const pids = await workerPids(stack.proxyContainer);
    const command =
      'sh -c \'echo applying 0007_users; echo "0007_users failed: relation users does not exist" >&2; exit 4\'';
    const started = Date.now();
    const { run, result } = await cli(stack, { ...base, 'pre-deploy-command': command });
    console.log(`failing pre-deploy: done in ${seconds(started)}`);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(result).toMatchObject({
      status: 'failed',
      exitCode: 1,
      rolledBack: false,
      color: 'blue',
      previousColor: 'blue',
      targetColor: 'green',
    });
    expect(result.error).toContain('0007_users failed: relation users does not exist');
    expect(result.error).toContain('applying 0007_users');
    expect(result.error).toMatch(/not undone/);
    expect(run.stderr).toContain('0007_users failed: relation users does not exist');
    expect(result.hooks).toHaveLength(1);
    const hook = result.hooks?.[0];
    expect(hook).toMatchObject({ name: 'pre-deploy', ok: false, exitCode: 4 });
    expect(hook?.timedOut).toBeFalsy();
    expect(hook?.command).toContain('exit 4');
    expect(hook?.output).toContain('0007_users failed: relation users does not exist');

    // Green was never started (not even created), the one-off is gone, and the proxy was never reloaded.
    await expectStillOn('blue', include);
    expect(await projectContainers(stack).then((cs) => cs.filter((c) => c.service === 'app-green'))).toEqual([]);
    expect(await workerPids(stack.proxyContainer)).toEqual(pids);
  });

  it('a pre-deploy-command past pre-deploy-timeout: its container removed, the deploy failed, nothing started', async () => {
    const include = await readInclude();
    const started = Date.now();
    const { run, result } = await cli(stack, {
      ...base,
      'pre-deploy-command': "sh -c 'echo waiting for the lock; sleep 120'",
      'pre-deploy-timeout': '2',
    });
    const elapsed = (Date.now() - started) / 1000;
    console.log(
      `pre-deploy timeout: done in ${elapsed.toFixed(1)} s (pre-deploy ${result.hooks?.[0]?.ms} ms; ` +
        `${result.phases.map((p) => `${p.name} ${p.ms} ms`).join(', ')})`,
    );

    expect(run.exitCode, run.stderr).toBe(1);
    expect(result).toMatchObject({ status: 'failed', color: 'blue', targetColor: 'green' });
    expect(result.hooks?.[0]).toMatchObject({ name: 'pre-deploy', ok: false, timedOut: true });
    expect(result.error).toContain('waiting for the lock');
    // The one-off is removed at the deadline itself, not once the client ends: docker-compose 1.29 ignores SIGTERM,
    // and would have run on until the SIGKILL 5 s later. (A bound for a functional check, not a speed measure.)
    expect(result.hooks?.[0]?.ms).toBeGreaterThanOrEqual(1_900);
    expect(result.hooks?.[0]?.ms).toBeLessThan(5_500);
    expect(elapsed).toBeLessThan(60);
    await expectStillOn('blue', include);
    expect(await projectContainers(stack).then((cs) => cs.filter((c) => c.service === 'app-green'))).toEqual([]);
  });

  it('a passing pre-deploy-command runs once per deploy, from the freshly built image, before the new color starts', async () => {
    const log = path.join(stack.dir, 'shared/pre-deploy.log');
    // A shell in the new color's container: $APP_VERSION is the image's (its Dockerfile), $COLOR the service's.
    const command = `sh -c 'echo "$APP_VERSION $COLOR" >> /shared/pre-deploy.log'`;

    // blue → green, image version 2, the command given as a string.
    await setImageVersion('2');
    const { run, result } = await cli(stack, { ...base, 'pre-deploy-command': command });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    expect(result.hooks).toHaveLength(1);
    expect(result.hooks?.[0]).toMatchObject({ name: 'pre-deploy', ok: true, exitCode: 0 });
    expect(await readLines(log)).toEqual(['2 green']);
    await expectServes(stack, 'green');
    expect(JSON.parse((await get(`${stack.proxyUrl}/`)).body).version).toBe('2');
    expect(await runningColors(stack)).toEqual(['green']);
    expect(await oneOffContainers(stack), 'the one-off container was removed (--rm)').toEqual([]);
    // Written before green's container started.
    const [green] = await serviceContainers(stack, 'app-green');
    expect((await fs.stat(log)).mtimeMs).toBeLessThan(Date.parse(green?.startedAt ?? ''));

    // green → blue, image version 3, the command as a YAML list in bluegreen.yml (one word per item). Blue's image
    // was built with version 1: a command run before the build would write "1 blue" (or " blue").
    await setImageVersion('3');
    const config = path.join(stack.dir, 'bluegreen.yml');
    await fs.writeFile(
      config,
      [
        'pre-deploy-command:',
        '  - sh',
        '  - -c',
        `  - 'echo "$APP_VERSION $COLOR" >> /shared/pre-deploy.log'`,
        '',
      ].join('\n'),
    );
    try {
      const second = await cli(stack, base);
      expect(second.run.exitCode, second.run.stderr).toBe(0);
      expect(second.result).toMatchObject({ status: 'deployed', color: 'blue', previousColor: 'green' });
      expect(second.result.hooks).toHaveLength(1);
      expect(second.result.hooks?.[0]).toMatchObject({ name: 'pre-deploy', ok: true, exitCode: 0 });
    } finally {
      await fs.rm(config, { force: true });
    }
    expect(await readLines(log)).toEqual(['2 green', '3 blue']);
    await expectServes(stack, 'blue');
    expect(JSON.parse((await get(`${stack.proxyUrl}/`)).body).version).toBe('3');
    expect(await oneOffContainers(stack)).toEqual([]);
    const [blue] = await serviceContainers(stack, 'app-blue');
    expect((await fs.stat(log)).mtimeMs).toBeLessThan(Date.parse(blue?.startedAt ?? ''));
  });

  it('a failing pre-switch-command: rolled back before any switch, the new color stopped; on-failure told, exit 1', async () => {
    const from = await live();
    const to = other(from);
    const include = await readInclude();
    const pids = await workerPids(stack.proxyContainer);
    const started = Date.now();
    const run = await runAction(
      {
        ...base,
        'pre-switch-command': recordHook(
          out('pre-switch-fails'),
          '--probe',
          `${stack.proxyUrl}/`,
          '--probe',
          `http://127.0.0.1:${stack.ports[to]}/`,
          '--say',
          'smoke test: GET /checkout answered 500',
          '--exit',
          '3',
        ),
        // Its own failure (exit 7) changes nothing.
        'on-failure-command': recordHook(out('on-failure-after-pre-switch'), '--exit', '7'),
      },
      { cwd: stack.dir },
    );
    console.log(`failing pre-switch: rolled back in ${seconds(started)}`);

    expectRolledBackOutputs(run, from);
    // The summary's table of commands, and the hook's last output line.
    expect(run.summary).toMatch(/^\| pre-switch \| `.*record\.mjs.*` \| [\d.]+ s \| \*\*exit code 3\*\* \|$/m);
    expect(run.summary).toMatch(/^\| on-failure \| `.*record\.mjs.*` \| [\d.]+ s \| \*\*exit code 7\*\* \|$/m);
    expect(run.summary).toContain('smoke test: GET /checkout answered 500');
    await expectStillOn(from, include);
    await expectStopped(to);
    // Never switched, so never reloaded.
    expect(await workerPids(stack.proxyContainer)).toEqual(pids);

    const [pre, ...morePre] = await readRecords(out('pre-switch-fails'));
    expect(morePre).toEqual([]);
    expect(pre?.env).toMatchObject({
      BLUEGREEN_HOOK: 'pre-switch',
      BLUEGREEN_OPERATION: 'deploy',
      BLUEGREEN_COLOR: to,
      BLUEGREEN_PORT: String(stack.ports[to]),
      BLUEGREEN_PREVIOUS_COLOR: from,
      BLUEGREEN_PREVIOUS_PORT: String(stack.ports[from]),
      BLUEGREEN_STATUS: 'healthy',
    });
    // While it ran, the proxy served the old color and the new one answered on its own port.
    expect(pre?.probes.map((p) => [p.status, p.color])).toEqual([
      [200, from],
      [200, to],
    ]);
    expect(await fs.realpath(pre?.cwd ?? '')).toBe(await fs.realpath(stack.dir));

    const [failure, ...moreFailure] = await readRecords(out('on-failure-after-pre-switch'));
    expect(moreFailure).toEqual([]);
    expect(failure?.env).toMatchObject({
      BLUEGREEN_HOOK: 'on-failure',
      BLUEGREEN_OPERATION: 'deploy',
      BLUEGREEN_COLOR: to,
      BLUEGREEN_PREVIOUS_COLOR: from,
      BLUEGREEN_STATUS: 'rolled-back',
      BLUEGREEN_SERVING: from,
      BLUEGREEN_EXIT_CODE: '1',
    });
    expect(failure?.env.BLUEGREEN_ERROR).toMatch(/pre-switch/);
    expect(failure?.env.BLUEGREEN_ERROR).not.toContain('\n');
  });

  it('a pre-switch-command past hook-timeout is killed and counts as failed: rolled back', async () => {
    const from = await live();
    const to = other(from);
    const include = await readInclude();
    const started = Date.now();
    const { run, result } = await cli(stack, {
      ...base,
      'hook-timeout': '2',
      'pre-switch-command': recordHook(out('pre-switch-hangs'), '--sleep', '120000'),
    });
    const elapsed = (Date.now() - started) / 1000;
    console.log(`hanging pre-switch: rolled back in ${elapsed.toFixed(1)} s`);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(result).toMatchObject({ status: 'rolled-back', rolledBack: true, color: from, targetColor: to });
    expect(result.hooks).toHaveLength(1);
    expect(result.hooks?.[0]).toMatchObject({ name: 'pre-switch', ok: false, timedOut: true });
    expect(result.hooks?.[0]?.ms).toBeGreaterThanOrEqual(1_900);
    expect(result.hooks?.[0]?.ms).toBeLessThan(30_000);
    expect(elapsed).toBeLessThan(60);
    const [hook] = await readRecords(out('pre-switch-hangs'));
    expect(hook?.env.BLUEGREEN_HOOK).toBe('pre-switch');
    expect(alive(hook?.pid ?? 0), 'the hook process was killed').toBe(false);
    await expectStillOn(from, include);
    await expectStopped(to);
  });

  it('a failing post-switch-command rolls back to the old color under load, with no request lost', async () => {
    const from = await live();
    const to = other(from);
    const include = await readInclude();
    const load = startLoad({ url: `${stack.proxyUrl}/`, connections: 8, freshConnections: true });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const started = Date.now();
    const run = await runAction(
      {
        ...base,
        'post-switch-command': recordHook(
          out('post-switch-fails'),
          '--probe',
          `${stack.proxyUrl}/`,
          '--say',
          'synthetic check failed',
          '--exit',
          '5',
        ),
      },
      { cwd: stack.dir },
    );
    console.log(`failing post-switch: rolled back in ${seconds(started)}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const report = await load.stop();
    console.log(describeLoad(`${from} → ${to} → ${from}, fresh connections`, report));

    expectRolledBackOutputs(run, from);
    expect(run.summary).toMatch(/^\| post-switch \| `.*` \| [\d.]+ s \| \*\*exit code 5\*\* \|$/m);
    expect(run.summary).toContain('synthetic check failed');
    expect(run.stdout).toMatch(/Proxies restored to \w+ and reloaded\./);
    // The hook ran once, while the proxy served the new color.
    const hooks = await readRecords(out('post-switch-fails'));
    expect(hooks).toHaveLength(1);
    expect(hooks[0]?.env).toMatchObject({ BLUEGREEN_HOOK: 'post-switch', BLUEGREEN_STATUS: 'switched' });
    expect(hooks[0]?.probes.map((p) => [p.status, p.color])).toEqual([[200, to]]);

    // No request lost; traffic went to the new color and came back to the old one.
    expect(report.non200).toBe(0);
    expect(report.connErrors).toBe(0);
    expect(report.timeouts).toBe(0);
    expect(report.dropped).toBe(0);
    expect(report.responses).toBeGreaterThan(200);
    expect(report.byColor[to]?.count).toBeGreaterThan(0);
    expect(report.byColor[from]?.lastAt).toBeGreaterThan(report.byColor[to]?.lastAt ?? Infinity);
    expect(Object.keys(report.byColor).sort()).toEqual(['blue', 'green']);

    await expectStillOn(from, include);
    await expectStopped(to);
  });

  it('post-switch-required: false: the same failing post-switch-command only warns, and the deploy goes on', async () => {
    const from = await live();
    const to = other(from);
    const run = await runAction(
      {
        ...base,
        'post-switch-command': recordHook(
          out('post-switch-optional'),
          '--say',
          'synthetic check failed',
          '--exit',
          '5',
        ),
        'post-switch-required': 'false',
        'on-failure-command': recordHook(out('on-failure-not-run')),
      },
      { cwd: stack.dir },
    );
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({
      status: 'deployed',
      'rolled-back': 'false',
      color: to,
      'previous-color': from,
    });
    expect(run.stdout).toMatch(/^::warning::.*post-switch/m);
    expect(run.summary).toMatch(/^\| post-switch \| `.*` \| [\d.]+ s \| \*\*exit code 5\*\* \|$/m);
    expect(await readRecords(out('post-switch-optional'))).toHaveLength(1);
    expect(await readRecords(out('on-failure-not-run')), 'no on-failure after a deploy that succeeded').toEqual([]);
    await expectServes(stack, to);
    expect(await runningColors(stack)).toEqual([to]);
    expect(await readInclude()).toMatch(new RegExp(`server app-${to}:8000;`));
  });

  it('the runner hooks see their environment; post-switch runs after every proxy switched, before the drain', async () => {
    const from = await live();
    const to = other(from);
    const { run, result } = await cli(stack, {
      ...base,
      'pre-switch-command': recordHook(out('env-pre-switch'), '--probe', `${stack.proxyUrl}/`),
      'post-switch-command': recordHook(
        out('env-post-switch'),
        '--probe',
        `${stack.proxyUrl}/`,
        '--probe',
        `http://127.0.0.1:${stack.ports[from]}/`,
      ),
      'on-failure-command': recordHook(out('env-on-failure-not-run')),
    });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result).toMatchObject({ status: 'deployed', color: to, previousColor: from });
    expect(result.hooks?.map((h) => [h.name, h.ok, h.exitCode])).toEqual([
      ['pre-switch', true, 0],
      ['post-switch', true, 0],
    ]);
    expect(result.hooks?.[0]?.command).toContain(RECORD);

    const [pre] = await readRecords(out('env-pre-switch'));
    const [post, ...more] = await readRecords(out('env-post-switch'));
    expect(more).toEqual([]);
    const common = {
      BLUEGREEN_OPERATION: 'deploy',
      BLUEGREEN_COLOR: to,
      BLUEGREEN_PORT: String(stack.ports[to]),
      BLUEGREEN_PREVIOUS_COLOR: from,
      BLUEGREEN_PREVIOUS_PORT: String(stack.ports[from]),
    };
    expect(pre?.env).toMatchObject({ ...common, BLUEGREEN_HOOK: 'pre-switch', BLUEGREEN_STATUS: 'healthy' });
    expect(post?.env).toMatchObject({ ...common, BLUEGREEN_HOOK: 'post-switch', BLUEGREEN_STATUS: 'switched' });
    for (const name of ['BLUEGREEN_SERVING', 'BLUEGREEN_EXIT_CODE', 'BLUEGREEN_ERROR']) {
      expect(post?.env[name], `${name} is for on-failure only`).toBeUndefined();
    }
    expect(pre?.probes.map((p) => p.color)).toEqual([from]);
    // post-switch: the proxy serves the new color, and the old one still runs (the drain comes after).
    expect(post?.probes.map((p) => [p.status, p.color])).toEqual([
      [200, to],
      [200, from],
    ]);
    expect(await fs.realpath(post?.cwd ?? '')).toBe(await fs.realpath(stack.dir));
    expect(await readRecords(out('env-on-failure-not-run'))).toEqual([]);
    await expectServes(stack, to);
    expect(await runningColors(stack)).toEqual([to]);
  });

  it('a rollback runs pre-switch and post-switch (a post-switch may run bluegreen status) but never pre-deploy', async () => {
    const from = await live();
    const to = other(from);
    const never = path.join(stack.dir, 'shared/rollback-pre-deploy.log');
    // The hook runs the CLI itself: the BLUEGREEN_* variables the tool sets are not read as its configuration.
    const status = words(process.execPath, path.join(ROOT, 'dist/cli/index.js'), 'status', ...cliFlags(base));
    const { run, result } = await cli(
      stack,
      {
        ...base,
        'pre-deploy-command': "sh -c 'echo ran >> /shared/rollback-pre-deploy.log'",
        'pre-switch-command': recordHook(out('rollback-pre-switch'), '--probe', `${stack.proxyUrl}/`),
        'post-switch-command': status,
      },
      'rollback',
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 0, color: to, previousColor: from });
    expect(result.hooks?.map((h) => [h.name, h.ok, h.exitCode])).toEqual([
      ['pre-switch', true, 0],
      ['post-switch', true, 0],
    ]);
    expect(await readLines(never), 'pre-deploy never runs for a rollback').toBeUndefined();
    const [pre] = await readRecords(out('rollback-pre-switch'));
    expect(pre?.env).toMatchObject({
      BLUEGREEN_HOOK: 'pre-switch',
      BLUEGREEN_OPERATION: 'rollback',
      BLUEGREEN_COLOR: to,
      BLUEGREEN_PORT: String(stack.ports[to]),
      BLUEGREEN_PREVIOUS_COLOR: from,
      BLUEGREEN_STATUS: 'healthy',
    });
    expect(pre?.probes.map((p) => p.color)).toEqual([from]);
    await expectServes(stack, to);
    expect(await runningColors(stack)).toEqual([to]);
    expect(await oneOffContainers(stack)).toEqual([]);
  });

  it('on-failure after a failed health check: told rolled-back and the color serving, the exit code unchanged', async () => {
    // It leaves the new color's unhealthy container behind (stopped), which a rollback would start: after the
    // rollback test, and its color file put back so that the next deploy recreates it.
    const from = await live();
    const to = other(from);
    await writeColor(to, { HEALTH_STATUS: '500' });
    try {
      const { run, result } = await cli(stack, {
        ...base,
        'health-timeout': '3',
        'pre-switch-command': recordHook(out('pre-switch-not-run')),
        'on-failure-command': recordHook(out('on-failure-health'), '--say', 'paged the on-call'),
      });
      expect(run.exitCode, run.stderr).toBe(1);
      expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: from, targetColor: to });
      expect(result.hooks?.map((h) => [h.name, h.ok])).toEqual([['on-failure', true]]);
      expect(await readRecords(out('pre-switch-not-run')), 'no pre-switch for an unhealthy color').toEqual([]);
      const [failure, ...more] = await readRecords(out('on-failure-health'));
      expect(more).toEqual([]);
      expect(failure?.env).toMatchObject({
        BLUEGREEN_HOOK: 'on-failure',
        BLUEGREEN_OPERATION: 'deploy',
        BLUEGREEN_COLOR: to,
        BLUEGREEN_PORT: String(stack.ports[to]),
        BLUEGREEN_PREVIOUS_COLOR: from,
        BLUEGREEN_STATUS: 'rolled-back',
        BLUEGREEN_SERVING: from,
        BLUEGREEN_EXIT_CODE: '1',
      });
      expect(failure?.env.BLUEGREEN_ERROR).toBe(result.error?.split('\n')[0]);
      expect(failure?.env.BLUEGREEN_ERROR).toMatch(/did not become healthy/);
      await expectServes(stack, from);
      expect(await runningColors(stack)).toEqual([from]);
    } finally {
      await writeColor(to);
    }
  });

  it('a dry run runs no command: the plan names each one at its place', async () => {
    const from = await live();
    const include = await readInclude();
    const { run, result } = await cli(stack, {
      ...base,
      'dry-run': 'true',
      'pre-deploy-command': "sh -c 'echo ran >> /shared/dry-run.log'",
      'pre-switch-command': recordHook(out('dry-pre-switch')),
      'post-switch-command': recordHook(out('dry-post-switch')),
      'on-failure-command': recordHook(out('dry-on-failure')),
    });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(result.status).toBe('planned');
    const plan = result.plan.join('\n');
    const at = (needle: string) => plan.indexOf(needle);
    expect(at('dry-run.log')).toBeGreaterThanOrEqual(0);
    expect(at('dry-pre-switch')).toBeGreaterThan(at('dry-run.log'));
    expect(at('dry-post-switch')).toBeGreaterThan(at('dry-pre-switch'));
    for (const name of ['dry-pre-switch', 'dry-post-switch', 'dry-on-failure']) {
      expect(await readRecords(out(name))).toEqual([]);
    }
    expect(await readLines(path.join(stack.dir, 'shared/dry-run.log'))).toBeUndefined();
    expect(await readInclude()).toBe(include);
    await expectServes(stack, from);
    expect(await oneOffContainers(stack)).toEqual([]);
  });
});

/**
 * A color file with a one-off service next to the app: it writes a line to ./shared/x (mounted at /data) and
 * exits. Blue marks it with restart: "no", green with the label bluegreen.one-off (labels as a map).
 */
function oneOffColorFile(color: Color, seed: string): string {
  const marker = color === 'blue' ? `    restart: "no"` : `    labels:\n      bluegreen.one-off: "true"`;
  return `services:
  app-${color}:
    build: ./app
    environment:
      COLOR: ${color}
    ports: ["127.0.0.1:\${BLUEGREEN_PORT}:8000"]
  seed-${color}:
    image: ${APP_IMAGE}
${marker}
    command: ["sh", "-c", ${JSON.stringify(seed)}]
    volumes: ["./shared:/data"]
`;
}

describe('one-off services in color files', () => {
  let stack: Stack;
  let seeds: string;

  async function writeColor(color: Color, seed = `echo seeded-${color} >> /data/x`): Promise<void> {
    await fs.writeFile(path.join(stack.dir, `docker-compose.${color}.yml`), oneOffColorFile(color, seed));
  }

  async function seedState(color: Color): Promise<ContainerInfo[]> {
    return (await projectContainers(stack)).filter((c) => c.service === `seed-${color}`);
  }

  beforeAll(async () => {
    stack = await createStack();
    seeds = path.join(stack.dir, 'shared/x');
    await fs.mkdir(path.join(stack.dir, 'shared'));
    await writeColor('blue');
    await writeColor('green');
  });
  afterAll(async () => stack?.cleanup());

  it('a one-off that exits 0 passes; the next deploys and a rollback see the live color despite its exited container', async () => {
    const first = await runAction(stack.inputs, { cwd: stack.dir });
    expect(first.exitCode, first.stdout).toBe(0);
    expect(first.outputs).toMatchObject({ status: 'deployed', color: 'blue', 'previous-color': '' });
    await expectServes(stack, 'blue');
    expect(await runningColors(stack)).toEqual(['blue']);
    expect(await seedState('blue')).toMatchObject([{ status: 'exited', exitCode: 0 }]);
    expect(await readLines(seeds)).toEqual(['seeded-blue']);

    // Blue's one-off has exited: blue is still the live color (not "not running").
    const second = await runAction(stack.inputs, { cwd: stack.dir });
    expect(second.exitCode, second.stdout).toBe(0);
    expect(second.outputs).toMatchObject({ status: 'deployed', color: 'green', 'previous-color': 'blue' });
    await expectServes(stack, 'green');
    expect(await runningColors(stack)).toEqual(['green']);
    expect(await seedState('green')).toMatchObject([{ status: 'exited', exitCode: 0 }]);
    expect(await readLines(seeds)).toEqual(['seeded-blue', 'seeded-green']);

    const status = await cli(stack, stack.inputs, 'status');
    expect(status.run.exitCode, status.run.stderr).toBe(0);
    expect(status.result).toMatchObject({ status: 'unchanged', color: 'green' });

    const third = await runAction(stack.inputs, { cwd: stack.dir });
    expect(third.exitCode, third.stdout).toBe(0);
    expect(third.outputs).toMatchObject({ status: 'deployed', color: 'blue', 'previous-color': 'green' });
    await expectServes(stack, 'blue');
    expect(await runningColors(stack)).toEqual(['blue']);
    // up started blue's one-off again.
    expect(await readLines(seeds)).toEqual(['seeded-blue', 'seeded-green', 'seeded-blue']);

    // A rollback starts only the long-running services: green's one-off does not run again.
    const back = await runAction({ ...stack.inputs, command: 'rollback' }, { cwd: stack.dir });
    expect(back.exitCode, back.stdout).toBe(0);
    expect(back.outputs).toMatchObject({ status: 'rolled-back', color: 'green', 'previous-color': 'blue' });
    await expectServes(stack, 'green');
    expect(await runningColors(stack)).toEqual(['green']);
    expect(await readLines(seeds)).toEqual(['seeded-blue', 'seeded-green', 'seeded-blue']);
  });

  it('a one-off that exits non-zero fails the deploy: rolled back, the old color serving, exit 1', async () => {
    const from = (await servedColor(stack.proxyUrl)) as Color;
    expect(['blue', 'green']).toContain(from);
    const to = other(from);
    const include = await fs.readFile(path.join(stack.dir, INCLUDE), 'utf8');
    const before = (await readLines(seeds)) ?? [];
    await writeColor(to, 'echo seed failed: no fixtures >&2; exit 3');
    const started = Date.now();
    const run = await runAction(stack.inputs, { cwd: stack.dir });
    console.log(`failing one-off: rolled back in ${seconds(started)}`);

    expect(run.exitCode, run.stdout).toBe(1);
    expect(run.outputs).toMatchObject({ status: 'rolled-back', 'rolled-back': 'true', color: from });
    expect(run.summary).toContain(`seed-${to}`);
    expect(await seedState(to)).toMatchObject([{ status: 'exited', exitCode: 3 }]);
    await expectServes(stack, from);
    expect(await runningColors(stack)).toEqual([from]);
    expect(await fs.readFile(path.join(stack.dir, INCLUDE), 'utf8')).toBe(include);
    const app = (await projectContainers(stack)).filter((c) => c.service === `app-${to}`);
    expect(app.map((c) => c.status)).toEqual(['exited']);
    expect(await readLines(seeds)).toEqual(before);
  });
});
