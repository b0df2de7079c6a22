// The host most deploy tests start from: a compose project with a shared file (proxy, db), one file per color,
// and a proxy that mounts the include from the project's nginx/ directory.
import { loadConfig } from '../../src/config/config.js';
import { projectNameOf } from '../../src/docker/compose.js';
import type { JournalEntry } from '../../src/docker/journal.js';
import { thisProcess } from '../../src/docker/lock.js';
import type { RawInputs } from '../../src/inputs.js';
import { execute, type Deps } from '../../src/engine/deployment.js';
import { describeCommand } from '../../src/runner.js';
import { WATCH_POLL_MS } from '../../src/engine/watch.js';
import { renderInclude } from '../../src/proxy/include.js';
import {
  FakeClock,
  FakeFiles,
  FakeHost,
  FakeJournal,
  FakeLocks,
  FakeProcesses,
  fakeId,
  RecordingLogger,
} from './fake-host.js';

export const WD = '/srv/app';
export const INCLUDE = `${WD}/nginx/service-url.inc`;
export const MOUNTED = '/etc/nginx/conf.d/service-url.inc';
export const TEMPLATE = 'upstream app {\n    server app-{color}:{port};\n}\n';
export const COMPOSE = {
  [`${WD}/docker-compose.yml`]: 'services:\n  proxy:\n    image: nginx\n  db:\n    image: postgres\n',
  [`${WD}/docker-compose.blue.yml`]: 'services:\n  app-blue:\n    build: .\n',
  [`${WD}/docker-compose.green.yml`]: 'services:\n  app-green:\n    build: .\n',
};
export const UP_GREEN = `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml up -d --no-deps --build app-green`;
export const UP_BLUE = `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.blue.yml up -d --no-deps --build app-blue`;
export const STOP_BLUE = `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.blue.yml stop app-blue`;
/** The undo stops the new color's containers with docker directly (compose v1 takes half a second to start). */
export const STOP_GREEN = `docker stop ${fakeId('app-green')}`;
export const RELOAD = 'docker exec proxy nginx -s reload';

export interface Setup {
  raw?: RawInputs;
  /** The color that serves before the run; undefined is an empty host. */
  live?: 'blue' | 'green';
  /** Leave the idle color's stopped container in place (as cleanup: stop does). */
  idleStopped?: boolean;
}

export async function setup({ raw = {}, live, idleStopped }: Setup = {}) {
  const files = new FakeFiles(COMPOSE);
  files.dirs.add(`${WD}/nginx`);
  const config = await loadConfig(
    {
      'working-directory': WD,
      'nginx-container': 'proxy',
      'upstream-file': 'nginx/service-url.inc',
      'upstream-template': TEMPLATE,
      'health-path': '/health',
      ...raw,
    },
    files,
  );
  // The compose project of a color's containers: its own when project-name has {color}, where the shared services
  // are put in the first color's; else the one project of the shared files, named as compose names it.
  const separate = config.projectName.includes('{color}');
  const shared = separate
    ? config.projectName.replace(/\{color\}/g, config.colors[0] ?? '')
    : await projectNameOf(config, files);
  const projectOf = (color?: string) => (separate && color ? config.projectName.replace(/\{color\}/g, color) : shared);
  const host = new FakeHost(files, { 'app-blue': 8000, 'app-green': 8001 }, { project: shared, workingDir: WD });
  // Told to use compose v2, the host has it, and the containers already there are named as v2 names them.
  host.composeV2 = config.composeCommand === 'docker compose';
  if (live) {
    const idle = live === 'blue' ? 'green' : 'blue';
    const target = config.targets[0];
    if (target) files.put(INCLUDE, renderInclude(target, live, live === 'blue' ? 8000 : 8001));
    host.addRunning('proxy');
    host.addRunning('db');
    host.addRunning(`app-${live}`, true, { project: projectOf(live) });
    if (idleStopped) host.addRunning(`app-${idle}`, false, { project: projectOf(idle) });
  } else {
    // Before the first deploy, the include points at a placeholder so that Nginx can start.
    files.put(INCLUDE, 'upstream app {\n    server 127.0.0.1:9;\n}\n');
  }
  host.addProxy('proxy', { [MOUNTED]: INCLUDE });
  files.writes = [];
  const clock = new FakeClock();
  host.clock = clock;
  const log = new RecordingLogger();
  const locks = new FakeLocks();
  const journal = new FakeJournal();
  const processes = new FakeProcesses(host);
  const deps = { runner: host, http: host, files, clock, log, locks, journal, processes };
  const run = () => execute(config, deps);
  /** Another run on the same host, with some settings changed (a rollback after deploys). */
  const runWith = (changed: Partial<typeof config>) => execute({ ...config, ...changed }, deps);
  return { host, files, clock, log, locks, journal, processes, deps, run, runWith, config, projectOf };
}

/** Runs `fn` once, at the drain's first wait (the watch's: it reads the proxies' logs every second). */
export function onDrain(clock: FakeClock, host: FakeHost, fn: () => void, color = 'green'): void {
  const sleep = clock.sleep.bind(clock);
  let done = false;
  clock.sleep = async (ms, signal) => {
    if (!done && ms === WATCH_POLL_MS && host.servedColor('proxy') === color) {
      done = true;
      fn();
    }
    return sleep(ms, signal);
  };
}

/**
 * Runs `fn` at every wait of the watch, once the proxy serves `color`: users' requests arriving meanwhile. A wait
 * cut short (the drain ended) brings none.
 */
export function eachWatchPoll(clock: FakeClock, host: FakeHost, fn: (poll: number) => void, color = 'green'): void {
  const sleep = clock.sleep.bind(clock);
  let poll = 0;
  clock.sleep = async (ms, signal) => {
    await sleep(ms, signal);
    if (ms === WATCH_POLL_MS && !signal?.aborted && host.servedColor('proxy') === color) fn(poll++);
  };
}

/**
 * A deploy of blue → green that died at `phase`, as its journal keeps it: its process is gone (no process has pid
 * 2^22 - 1 here), and the include it was about to change pointed at blue.
 */
export function unfinishedDeploy(phase: JournalEntry['phase'], patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    version: 1,
    run: { ...thisProcess('dead-run', 'deploy', 0), pid: 4_194_303 },
    command: 'deploy',
    from: 'blue',
    to: 'green',
    phase,
    at: new Date(0).toISOString(),
    includes: [
      {
        container: 'proxy',
        file: INCLUDE,
        previous: renderInclude(
          { container: 'proxy', host: 'localhost', template: TEMPLATE, file: INCLUDE },
          'blue',
          8000,
        ),
      },
    ],
    reloading: [],
    ...patch,
  };
}

/**
 * A kill at instant `at` of a run: each side effect (a command, an HTTP request, a file or journal write, a sleep) is
 * an instant, named in `labels`; the run dies before or after instant `at`, and that call and every later one never
 * return, as after SIGKILL. `deps` wraps a run's Deps (of one host among several: `prefix` names it in the labels).
 */
export function killSwitch(at: number, when: 'before' | 'after') {
  const labels: string[] = [];
  let dead = false;
  let died: () => void = () => undefined;
  const death = new Promise<void>((resolve) => (died = resolve));
  const never = new Promise<never>(() => undefined);
  const step = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    if (dead) return never;
    labels.push(label);
    const n = labels.length;
    if (n === at && when === 'before') {
      dead = true;
      died();
      return never;
    }
    const value = await fn();
    if (dead || n === at) {
      if (!dead) died();
      dead = true;
      return never;
    }
    return value;
  };
  const deps = (d: Deps, prefix = ''): Deps => ({
    ...d,
    runner: {
      run: (file, args, o) => step(`${prefix}${describeCommand(file, args)}`, () => d.runner.run(file, args, o)),
    },
    http: { get: (url, o) => step(`${prefix}GET ${url}`, () => d.http.get(url, o)) },
    files: {
      read: (p) => d.files.read(p),
      kind: (p) => d.files.kind(p),
      write: (p, c) => step(`${prefix}write ${p}`, () => d.files.write(p, c)),
    },
    clock: { now: () => d.clock.now(), sleep: (ms, s) => step(`${prefix}sleep ${ms}`, () => d.clock.sleep(ms, s)) },
    journal: {
      read: (key) => step(`${prefix}journal read`, () => d.journal.read(key)),
      write: (key, e) => step(`${prefix}journal ${e.phase}`, () => d.journal.write(key, e)),
      clear: (key) => step(`${prefix}journal clear`, () => d.journal.clear(key)),
      settle: (key) => d.journal.settle(key),
    },
    log: new RecordingLogger(),
  });
  return { labels, death, deps };
}
