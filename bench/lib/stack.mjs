// One compose project per tool, laid out as the seed lays it out: docker-compose.yml with the shared services
// (the Nginx proxy with ./nginx mounted on conf.d, a database stand-in, a named bridge network) and one file per
// color, docker-compose.blue.yml / docker-compose.green.yml, each defining one app container on that network.
// nginx/default.conf includes service-url.inc, which holds `upstream app { server ...; }` and is rewritten at
// every switch.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPOSE, composeArgs } from './compose.mjs';
import { run, runOk, sleep } from './proc.mjs';

// The Nginx config a user copies from examples/, for both tools.
const EXAMPLES = fileURLToPath(new URL('../../examples/nginx/', import.meta.url));
const PLACEHOLDER = readFileSync(path.join(EXAMPLES, 'service-url.inc'), 'utf8');
const DEFAULT_CONF = readFileSync(path.join(EXAMPLES, 'default.conf'), 'utf8');
export const HEALTH_PATH = '/api/v1/test';

function sharedFile(name, images, proxyPort) {
  return `services:
  proxy:
    image: ${images.nginx}
    container_name: ${name}-proxy
    ports: ["127.0.0.1:${proxyPort}:80"]
    volumes: ["./nginx:/etc/nginx/conf.d"]
    networks: [appnet]
  db:
    image: ${images.app}
    container_name: ${name}-db
    environment: { COLOR: db }
    networks: [appnet]
networks:
  appnet:
    name: ${name}-net
    driver: bridge
`;
}

// APP_VERSION comes from the environment of the compose call: every deploy is a new version (a new container).
function colorFile(name, color, port, startupDelayMs, dockerHealthcheck, exitOnSigterm) {
  return `services:
  app-${color}:
    build: ./app
    container_name: ${name}-dev-${color}
    environment:
      COLOR: ${color}
      APP_VERSION: "\${APP_VERSION:-0}"
      HEALTH_PATH: ${HEALTH_PATH}
      STARTUP_DELAY_MS: "${startupDelayMs}"
      EXIT_ON_SIGTERM: "${exitOnSigterm ? 1 : 0}"
    ports: ["127.0.0.1:${port}:8000"]
    networks: [appnet]${dockerHealthcheck ? '' : '\n    healthcheck: { disable: true }'}
networks:
  appnet:
    external: true
    name: ${name}-net
`;
}

/**
 * dockerHealthcheck keeps the app image's HEALTHCHECK (every 1 s), which the action waits for (off: disabled);
 * exitOnSigterm makes the app exit at once on SIGTERM, cutting its requests in flight, as many apps do; compose is
 * the CLI (bench/lib/compose.mjs) that starts and removes the shared services (v1 unless told: bench:canary's).
 * Writes the project into <tmp>/bgbench-XXXX/<name>/: the directory is named like the project because the seed's
 * pipeline calls compose without -p, so compose takes the project name from the directory.
 */
export async function createStack(
  tool,
  { images, startupDelayMs, dockerHealthcheck = false, exitOnSigterm = false, compose = COMPOSE.v1 },
) {
  const name = `bgbench-${tool}-${randomBytes(3).toString('hex')}`;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bgbench-'));
  const dir = path.join(root, name);
  const [proxyPort, bluePort, greenPort] = await freePorts(3);
  const files = {
    'docker-compose.yml': sharedFile(name, images, proxyPort),
    'docker-compose.blue.yml': colorFile(name, 'blue', bluePort, startupDelayMs, dockerHealthcheck, exitOnSigterm),
    'docker-compose.green.yml': colorFile(name, 'green', greenPort, startupDelayMs, dockerHealthcheck, exitOnSigterm),
    'app/Dockerfile': `FROM ${images.app}\n`,
    'nginx/default.conf': DEFAULT_CONF,
    'nginx/service-url.inc': PLACEHOLDER,
  };
  for (const [relative, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await fs.writeFile(path.join(dir, relative), content);
  }
  const proxyContainer = `${name}-proxy`;
  return {
    tool,
    name,
    dir,
    root,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    proxyContainer,
    ports: { blue: bluePort, green: greenPort },
    includeFile: 'nginx/service-url.inc',
    // Both tools write the same include: the proxy reaches a color by its container name on the shared network.
    template: `upstream app {\n    server ${name}-dev-{color}:8000;\n}\n`,
    appContainer: (color) => `${name}-dev-${color}`,
    compose,
    startShared: () => startShared(compose, dir, name, proxyPort),
    cleanup: () => cleanupStack(compose, root, dir, name, proxyContainer),
  };
}

/** The user's one-time step before the first deploy: start the proxy and the database. */
async function startShared(compose, dir, name, proxyPort) {
  await runOk(...composeArgs(compose, ['-p', name, '-f', 'docker-compose.yml', 'up', '-d']), { cwd: dir });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${proxyPort}/`], {
      timeoutMs: 5_000,
    });
    if (r.stdout === '502') return; // the proxy answers, pointing at the placeholder
    await sleep(200);
  }
  throw new Error(`the proxy of ${name} did not answer within 30 s`);
}

/** Removes the project's containers, network, built images and files; never throws. */
async function cleanupStack(compose, root, dir, name, proxyContainer) {
  // The shared file last: with v1 its definition of the network (not external) wins, so down removes it (v2 merges
  // the two definitions into an external one: the network is removed below).
  const files = ['docker-compose.blue.yml', 'docker-compose.green.yml', 'docker-compose.yml'].flatMap((f) => ['-f', f]);
  const opts = { duringAbort: true };
  const down = ['-p', name, ...files, 'down', '-v', '--rmi', 'local', '--remove-orphans', '-t', '1'];
  await run(...composeArgs(compose, down), { ...opts, cwd: dir, timeoutMs: 120_000 });
  // Whatever compose missed.
  const label = `label=com.docker.compose.project=${name}`;
  const ids = (await run('docker', ['ps', '-aq', '--filter', label], opts)).stdout.split(/\s+/).filter(Boolean);
  if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids], opts);
  await run('docker', ['network', 'rm', `${name}-net`], opts);
  // Built images: <project>_<service> with v1, <project>-<service> with v2.
  const built = ['blue', 'green'].flatMap((color) => [`${name}_app-${color}`, `${name}-app-${color}`]);
  await run('docker', ['image', 'rm', ...built], opts);
  await fs.rm(root, { recursive: true, force: true }).catch(() => {});
  // The action's lock for this proxy (a container on the engine), in case a run was killed before releasing it.
  const lock = `label=bluegreen-action.lock=proxy:${proxyContainer}`;
  const locks = (await run('docker', ['ps', '-aq', '--filter', lock], opts)).stdout.split(/\s+/).filter(Boolean);
  if (locks.length) await run('docker', ['rm', '-f', ...locks], opts);
}

/** Distinct free TCP ports on 127.0.0.1 (all sockets stay open until every port is known). */
async function freePorts(count) {
  const servers = [];
  try {
    const ports = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      ports.push(server.address().port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/**
 * Epoch ms at which Docker started the container (`.State.StartedAt`, the engine's clock, the same as the app's:
 * one kernel), or undefined.
 */
export async function startedTime(container) {
  const r = await run('docker', ['inspect', '--format', '{{.State.StartedAt}}', container]);
  const t = r.code === 0 ? Date.parse(r.stdout.trim()) : NaN;
  return Number.isFinite(t) && t > 0 ? t : undefined;
}

/** Epoch ms of the new color's `listening ... t=<ms>` log line printed at or after `since`. */
export async function readyTime(container, color, since) {
  const r = await run('docker', ['logs', container]);
  let t;
  for (const m of `${r.stdout}\n${r.stderr}`.matchAll(/listening color=(\S+) port=\d+ t=(\d+)/g)) {
    const at = Number(m[2]);
    if (m[1] === color && at >= since) t = at;
  }
  return t;
}
