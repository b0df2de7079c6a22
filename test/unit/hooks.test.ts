// pre-deploy-command, the runner hooks and one-off services, on the fake host; two tests run a real hook process.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/engine/deployment.js';
import { quoteWords } from '../../src/config/words.js';
import { createExecaRunner, type Runner } from '../../src/runner.js';
import { INCLUDE, RELOAD, STOP_BLUE, STOP_GREEN, UP_GREEN, WD, onDrain, setup } from './deploy-setup.js';

const GREEN = `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml`;
const BUILD_GREEN = `${GREEN} build app-green`;
const UP_GREEN_BUILT = `${GREEN} up -d --no-deps app-green`;
const MIGRATE = { 'pre-deploy-command': 'python manage.py migrate --noinput' };
/** The one-off container's name: the service, and the first 8 characters of the run's id. */
const ONE_OFF = /^app-green-pre-deploy-[0-9a-f]{8}$/;
/** The run id a deploy gave its children (the one-off is labelled with it). */
const runOf = (host: { oneOffRuns: { env: Record<string, string> }[] }) => host.oneOffRuns[0]?.env.BLUEGREEN_RUN;

describe('pre-deploy-command', () => {
  it('runs once, from the new color, after its image is built and before it starts; the container is removed', async () => {
    const { host, run } = await setup({ live: 'blue', raw: MIGRATE });
    host.oneOffOutcome = () => ({ lines: ['Applying app.0002_add_email... OK'] });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    const name = host.oneOffRuns[0]?.name ?? '';
    expect(name).toMatch(ONE_OFF);
    // Built once, then up without --build: the image the command ran from is the one that starts.
    expect(host.changes).toEqual([
      BUILD_GREEN,
      `${GREEN} run --rm --no-deps -T --name ${name} --label bluegreen.run=${runOf(host)} app-green python manage.py migrate --noinput`,
      UP_GREEN_BUILT,
      RELOAD,
      STOP_BLUE,
    ]);
    expect(host.oneOffRuns).toHaveLength(1);
    expect(host.oneOffRuns[0]).toMatchObject({
      service: 'app-green',
      command: ['python', 'manage.py', 'migrate', '--noinput'],
      env: { BLUEGREEN_COLOR: 'green', BLUEGREEN_PORT: '8001' },
    });
    expect(host.containers.find(name)).toBeUndefined();
    expect(result.phases.map((p) => p.name)).toEqual([
      'detect',
      'prepare',
      'pre-deploy',
      'up',
      'health',
      'switch',
      'verify',
      'drain',
      'cleanup',
    ]);
    expect(result.hooks).toEqual([
      {
        name: 'pre-deploy',
        command: 'python manage.py migrate --noinput',
        ok: true,
        exitCode: 0,
        ms: 0,
        output: 'Applying app.0002_add_email... OK',
      },
    ]);
  });

  it('fails: nothing started or switched, exit 1, its last 20 output lines in the error', async () => {
    const { host, files, run } = await setup({ live: 'blue', raw: MIGRATE });
    const before = files.data.get(INCLUDE);
    host.oneOffOutcome = () => ({ exitCode: 1, lines: Array.from({ length: 30 }, (_, i) => `line ${i + 1}`) });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue', rolledBack: false });
    expect(host.changes.map((c) => c.replace(/--name \S+ --label \S+/, '--name X --label Y'))).toEqual([
      BUILD_GREEN,
      `${GREEN} run --rm --no-deps -T --name X --label Y app-green python manage.py migrate --noinput`,
    ]);
    expect(result.error).toContain(
      'pre-deploy-command exited with code 1: python manage.py migrate --noinput\nIts last 20 output lines:\nline 11\n',
    );
    expect(result.error).not.toContain('line 10\n');
    expect(result.error).toMatch(
      /line 30\ngreen was not started and no proxy was switched; what pre-deploy-command changed itself is not undone\.$/,
    );
    expect(result.hooks).toMatchObject([{ name: 'pre-deploy', ok: false, exitCode: 1 }]);
    expect(result.hooks[0]?.output?.split('\n')).toHaveLength(20);
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.containers.has('app-green')).toBe(false);
  });

  it('timed out: the container the compose client left running is removed, and the deploy fails', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { ...MIGRATE, 'pre-deploy-timeout': '5' } });
    host.oneOffOutcome = () => ({ timedOut: true, lines: ['migrating a big table'] });
    const result = await run();
    const name = host.oneOffRuns[0]?.name ?? '';
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^pre-deploy-command timed out after 5 s: python manage.py migrate --noinput\n/);
    expect(host.changes.slice(-1)).toEqual([`docker rm --force ${host.oneOffRuns[0]?.id}`]);
    expect(host.containers.find(name)).toBeUndefined();
    expect(result.hooks).toEqual([
      expect.objectContaining({ name: 'pre-deploy', ok: false, timedOut: true, output: 'migrating a big table' }),
    ]);
  });

  it('still running at its deadline, its client deaf to SIGTERM: the container is removed then, and the deploy fails', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { ...MIGRATE, 'pre-deploy-timeout': '0.05' } });
    host.oneOffOutcome = () => ({ hang: true });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^pre-deploy-command timed out after 0\.05 s: /);
    expect(host.changes.at(-1)).toBe(`docker rm --force ${host.oneOffRuns[0]?.id}`);
    expect(host.changes).not.toContain(UP_GREEN_BUILT);
    expect(result.hooks).toMatchObject([{ name: 'pre-deploy', ok: false, timedOut: true }]);
  });

  it('a container created after its deadline (compose was still pulling) is removed too, once it appears', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { ...MIGRATE, 'pre-deploy-timeout': '0.02' } });
    host.oneOffOutcome = () => ({ hang: true, lateMs: 200 });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^pre-deploy-command timed out after 0\.02 s: /);
    expect(host.containers.find(host.oneOffRuns[0]?.id ?? '')).toBeUndefined();
    expect(host.changes.filter((c) => c.startsWith('docker rm'))).toEqual([
      `docker rm --force ${host.oneOffRuns[0]?.id}`,
    ]);
  });

  it('cancelled while it runs: its container is removed by a call the cancel does not end, nothing started', async () => {
    const s = await setup({ live: 'blue', raw: MIGRATE });
    const controller = new AbortController();
    s.host.oneOffOutcome = () => {
      queueMicrotask(() => controller.abort(new Error('SIGTERM')));
      return { hang: true };
    };
    const rmSignals: (AbortSignal | undefined)[] = [];
    const original = s.host.run.bind(s.host);
    s.host.run = (file, args, options) => {
      if (args[0] === 'rm') rmSignals.push(options.signal);
      return original(file, args, options);
    };
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^cancelled \(SIGTERM\) during pre-deploy-command\n/);
    expect(rmSignals).toEqual([undefined]);
    expect(s.host.containers.find(s.host.oneOffRuns[0]?.name ?? '')).toBeUndefined();
    expect(s.host.changes).not.toContain(UP_GREEN_BUILT);
  });

  it('runs from pre-deploy-service, with {color}; without build, nothing is built and up has no --build', async () => {
    const { host, files, run } = await setup({
      live: 'blue',
      raw: { ...MIGRATE, 'pre-deploy-service': 'worker-{color}', build: 'false' },
    });
    files.put(
      `${WD}/docker-compose.green.yml`,
      'services:\n  app-green:\n    build: .\n  worker-green:\n    build: .\n',
    );
    host.addRunning('app-blue');
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(host.oneOffRuns.map((r) => r.service)).toEqual(['worker-green']);
    expect(host.changes.filter((c) => / build | --build/.test(c))).toEqual([]);
  });

  it('a pre-deploy-service that the color file lacks stops the deploy before anything changes', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { ...MIGRATE, 'pre-deploy-service': 'web' } });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(result.error).toMatch(
      /pre-deploy-service web is not a service of .*docker-compose\.green\.yml \(it has app-green\)/,
    );
    expect(host.changes).toEqual([]);
    expect(result.error).toMatch(/\(it has app-green\)\nNothing was changed\.$/);
  });

  it('is not run by a rollback, nor by a dry run (which lists it at its place)', async () => {
    const back = await setup({ live: 'green', idleStopped: true, raw: { ...MIGRATE, command: 'rollback' } });
    expect(await back.run()).toMatchObject({ status: 'rolled-back', exitCode: 0 });
    expect(back.host.oneOffRuns).toEqual([]);

    const dry = await setup({ live: 'blue', raw: { ...MIGRATE, 'dry-run': 'true' } });
    const result = await dry.run();
    expect(dry.host.oneOffRuns).toEqual([]);
    expect(result.plan[1]).toBe(BUILD_GREEN);
    expect(result.plan[2]).toMatch(
      new RegExp(
        '^run pre-deploy-command once, before green starts \\(at most 600 s; failure: nothing started or switched\\): ' +
          `${GREEN} run --rm --no-deps -T --name app-green-pre-deploy-[0-9a-f]{8} --label bluegreen.run=[0-9a-f-]{36} ` +
          'app-green python manage.py migrate --noinput$',
      ),
    );
    expect(result.plan[3]).toBe(UP_GREEN_BUILT);
  });
});

describe('hooks on the runner', () => {
  const hook =
    (code = 0, lines: string[] = []) =>
    () => ({ exitCode: code, lines });

  it('pre-switch runs after the health check with the run in its environment; its failure rolls back, nothing switched', async () => {
    const { host, files, run } = await setup({ live: 'blue', raw: { 'pre-switch-command': 'check-ready --strict' } });
    const before = files.data.get(INCLUDE);
    host.programs.set('check-ready', hook(3, ['not ready: cache cold']));
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue', rolledBack: true });
    expect(result.error).toMatch(
      /^pre-switch-command exited with code 3: check-ready --strict\nIts last 1 output lines:\nnot ready: cache cold\nRolled back: traffic is on blue as before, green was stopped\./,
    );
    expect(host.changes).toEqual([UP_GREEN, 'check-ready --strict', STOP_GREEN]);
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.programRuns[0]?.cwd).toBe(WD);
    expect(host.programRuns[0]?.env).toMatchObject({
      BLUEGREEN_HOOK: 'pre-switch',
      BLUEGREEN_OPERATION: 'deploy',
      BLUEGREEN_COLOR: 'green',
      BLUEGREEN_PORT: '8001',
      BLUEGREEN_PREVIOUS_COLOR: 'blue',
      BLUEGREEN_PREVIOUS_PORT: '8000',
      BLUEGREEN_STATUS: 'healthy',
    });
    expect(host.programRuns[0]?.env.BLUEGREEN_RUN).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.phases.map((p) => `${p.name}${p.ok ? '' : ' (failed)'}`)).toEqual([
      'detect',
      'up',
      'health',
      'pre-switch (failed)',
      'restore',
    ]);
  });

  it('post-switch runs once every proxy serves the new color; its failure puts the proxies back on the old one', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'post-switch-command': 'smoke-test' } });
    let servedDuringHook: string | undefined;
    host.programs.set('smoke-test', () => {
      servedDuringHook = host.servedColor('proxy');
      return { exitCode: 1, lines: ['checkout page: 500'] };
    });
    const result = await run();
    expect(servedDuringHook).toBe('green');
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^post-switch-command exited with code 1: smoke-test\n/);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, 'smoke-test', RELOAD, STOP_GREEN]);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.containers.get('app-blue')?.running).toBe(true);
    expect(host.programRuns[0]?.env).toMatchObject({ BLUEGREEN_HOOK: 'post-switch', BLUEGREEN_STATUS: 'switched' });
  });

  it('while a required post-switch hook runs, the journal says so: a run that dies then is undone, not finished', async () => {
    const required = await setup({ live: 'blue', raw: { 'post-switch-command': 'smoke-test' } });
    const phases: (string | undefined)[] = [];
    required.host.programs.set('smoke-test', () => {
      phases.push([...required.journal.entries.values()][0]?.phase);
      return { exitCode: 0 };
    });
    expect(await required.run()).toMatchObject({ status: 'deployed' });
    const optional = await setup({
      live: 'blue',
      raw: { 'post-switch-command': 'smoke-test', 'post-switch-required': 'false' },
    });
    optional.host.programs.set('smoke-test', () => {
      phases.push([...optional.journal.entries.values()][0]?.phase);
      return { exitCode: 0 };
    });
    expect(await optional.run()).toMatchObject({ status: 'deployed' });
    expect(phases).toEqual(['post-switch', 'switched']);
  });

  it('post-switch-required false: a failing post-switch hook is reported and the deploy goes on', async () => {
    const { host, log, run } = await setup({
      live: 'blue',
      raw: { 'post-switch-command': 'smoke-test', 'post-switch-required': 'false' },
    });
    host.programs.set('smoke-test', hook(1, ['flaky']));
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(host.changes).toEqual([UP_GREEN, RELOAD, 'smoke-test', STOP_BLUE]);
    expect(result.hooks).toMatchObject([{ name: 'post-switch', ok: false, exitCode: 1, output: 'flaky' }]);
    expect(log.lines).toContain(
      'warning: post-switch-command exited with code 1: smoke-test\nIts last 1 output lines:\nflaky\n' +
        'The deploy goes on (post-switch-required: false).',
    );
  });

  it('on-failure runs after the undo, is told where traffic is, and never changes the exit code', async () => {
    const { host, locks, journal, run } = await setup({
      live: 'blue',
      raw: { 'pre-switch-command': 'check-ready', 'on-failure-command': 'page-oncall "deploy failed"' },
    });
    host.programs.set('check-ready', hook(1));
    let settled: { lock?: string; journal: number } | undefined;
    host.programs.set('page-oncall', () => {
      // The lock is released and the journal cleared first: a slow hook leaves neither behind.
      settled = { lock: locks.events.at(-1), journal: journal.entries.size };
      return { exitCode: 7, lines: ['pager down'] };
    });
    const result = await run();
    expect(settled).toEqual({ lock: 'release proxy:proxy', journal: 0 });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    // After the new color was stopped: the undo is done when it runs.
    expect(host.changes).toEqual([UP_GREEN, 'check-ready', STOP_GREEN, 'page-oncall "deploy failed"']);
    expect(host.programRuns[1]?.args).toEqual(['deploy failed']);
    expect(host.programRuns[1]?.env).toMatchObject({
      BLUEGREEN_HOOK: 'on-failure',
      BLUEGREEN_STATUS: 'rolled-back',
      BLUEGREEN_SERVING: 'blue',
      BLUEGREEN_SERVING_KNOWN: 'true',
      BLUEGREEN_EXIT_CODE: '1',
      BLUEGREEN_ERROR: 'pre-switch-command exited with code 1: check-ready',
      BLUEGREEN_COLOR: 'green',
      BLUEGREEN_PREVIOUS_COLOR: 'blue',
    });
    expect(result.hooks.map((h) => [h.name, h.ok, h.exitCode])).toEqual([
      ['pre-switch', false, 1],
      ['on-failure', false, 7],
    ]);
  });

  it('on-failure after a failure before the colors were told: it is told so, not that nothing serves', async () => {
    const { host, files, run } = await setup({ live: 'blue', raw: { 'on-failure-command': 'page-oncall' } });
    host.programs.set('page-oncall', hook());
    // A color file of one-offs only stops the run at detection.
    files.put(`${WD}/docker-compose.green.yml`, 'services:\n  app-green:\n    restart: "no"\n');
    expect(await run()).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(host.programRuns[0]?.env).toMatchObject({
      BLUEGREEN_SERVING: '',
      BLUEGREEN_SERVING_KNOWN: 'false',
      BLUEGREEN_PREVIOUS_COLOR: '',
      BLUEGREEN_EXIT_CODE: '2',
    });
  });

  it('on-failure does not run when the run succeeds, nor in a dry run, where the plan lists every hook', async () => {
    const raw = { 'pre-switch-command': 'a', 'post-switch-command': 'b', 'on-failure-command': 'c' };
    const ok = await setup({ live: 'blue', raw });
    for (const p of ['a', 'b', 'c']) ok.host.programs.set(p, hook());
    expect(await ok.run()).toMatchObject({ status: 'deployed' });
    expect(ok.host.programRuns.map((r) => r.file)).toEqual(['a', 'b']);

    const dry = await setup({ live: 'blue', raw: { ...raw, 'dry-run': 'true' } });
    const result = await dry.run();
    expect(dry.host.programRuns).toEqual([]);
    const at = (text: string) => result.plan.findIndex((p) => p.startsWith(text));
    expect(result.plan[at('run pre-switch-command')]).toBe(
      'run pre-switch-command on the runner, before the switch (failure rolls back): a',
    );
    expect(at('probe ')).toBeLessThan(at('run pre-switch-command'));
    expect(at('run pre-switch-command')).toBeLessThan(at('write '));
    expect(at('check each proxy')).toBeLessThan(at('run post-switch-command'));
    expect(at('run post-switch-command')).toBeLessThan(at('watch '));
    expect(result.plan.at(-1)).toBe('run on-failure-command on the runner, should any step fail, after the undo: c');
  });

  it("a URL's credentials in a command reach the command, but no log, result, error or plan", async () => {
    const url = 'https://bot:s3cret@hooks.example.com/T0/B1?token=xyz789';
    const raw = { 'post-switch-command': `notify ${url}` };
    const { host, log, run } = await setup({ live: 'blue', raw });
    host.programs.set('notify', () => ({ exitCode: 1 }));
    const result = await run();
    expect(host.programRuns[0]?.args).toEqual([url]);
    const shown = 'notify "https://***:***@hooks.example.com/T0/B1?***"';
    expect(result.hooks[0]?.command).toBe(shown);
    expect(result.error).toMatch(
      new RegExp(`^post-switch-command exited with code 1: ${shown.replace(/[?*.]/g, '\\$&')}\n`),
    );
    const dry = await setup({ live: 'blue', raw: { ...raw, 'dry-run': 'true' } });
    const plan = (await dry.run()).plan.join('\n');
    for (const text of [log.text, JSON.stringify(result), plan, dry.log.text]) {
      expect(text).not.toMatch(/s3cret|xyz789/);
    }
    expect(plan).toContain(shown);
  });

  it('a rollback runs pre-switch and post-switch too, told it is a rollback', async () => {
    const { host, run } = await setup({
      live: 'green',
      idleStopped: true,
      raw: { command: 'rollback', 'pre-switch-command': 'a', 'post-switch-command': 'b' },
    });
    for (const p of ['a', 'b']) host.programs.set(p, hook());
    expect(await run()).toMatchObject({ status: 'rolled-back', exitCode: 0, color: 'blue' });
    expect(host.programRuns.map((r) => [r.file, r.env.BLUEGREEN_OPERATION, r.env.BLUEGREEN_COLOR])).toEqual([
      ['a', 'rollback', 'blue'],
      ['b', 'rollback', 'blue'],
    ]);
  });

  it('a hook that times out, or cannot be started, fails with the reason', async () => {
    const slow = await setup({ live: 'blue', raw: { 'pre-switch-command': 'slow', 'hook-timeout': '2' } });
    slow.host.programs.set('slow', () => ({ timedOut: true }));
    expect((await slow.run()).error).toMatch(/^pre-switch-command timed out after 2 s: slow\n/);

    const missing = await setup({ live: 'blue', raw: { 'pre-switch-command': 'no-such-program --x' } });
    const result = await missing.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.error).toMatch(/^pre-switch-command could not be started: no-such-program --x\n.*ENOENT/);
  });

  it('cancelled during a hook: the hook is ended and the undo runs', async () => {
    const s = await setup({ live: 'blue', raw: { 'post-switch-command': 'smoke-test' } });
    const controller = new AbortController();
    s.host.programs.set('smoke-test', () => {
      queueMicrotask(() => controller.abort(new Error('SIGINT')));
      return { hang: true };
    });
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^cancelled \(SIGINT\) during post-switch-command\n/);
    expect(s.host.servedColor('proxy')).toBe('blue');
    expect(s.host.changes.slice(-2)).toEqual([RELOAD, STOP_GREEN]);
  });
});

function readFileSyncOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

describe('a real hook process', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-hooks-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Node itself runs the hooks here; docker stays the fake host's. */
  function realHooks(host: Runner): Runner {
    const real = createExecaRunner();
    return {
      // The fake project's directory does not exist here.
      run: (file, args, options) =>
        file === process.execPath ? real.run(file, args, { ...options, cwd: dir }) : host.run(file, args, options),
    };
  }
  /** Whether a process runs: one that was ended but not yet reaped (a zombie, on Linux) does not. */
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    const stat = readFileSyncOrEmpty(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  };

  it('is ended by a cancel, and the undo runs after it', async () => {
    const pidFile = path.join(dir, 'hook.pid');
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`;
    const s = await setup({
      live: 'blue',
      raw: { 'pre-switch-command': `"${process.execPath}" -e "${script.replace(/"/g, '\\"')}"` },
    });
    const controller = new AbortController();
    const waitForPid = (async () => {
      for (;;) {
        const text = await fs.readFile(pidFile, 'utf8').catch(() => '');
        if (text) return Number(text);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    void waitForPid.then(() => controller.abort(new Error('SIGTERM')));
    const result = await execute(s.config, { ...s.deps, runner: realHooks(s.host), signal: controller.signal });
    const pid = await waitForPid;
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^cancelled \(SIGTERM\) during pre-switch-command\n/);
    expect(alive(pid)).toBe(false);
    expect(s.host.changes.at(-1)).toBe(STOP_GREEN);
    expect(s.host.containers.get('app-green')?.running).toBe(false);
  });

  it('is ended at hook-timeout with the processes it started, which hold its output open', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    // A hook that starts a process of its own sharing its output (a shell running curl, a .cmd on Windows).
    const script =
      `const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], ` +
      `{ stdio: 'inherit' }); require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); ` +
      'setInterval(() => {}, 1000);';
    const s = await setup({
      live: 'blue',
      raw: { 'pre-switch-command': quoteWords([process.execPath, '-e', script]), 'hook-timeout': '0.5' },
    });
    const result = await execute(s.config, { ...s.deps, runner: realHooks(s.host) });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^pre-switch-command timed out after 0\.5 s: /);
    expect(result.hooks).toMatchObject([{ name: 'pre-switch', ok: false, timedOut: true }]);
    // The run returned: the grandchild no longer held the output; and it was ended, not left behind.
    expect(alive(Number(await fs.readFile(pidFile, 'utf8')))).toBe(false);
  });
});

describe('one-off services in a color file', () => {
  const greenWithMigrate = (migrate: string) =>
    `services:\n  app-green:\n    build: .\n  migrate-green:\n    build: .\n${migrate}`;

  it('restart: "no" that exits 0 is done; the next deploy still finds green live', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.green.yml`, greenWithMigrate('    restart: "no"\n'));
    host.finishing.add('migrate-green');
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(host.changes[0]).toBe(`${GREEN} up -d --no-deps --build app-green migrate-green`);
    expect(host.containers.get('migrate-green')).toMatchObject({ running: false, exitCode: 0 });

    const again = await run();
    expect(again).toMatchObject({ status: 'deployed', exitCode: 0, previousColor: 'green', color: 'blue' });
    // Cleanup stops the one-off with the rest of its color.
    expect(host.changes.at(-1)).toBe(`${GREEN} stop app-green migrate-green`);
  });

  it('a finished one-off pruned during the drain (docker container prune) does not undo a good deploy', async () => {
    const { host, files, clock, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.green.yml`, greenWithMigrate('    restart: "no"\n'));
    host.finishing.add('migrate-green');
    onDrain(clock, host, () => host.containers.remove(host.containers.get('migrate-green')!));
    expect(await run()).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(host.containers.has('migrate-green')).toBe(false);
  });

  it('the label bluegreen.one-off that exits non-zero fails the health check at once, and rolls back', async () => {
    const { host, files, clock, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.green.yml`, greenWithMigrate('    labels:\n      - bluegreen.one-off=true\n'));
    host.crashing.add('migrate-green');
    const start = clock.now();
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/one-off container \S*migrate-green\S* exited with code 1/);
    expect(clock.now() - start).toBeLessThan(5_000);
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('a one-off still running holds the health check until it is done', async () => {
    const { host, files, run } = await setup({ live: 'blue', raw: { 'health-timeout': '3' } });
    files.put(`${WD}/docker-compose.green.yml`, greenWithMigrate('    restart: "no"\n'));
    const stuck = await run();
    expect(stuck).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(stuck.error).toMatch(/but the one-off container \S*migrate-green\S* has not finished/);

    // The next time, it finishes after a few probes: the deploy waits for it, then goes on.
    let probes = 0;
    const original = host.run.bind(host);
    host.run = async (file, args, options) => {
      const migrate = host.containers.get('migrate-green');
      if (args[0] === 'inspect' && migrate?.running && ++probes === 3) host.setState(migrate, 'exited', 0);
      return original(file, args, options);
    };
    expect(await run()).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(probes).toBe(3);
  });

  it('a rollback starts only the long-running services of the color it goes back to', async () => {
    const { host, files, run } = await setup({ live: 'green', idleStopped: true, raw: { command: 'rollback' } });
    files.put(
      `${WD}/docker-compose.blue.yml`,
      'services:\n  app-blue:\n    build: .\n  migrate-blue:\n    restart: "no"\n',
    );
    // It did its work when blue was deployed, and its container was pruned since.
    const result = await run();
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 0, color: 'blue' });
    expect(host.changes[0]).toBe(
      `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.blue.yml start app-blue`,
    );
  });

  it('a color file of one-offs only is refused before anything changes', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.green.yml`, 'services:\n  app-green:\n    restart: "no"\n');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(result.error).toMatch(/every service of green is a one-off/);
    expect(host.changes).toEqual([]);
  });
});
