// Two more Docker engines on this machine (scripts/fleet.sh), each in a network namespace of its own, reached by
// the runner at its namespace's address: engine a over its unix socket, engine b over ssh:// as a remote host would
// be. The same compose project is deployed to both.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTestImages } from '../../../scripts/images.mjs';
import { ROOT } from './action.js';
import { COMPOSE } from './compose.js';
import { get } from './http.js';
import { createProject, freePorts, type TempProject } from './project.js';

const SCRIPT = path.join(ROOT, 'scripts/fleet.sh');

export interface FleetEngine {
  /** a, b or b-ssh */
  name: string;
  /** DOCKER_HOST of the engine. */
  dockerHost: string;
  /** Where the runner reaches the ports it publishes. */
  address: string;
}

async function fleetEnv(): Promise<FleetEngine[] | undefined> {
  const r = await execa('bash', [SCRIPT, 'env'], { reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) return undefined;
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 3)
    .map(([name = '', dockerHost = '', address = '']) => ({ name, dockerHost, address }));
}

/**
 * Starts the fleet unless it runs (CI starts it once), and returns its engines and how to stop what this started.
 * Fails loudly when it cannot: this suite never skips itself.
 */
export async function startFleet(): Promise<{ engines: FleetEngine[]; stop(): Promise<void> }> {
  const running = await fleetEnv();
  if (!running) {
    const r = await execa('bash', [SCRIPT, 'start'], { reject: false, timeout: 600_000, all: true });
    if (r.exitCode !== 0) throw new Error(`scripts/fleet.sh start failed (it needs root):\n${r.all}`);
  }
  const engines = await fleetEnv();
  if (!engines?.length) throw new Error('scripts/fleet.sh env lists no engine after start');
  return {
    engines,
    stop: async () => {
      if (!running) await execa('bash', [SCRIPT, 'stop'], { reject: false, timeout: 300_000 });
    },
  };
}

/** A docker or compose command against one engine of the fleet. */
export function onEngine(engine: FleetEngine) {
  const env = { DOCKER_HOST: engine.dockerHost };
  return {
    docker: (args: string[], input?: string) => execa('docker', args, { env, input, timeout: 180_000 }),
    compose: (dir: string, project: string, args: string[]) =>
      execa(COMPOSE.file, [...COMPOSE.prefix, '-p', project, ...args], { cwd: dir, env, timeout: 180_000 }),
  };
}

export interface FleetStack extends TempProject {
  proxyPort: number;
  ports: { blue: number; green: number };
  proxyContainer: string;
  /** The CLI's flags for this project (hosts come from its bluegreen.yml). */
  flags: string[];
  /** What each engine's proxy answers now: the color of the app behind it. */
  served(engine: FleetEngine): Promise<string>;
  /** The app's base image on an engine: its next build of a color starts from it (a release per host). */
  setBase(engine: FleetEngine, env: Record<string, string>): Promise<void>;
  /** Rewrites a color's compose file with this environment for the app. */
  setColorEnv(color: 'blue' | 'green', env: Record<string, string>): Promise<void>;
}

const PLACEHOLDER = readFileSync(path.join(ROOT, 'examples/nginx/service-url.inc'), 'utf8');
const DEFAULT_CONF = readFileSync(path.join(ROOT, 'examples/nginx/default.conf'), 'utf8');
const INCLUDE = '/etc/nginx/conf.d/service-url.inc';

/**
 * One compose project for every host, as users keep one repository for their fleet: the proxy's image carries its
 * config and the placeholder include (a remote host's disk is not the runner's: the include is written with docker
 * cp); every port is published on the namespace's addresses, which the runner reaches.
 */
export async function createFleetStack(engines: FleetEngine[]): Promise<FleetStack> {
  const images = await ensureTestImages();
  const [proxyPort = 0, bluePort = 0, greenPort = 0] = await freePorts(3);
  const colorFile = (color: string, env: Record<string, string>) => {
    const lines = Object.entries({ COLOR: color, ...env }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
    return `services:\n  app-${color}:\n    build: ./app\n    environment:\n${lines.join('\n')}\n    ports: ["\${BLUEGREEN_PORT}:8000"]\n`;
  };
  const project = await createProject(({ name }) => ({
    'docker-compose.yml': `services:
  proxy:
    build: ./proxy
    container_name: ${name}-proxy
    ports: ["${proxyPort}:80"]
  db:
    image: ${images.app}
    environment: { COLOR: db }
`,
    'docker-compose.blue.yml': colorFile('blue', {}),
    'docker-compose.green.yml': colorFile('green', {}),
    'app/Dockerfile': `FROM ${name}-base\n`,
    'proxy/Dockerfile': `FROM ${images.nginx}\nCOPY default.conf service-url.inc /etc/nginx/conf.d/\n`,
    'proxy/default.conf': DEFAULT_CONF,
    'proxy/service-url.inc': PLACEHOLDER,
    'bluegreen.yml': [
      'hosts:',
      ...engines.map((e) => `  - { docker: "${e.dockerHost}", name: ${e.name}, health-host: ${e.address} }`),
      '',
    ].join('\n'),
  }));
  const byName = new Map(engines.map((e) => [e.name, e]));
  const at = (engine: FleetEngine) => byName.get(engine.name) ?? engine;
  const stack: FleetStack = {
    ...project,
    proxyPort,
    ports: { blue: bluePort, green: greenPort },
    proxyContainer: `${project.name}-proxy`,
    flags: [
      '--project-name',
      project.name,
      '--ports',
      `${bluePort},${greenPort}`,
      '--health-path',
      '/health',
      '--nginx-container',
      `${project.name}-proxy`,
      '--upstream-path',
      INCLUDE,
      '--upstream-template',
      'upstream app {\\n    server app-{color}:8000;\\n}\\n',
      '--drain-seconds',
      '1',
      '--health-timeout',
      '30',
      '--health-interval',
      '0.2',
      '--compose-command',
      COMPOSE.command,
    ],
    async served(engine) {
      const r = await get(`http://${at(engine).address}:${proxyPort}/`, { timeoutMs: 5_000 });
      return String(r.headers['x-color'] ?? `HTTP ${r.status}`);
    },
    async setBase(engine, env) {
      const lines = Object.entries(env).map(([k, v]) => `ENV ${k}=${v}`);
      await onEngine(engine).docker(
        ['build', '-q', '-t', `${project.name}-base`, '-'],
        `FROM ${images.app}\n${lines.join('\n')}\n`,
      );
    },
    async setColorEnv(color, env) {
      const fs = await import('node:fs/promises');
      await fs.writeFile(path.join(project.dir, `docker-compose.${color}.yml`), colorFile(color, env));
    },
    cleanup: async () => {
      await Promise.all(
        engines.map(async (e) => {
          const on = onEngine(e);
          const files = ['-f', 'docker-compose.yml', '-f', 'docker-compose.blue.yml', '-f', 'docker-compose.green.yml'];
          await on.compose(project.dir, project.name, [...files, 'down', '-v', '-t', '1']).catch(() => undefined);
          await on.docker(['rmi', '-f', `${project.name}-base`]).catch(() => undefined);
        }),
      );
      await project.cleanup();
    },
  };
  for (const e of engines) await stack.setBase(e, {});
  return stack;
}
