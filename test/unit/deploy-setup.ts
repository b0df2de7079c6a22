// The host most deploy tests start from: a compose project with a shared file (proxy, db), one file per color,
// and a proxy that mounts the include from the project's nginx/ directory.
import { loadConfig, type RawInputs } from '../../src/config.js';
import { execute } from '../../src/deploy.js';
import { renderInclude } from '../../src/nginx.js';
import { FakeClock, FakeFiles, FakeHost, FakeJournal, FakeLocks, FakeProcesses, fakeId, RecordingLogger } from './fake-host.js';

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
  const host = new FakeHost(files, { 'app-blue': 8000, 'app-green': 8001 });
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
  if (live) {
    const target = config.targets[0];
    if (target) files.put(INCLUDE, renderInclude(target, live, live === 'blue' ? 8000 : 8001));
    host.addRunning('proxy');
    host.addRunning('db');
    host.addRunning(`app-${live}`);
    if (idleStopped) host.addRunning(`app-${live === 'blue' ? 'green' : 'blue'}`, false);
  } else {
    // Before the first deploy, the include points at a placeholder so that Nginx can start.
    files.put(INCLUDE, 'upstream app {\n    server 127.0.0.1:9;\n}\n');
  }
  host.addProxy('proxy', { [MOUNTED]: INCLUDE });
  files.writes = [];
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const locks = new FakeLocks();
  const journal = new FakeJournal();
  const processes = new FakeProcesses(host);
  const deps = { runner: host, http: host, files, clock, log, locks, journal, processes };
  const run = () => execute(config, deps);
  return { host, files, clock, log, locks, journal, processes, deps, run, config };
}
