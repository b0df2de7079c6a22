// Compose projects laid out as users lay them out: a shared file with the proxy (and a database stand-in),
// one file per color, an Nginx include that the action rewrites.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTestImages } from '../../../scripts/images.mjs';
import { COMPOSE } from './compose.js';
import { compose, docker, waitFor } from './docker.js';
import { ROOT } from './action.js';
import { get } from './http.js';
import { createProject, freePorts, type TempProject } from './project.js';

export type AppEnv = Record<string, string>;

export interface Stack extends TempProject {
  proxyUrl: string;
  proxyContainer: string;
  ports: { blue: number; green: number };
  /**
   * The action inputs that deploy this stack; a test adds or overrides some. compose-command is the Compose of
   * E2E_COMPOSE, so that a CLI started without runCli uses it too.
   */
  inputs: Record<string, string>;
  /** Sets the environment a color's app gets at its next deploy (the "new version"). */
  setAppEnv(color: 'blue' | 'green', env: AppEnv): Promise<void>;
  /** Starts the shared services, as a user does once before the first deploy. */
  startShared(): Promise<void>;
}

// The Nginx config a user copies from examples/: the tests prove it works.
const PLACEHOLDER = readFileSync(path.join(ROOT, 'examples/nginx/service-url.inc'), 'utf8');
const DEFAULT_CONF = readFileSync(path.join(ROOT, 'examples/nginx/default.conf'), 'utf8');

/**
 * APP_PORT in a color's env also sets the container port that BLUEGREEN_PORT publishes: compose interpolates
 * ${APP_PORT} from the shell, not from the service's environment, so the value is written into the file.
 */
function colorFile(service: string, color: string, env: AppEnv): string {
  const lines = Object.entries({ COLOR: color, ...env }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
  return `services:
  ${service}:
    build: ./app
    environment:
${lines.join('\n')}
    ports: ["127.0.0.1:\${BLUEGREEN_PORT}:\${APP_PORT:-${env.APP_PORT ?? '8000'}}"]
`;
}

/**
 * The default layout: docker-compose.yml (proxy, db), docker-compose.blue.yml / .green.yml (app-blue, app-green,
 * built from ./app), nginx/ mounted as conf.d with service-url.inc holding a placeholder upstream.
 */
export async function createStack(
  options: { env?: Partial<Record<'blue' | 'green', AppEnv>>; greenService?: string } = {},
) {
  const images = await ensureTestImages();
  const [proxyPort = 0, bluePort = 0, greenPort = 0] = await freePorts(3);
  const envs: Record<'blue' | 'green', AppEnv> = { blue: options.env?.blue ?? {}, green: options.env?.green ?? {} };
  const project = await createProject(({ name }) => ({
    'docker-compose.yml': `services:
  proxy:
    image: ${images.nginx}
    container_name: ${name}-proxy
    ports: ["127.0.0.1:${proxyPort}:80"]
    volumes: ["./nginx:/etc/nginx/conf.d"]
  db:
    image: ${images.app}
    environment: { COLOR: db }
`,
    'docker-compose.blue.yml': colorFile('app-blue', 'blue', envs.blue),
    'docker-compose.green.yml': colorFile(options.greenService ?? 'app-green', 'green', envs.green),
    'app/Dockerfile': `FROM ${images.app}\n`,
    'nginx/default.conf': DEFAULT_CONF,
    'nginx/service-url.inc': PLACEHOLDER,
  }));
  return finishStack(project, {
    proxyPort,
    ports: { blue: bluePort, green: greenPort },
    proxyContainer: `${project.name}-proxy`,
    inputs: {
      'project-name': project.name,
      'compose-command': COMPOSE.command,
      ports: `${bluePort},${greenPort}`,
      'health-path': '/health',
      'nginx-container': `${project.name}-proxy`,
      'upstream-file': 'nginx/service-url.inc',
      'upstream-template': 'upstream app {\n    server app-{color}:8000;\n}\n',
      'drain-seconds': '1',
      'health-timeout': '30',
      'health-interval': '0.2',
    },
    rewriteColor: async (color, env) => {
      const fs = await import('node:fs/promises');
      envs[color] = env;
      const service = color === 'green' ? (options.greenService ?? 'app-green') : 'app-blue';
      await fs.writeFile(`${project.dir}/docker-compose.${color}.yml`, colorFile(service, color, env));
    },
    shared: ['proxy', 'db'],
    sharedFiles: ['docker-compose.yml'],
  });
}

/**
 * The seed's layout: docker-compose.yml with the proxy on a named network, docker-compose-blue.yml /
 * docker-compose-green.yml, health path /api/v1/test, and a second, separate proxy (its own compose project)
 * whose include `set $service_url ...;` lives only inside the container and is replaced with docker cp.
 */
export async function createSeedStack() {
  const images = await ensureTestImages();
  const [proxyPort = 0, edgePort = 0, bluePort = 0, greenPort = 0] = await freePorts(4);
  const project = await createProject(({ name }) => {
    const seedColor = (color: string) => `services:
  ts-django-${color}:
    build: ./app
    container_name: ${name}-dev-${color}
    environment:
      COLOR: ${color}
      PORT: "\${BLUEGREEN_PORT}"
      HEALTH_PATH: /api/v1/test
    ports: ["127.0.0.1:\${BLUEGREEN_PORT}:\${BLUEGREEN_PORT}"]
    networks: [test-network]
networks:
  test-network:
    external: true
    name: ${name}-net
`;
    return {
      'docker-compose.yml': `services:
  ts-proxy:
    image: ${images.nginx}
    container_name: ${name}-proxy
    ports: ["127.0.0.1:${proxyPort}:80"]
    volumes: ["./nginx:/etc/nginx/conf.d"]
    networks: [test-network]
  ts-postgres:
    image: ${images.app}
    container_name: ${name}-db
    environment: { COLOR: db }
    networks: [test-network]
networks:
  test-network:
    name: ${name}-net
    driver: bridge
`,
      'docker-compose-blue.yml': seedColor('blue'),
      'docker-compose-green.yml': seedColor('green'),
      'app/Dockerfile': `FROM ${images.app}\n`,
      'nginx/default.conf': DEFAULT_CONF,
      'nginx/service-url.inc': PLACEHOLDER,
      // The second proxy: its own project, its include created inside the container at start.
      'edge/compose.yaml': `services:
  nginx:
    image: ${images.nginx}
    container_name: ${name}-edge
    ports: ["127.0.0.1:${edgePort}:80"]
    volumes: ["./default.conf:/etc/nginx/conf.d/default.conf:ro"]
    command: ["/bin/sh", "-c", "mkdir -p /etc/nginx/conf.d/test-backend && echo 'set $$service_url http://127.0.0.1:9;' > /etc/nginx/conf.d/test-backend/service-url.inc && exec /usr/sbin/nginx -g 'daemon off;'"]
    networks: [test-network]
networks:
  test-network:
    external: true
    name: ${name}-net
`,
      'edge/default.conf': `resolver 127.0.0.11 valid=1s ipv6=off;
server {
    listen 80;
    include /etc/nginx/conf.d/test-backend/service-url.inc;
    location / {
        proxy_pass $service_url;
    }
}
`,
    };
  });
  const edge = `${project.name}-edge`;
  const stack = await finishStack(project, {
    proxyPort,
    ports: { blue: bluePort, green: greenPort },
    proxyContainer: `${project.name}-proxy`,
    inputs: {
      'project-name': project.name,
      'compose-command': COMPOSE.command,
      'color-file': 'docker-compose-{color}.yml',
      ports: `${bluePort},${greenPort}`,
      'health-path': '/api/v1/test',
      'nginx-targets': [
        `- container: ${project.name}-proxy`,
        '  file: nginx/service-url.inc',
        `  template: 'upstream app {\\n    server ${project.name}-dev-{color}:{port};\\n}\\n'`,
        `- container: ${edge}`,
        '  path: /etc/nginx/conf.d/test-backend/service-url.inc',
        "  template: 'set $service_url http://{host}-{color}:{port};'",
        `  host: ${project.name}-dev`,
      ].join('\n'),
      'drain-seconds': '1',
      'health-timeout': '30',
      'health-interval': '0.2',
    },
    shared: ['ts-proxy', 'ts-postgres'],
    sharedFiles: ['docker-compose.yml'],
  });
  const startShared = stack.startShared;
  return {
    ...stack,
    edgeUrl: `http://127.0.0.1:${edgePort}`,
    edgeContainer: edge,
    async startShared() {
      await startShared();
      await compose(`${project.dir}/edge`, ['up', '-d'], {
        projectName: `${project.name}-edge`,
        files: ['compose.yaml'],
      });
      await waitFor(
        async () => (await get(`http://127.0.0.1:${edgePort}/`).catch(() => ({ status: 0 }))).status >= 500,
        30_000,
        {
          description: 'the edge proxy',
        },
      );
    },
    async cleanup() {
      await compose(`${project.dir}/edge`, ['down', '-t', '1'], {
        projectName: `${project.name}-edge`,
        files: ['compose.yaml'],
        reject: false,
      }).catch(() => undefined);
      await stack.cleanup();
    },
  };
}

interface StackParts {
  proxyPort: number;
  ports: { blue: number; green: number };
  proxyContainer: string;
  inputs: Record<string, string>;
  rewriteColor?: (color: 'blue' | 'green', env: AppEnv) => Promise<void>;
  shared: string[];
  sharedFiles: string[];
}

async function finishStack(project: TempProject, parts: StackParts): Promise<Stack> {
  return {
    ...project,
    proxyUrl: `http://127.0.0.1:${parts.proxyPort}`,
    proxyContainer: parts.proxyContainer,
    ports: parts.ports,
    inputs: parts.inputs,
    async setAppEnv(color, env) {
      if (!parts.rewriteColor) throw new Error('this stack has fixed color files');
      await parts.rewriteColor(color, env);
    },
    async startShared() {
      await compose(project.dir, ['up', '-d', '--no-deps', ...parts.shared], {
        projectName: project.name,
        files: parts.sharedFiles,
      });
      await waitFor(
        async () => (await get(`http://127.0.0.1:${parts.proxyPort}/`).catch(() => ({ status: 0 }))).status >= 500,
        30_000,
        {
          description: 'the proxy answering (502 while it points at the placeholder)',
        },
      );
    },
  };
}

/** What the proxy serves now: the color in the X-Color header of a fresh request. */
export async function servedColor(url: string): Promise<string | undefined> {
  return (await get(`${url}/`)).color;
}

/** Container id of a compose service, to check that a deploy did not recreate it. */
export async function serviceContainerId(stack: TempProject, service: string): Promise<string> {
  const r = await docker([
    'ps',
    '-aq',
    '--no-trunc',
    '--filter',
    `label=com.docker.compose.project=${stack.name}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ]);
  return r.stdout.trim();
}

/** Which colors have a running app container. */
export async function runningColors(stack: TempProject): Promise<string[]> {
  const r = await docker([
    'ps',
    '--filter',
    `label=com.docker.compose.project=${stack.name}`,
    '--format',
    '{{.Label "com.docker.compose.service"}}',
  ]);
  return ['blue', 'green'].filter((c) => r.stdout.split('\n').some((s) => s.includes(c)));
}
