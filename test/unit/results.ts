// Results as the engine produces them: each scenario runs execute() on the fake Docker host of deploy-setup.ts, so
// what the report tests format is what a user would be shown, never a hand-typed Result that may drift from it.
import { projectNameOf } from '../../src/docker/compose.js';
import type { JournalEntry } from '../../src/docker/journal.js';
import { thisProcess } from '../../src/docker/lock.js';
import { execute } from '../../src/engine/deployment.js';
import type { Result } from '../../src/engine/result.js';
import { runCommand } from '../../src/main.js';
import { renderInclude } from '../../src/proxy/include.js';
import { eachWatchPoll, INCLUDE, MOUNTED, setup as fakeSetup } from './deploy-setup.js';
import { RecordingLogger } from './fake-host.js';

/**
 * The fake host, whose proxies' old workers stay busy for a minute after a reload (a long request, a WebSocket):
 * each drain lasts its drain-seconds, so that the times shown are fixed by the configuration.
 */
async function setup(options: Parameters<typeof fakeSetup>[0] = {}) {
  const s = await fakeSetup(options);
  s.host.oldWorkersBusyMs = 60_000;
  return s;
}

type Scenario = Awaited<ReturnType<typeof setup>>;

/**
 * A deploy from blue to green that went well: up, health, switch, verify, a 10 s drain and watch, blue stopped.
 * Users' requests come through the proxy meanwhile: 30 a second to green, one of them failed; and in the first
 * second, 2 to blue that were in flight at the switch.
 */
export async function deployedResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  eachWatchPoll(s.clock, s.host, (poll) => {
    s.host.userRequests('proxy', 30, (i) => (i === 7 ? 502 : 200), { ms: 20 + poll });
    if (poll === 0) s.host.userRequests('proxy', 2, () => 200, { color: 'blue', ms: 900 });
  });
  return s.run();
}

/** A first deploy on an empty host: blue comes up behind the placeholder include, nothing served before. */
export async function firstDeployResult(): Promise<Result> {
  return (await setup()).run();
}

export const TEST_NGINX_INCLUDE = '/etc/nginx/conf.d/test-backend/service-url.inc';

/**
 * Blue to green behind two proxies, each telling the color that answered by a header, and a verify-url: the proxy
 * of the project (its include mounted from the runner) and test-nginx (its include inside the container).
 */
export async function twoProxiesResult(): Promise<Result> {
  const targets = [
    '- container: proxy',
    '  file: nginx/service-url.inc',
    '- container: test-nginx',
    `  path: ${TEST_NGINX_INCLUDE}`,
  ].join('\n');
  const s = await setup({
    live: 'blue',
    raw: {
      'nginx-targets': targets,
      'nginx-container': '',
      'upstream-file': '',
      'color-header': 'X-Color',
      'verify-url': 'http://127.0.0.1:8080/',
    },
  });
  const second = s.config.targets[1];
  if (!second) throw new Error('nginx-targets gave no second target');
  s.host.addProxy(
    'test-nginx',
    {},
    { [TEST_NGINX_INCLUDE]: renderInclude(second, 'blue', 8000) },
    { published: { 80: 8081 } },
  );
  s.host.proxyHeaders = (color) => ({ 'x-color': color ?? '' });
  return s.run();
}

export const GREEN_LOG = 'Traceback (most recent call last):\n```KeyError: DATABASE_URL```\n';

/**
 * Green never becomes healthy (HTTP 502 until the 30 s health-timeout): rolled back, green stopped, its log kept.
 * Its log holds a Markdown fence, as a stack trace or a code sample in a log may.
 */
export async function healthRolledBackResult(): Promise<Result> {
  const s = await setup({ live: 'blue', raw: { 'health-timeout': '30' } });
  s.host.appStatus.set('app-green', 502);
  s.host.injections.push((command) => (/^docker logs /.test(command) ? { exitCode: 0, stdout: GREEN_LOG } : undefined));
  return s.run();
}

/** The proxy answers 502 from green after the switch: switched back to blue, green stopped. */
export async function verifyRolledBackResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  s.host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
  return s.run();
}

/** The proxy publishes no port, so it cannot be checked after the switch (verify-proxies: auto): deployed anyway. */
export async function notVerifiedResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  s.host.addProxy('proxy', { [MOUNTED]: INCLUDE }, {}, { published: {} });
  return s.run();
}

/** rollback after a deploy to green with cleanup: stop: blue is started again and takes the traffic back. */
export async function rollbackResult(): Promise<Result> {
  return (await setup({ live: 'green', idleStopped: true, raw: { command: 'rollback' } })).run();
}

/** dry-run of a deploy while blue serves: the plan, nothing changed. */
export async function dryRunResult(): Promise<Result> {
  return (await setup({ live: 'blue', raw: { 'dry-run': 'true' } })).run();
}

/** dry-run on an empty host: no live color, nothing known before. */
export async function firstDryRunResult(): Promise<Result> {
  return (await setup({ raw: { 'dry-run': 'true' } })).run();
}

/** status while green serves, with no deploy lock held. */
export async function statusResult(): Promise<Result> {
  return (await setup({ live: 'green', raw: { command: 'status' } })).run();
}

export const LOCK_HOLDER = {
  pid: 4242,
  host: 'ci-2',
  user: 'runner',
  since: '2025-01-01T00:00:00.000Z',
  command: 'deploy',
};

/** status while green serves and a deploy on another runner holds the lock of the proxy. */
export async function statusLockedResult(): Promise<Result> {
  const s = await setup({ live: 'green', raw: { command: 'status' } });
  s.locks.held = [{ key: 'proxy:proxy', holder: { ...LOCK_HOLDER, token: 'other-run' } }];
  return s.run();
}

/** When the unfinished deploy of the scenarios below began, and when it recorded its last step. */
export const UNFINISHED = { since: '2026-11-29T10:00:00.000Z', at: '2026-11-29T10:00:09.000Z' };

/**
 * The journal of a deploy of green from blue that stopped at `phase` with green's include written, never loaded;
 * green runs. `run` overrides who wrote it (by default a process of this host that is gone).
 */
async function unfinishedDeploy(s: Scenario, phase: JournalEntry['phase'], run: Partial<JournalEntry['run']> = {}) {
  const target = s.config.targets[0];
  if (!target) throw new Error('no proxy target');
  s.host.addRunning('app-green');
  s.files.put(INCLUDE, renderInclude(target, 'green', 8001));
  const entry: JournalEntry = {
    version: 1,
    // A pid no process has here (2^22 - 1): the run died.
    run: { ...thisProcess('dead-run', 'deploy', Date.parse(UNFINISHED.since)), pid: 4_194_303, user: 'ci', ...run },
    command: 'deploy',
    from: 'blue',
    to: 'green',
    phase,
    at: UNFINISHED.at,
    includes: [{ container: target.container, file: INCLUDE, previous: renderInclude(target, 'blue', 8000) }],
    reloading: [],
  };
  s.journal.entries.set(`project:${await projectNameOf(s.config, s.files)}`, entry);
  s.files.writes = [];
}

/**
 * A deploy that finds the unfinished deploy of green (include written, never loaded; green healthy) with two of its
 * child processes still running: they are ended, the switch to green completed, then blue is deployed.
 */
export async function recoveredResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  await unfinishedDeploy(s, 'switch');
  s.processes.running.push(
    { pid: 4250, command: 'docker compose up -d app-green', token: 'dead-run' },
    { pid: 4251, command: 'docker build .', token: 'dead-run' },
  );
  return s.run();
}

/** A deploy whose recovery cannot end a child process of the unfinished deploy: nothing changed, exit 3. */
export async function recoveryFailedResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  await unfinishedDeploy(s, 'up');
  s.processes.running.push({
    pid: 4242,
    command: 'docker compose up -d app-green',
    token: 'dead-run',
    ignoresTerm: true,
  });
  return s.run();
}

/** status while the deploy of another runner (runner-1) is switching the proxies: it may still be under way. */
export async function statusUnderWayResult(): Promise<Result> {
  const s = await setup({ live: 'blue', raw: { command: 'status' } });
  await unfinishedDeploy(s, 'switch', { host: 'runner-1', pid: 4242 });
  return s.run();
}

/** status while a dead deploy of green left its include written and never loaded. */
export async function statusUnfinishedResult(): Promise<Result> {
  const s = await setup({ live: 'blue', raw: { command: 'status' } });
  await unfinishedDeploy(s, 'switch');
  return s.run();
}

/**
 * status, then a deploy, on a host where a dead deploy of green left its include written and never loaded (green
 * healthy): what status said of it, and what the deploy then did about it.
 */
export async function statusThenDeployResults(): Promise<{ status: Result; deploy: Result }> {
  const s = await setup({ live: 'blue', raw: { command: 'status' } });
  await unfinishedDeploy(s, 'switch');
  const status = await s.run();
  const deploy = await execute({ ...s.config, command: 'deploy' }, s.deps);
  return { status, deploy };
}

/** status on the same host, but blue, which the proxies load, has since stopped: green is what runs. */
export async function statusUnfinishedBlueStoppedResult(): Promise<Result> {
  const s = await setup({ live: 'blue', raw: { command: 'status' } });
  await unfinishedDeploy(s, 'switch');
  const blue = s.host.containers.get('app-blue');
  if (!blue) throw new Error('no blue container');
  s.host.setState(blue, 'exited', 137);
  return s.run();
}

/** dry-run while a dead deploy of green left its include written and never loaded. */
export async function dryRunUnfinishedResult(): Promise<Result> {
  const s = await setup({ live: 'blue', raw: { 'dry-run': 'true' } });
  await unfinishedDeploy(s, 'switch');
  return s.run();
}

/** Stopping blue after the switch fails: not rolled back (blue may be stopping), traffic stays on green, exit 3. */
export async function cleanupFailedResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  s.host.fail(/ stop app-blue$/, { exitCode: 1, stderr: 'timeout stopping app-blue' });
  return s.run();
}

/** Another deploy to the same proxies holds the lock: refused before anything is known or changed. */
export async function lockRefusedResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  s.locks.acquire = async () => {
    throw new Error('another deploy to the same proxies is running (process 42)');
  };
  return s.run();
}

/** Both color files define app-blue in one compose project: refused at detection, exit 2. */
export async function sharedServiceResult(): Promise<Result> {
  const s = await setup({ live: 'blue' });
  s.files.put('/srv/app/docker-compose.green.yml', 'services:\n  app-blue:\n    build: .\n');
  return s.run();
}

/**
 * Invalid inputs, through main.ts's runCommand: loadConfig refuses them before any file, docker or engine is used,
 * and runCommand builds the exit-2 result. `log` tells whether anything else ran (it would log the engine first).
 */
export async function invalidInputsResult(command = 'deploy'): Promise<{ result: Result; log: RecordingLogger }> {
  const log = new RecordingLogger();
  const result = await runCommand({ inputs: { command, 'health-timeout': 'soon' }, as: 'flag' }, log);
  return { result, log };
}

/**
 * The migration runs before green starts (it prints two lines); the post-switch smoke test fails with three lines
 * of output, so the proxies go back to blue and green is stopped; the on-failure hook then pages someone.
 */
export async function hooksRolledBackResult(): Promise<Result> {
  const s = await setup({
    live: 'blue',
    raw: {
      'pre-deploy-command': 'python manage.py migrate --noinput',
      'post-switch-command': 'smoke-test --url "http://127.0.0.1/checkout"',
      'on-failure-command': 'page-oncall',
    },
  });
  s.host.oneOffOutcome = () => ({ lines: ['Applying shop.0042_email... OK', 'Applying shop.0043_index... OK'] });
  s.host.programs.set('smoke-test', () => ({ exitCode: 2, lines: ['GET /checkout', '| 500 |', 'FAILED'] }));
  s.host.programs.set('page-oncall', () => ({ exitCode: 0 }));
  return s.run();
}
