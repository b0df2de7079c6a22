// npm run demo: the example app behind Nginx on this machine's Docker engine, deployed twice (blue, then green)
// with the bundled CLI. Works offline: the images are built from files on this machine.
// npm run demo -- --down removes it again. DEMO_PROJECT, DEMO_PORTS (the colors') and PROXY_PORT change the names
// and ports, so that the end-to-end test can run it beside a demo of yours. BLUEGREEN_COMPOSE_COMMAND ("docker compose"
// or docker-compose) or E2E_COMPOSE (v2 or v1) picks the Compose; unset: docker compose if it answers, else docker-compose.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTestImages } from './images.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = process.env.DEMO_PROJECT ?? 'bluegreen-demo';
const workdir = path.join(os.tmpdir(), project);
const colorPorts = process.env.DEMO_PORTS ?? '18000,18001';
const proxyPort = process.env.PROXY_PORT ?? '8080';
const env = { ...process.env, PROXY_PORT: proxyPort, NGINX_IMAGE: 'bluegreen-test-nginx:local' };

// One Compose for everything: the CLI's --compose-command, the proxy's container name and --down.
function selectCompose() {
  const named = process.env.BLUEGREEN_COMPOSE_COMMAND?.trim();
  const version = process.env.E2E_COMPOSE?.trim();
  const byVersion = { v1: 'docker-compose', v2: 'docker compose' };
  if (named ? !Object.values(byVersion).includes(named) : version && !byVersion[version]) {
    console.error('BLUEGREEN_COMPOSE_COMMAND is "docker compose" or docker-compose; E2E_COMPOSE is v2 or v1.');
    process.exit(2);
  }
  if (named) return named;
  if (version) return byVersion[version];
  return spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0
    ? 'docker compose'
    : 'docker-compose';
}
const composeCommand = selectCompose();
const [composeFile, ...composePrefix] = composeCommand.split(' ');
// Compose v2 names containers project-service-1, v1 project_service_1.
const proxyContainer = composeCommand === 'docker compose' ? `${project}-proxy-1` : `${project}_proxy_1`;

function sh(file, args, extraEnv = {}) {
  return spawnSync(file, args, { cwd: workdir, env: { ...env, ...extraEnv }, stdio: 'inherit' }).status ?? 1;
}

if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) {
  console.error('No Docker engine answers. Start one first: sudo bash scripts/provision.sh');
  process.exit(1);
}

if (process.argv.includes('--down')) {
  if (existsSync(workdir)) {
    const files = ['docker-compose.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml'].flatMap((f) => [
      '-f',
      f,
    ]);
    if (sh(composeFile, [...composePrefix, '-p', project, ...files, 'down', '-t', '1']) !== 0) process.exit(1);
    rmSync(workdir, { recursive: true, force: true });
  }
  console.log('Demo removed.');
  process.exit(0);
}

console.log('Building the offline images (nginx and a tiny Node app) from files on this machine...');
await ensureTestImages({ log: (m) => console.log(`  ${m}`) });
// A folder left by a demo whose containers are gone (docker rm, a reboot without restart) would point the proxy at a
// color that no longer runs: start again from examples/.
const ps = spawnSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`], {
  encoding: 'utf8',
});
if (ps.status === 0 && !ps.stdout.trim()) rmSync(workdir, { recursive: true, force: true });
mkdirSync(workdir, { recursive: true });
cpSync(path.join(root, 'examples'), workdir, { recursive: true, force: false, errorOnExist: false });
console.log(`Example project copied to ${workdir} (examples/ of this repository).`);

const cli = path.join(root, 'dist/cli/index.js');
const flags = [
  '--project-name',
  project,
  '--ports',
  colorPorts,
  '--health-path',
  '/health',
  '--compose-command',
  composeCommand,
  '--nginx-container',
  proxyContainer,
  '--upstream-file',
  'nginx/service-url.inc',
  '--upstream-template',
  'upstream app {\\n    server app-{color}:8000;\\n}\\n',
  '--drain-seconds',
  '2',
];

for (const version of ['1', '2']) {
  console.log(`\n### Deploy of version ${version}\n`);
  const code = sh(process.execPath, [cli, 'deploy', ...flags], { APP_VERSION: version });
  if (code !== 0) process.exit(code);
}

const answer = await (await fetch(`http://127.0.0.1:${proxyPort}/`)).text();
const quoted = flags.map((f) => (/^[\w./,:-]+$/.test(f) ? f : `'${f}'`)).join(' ');
console.log(`
Done. The proxy serves ${answer}
  Open http://127.0.0.1:${proxyPort}/ (the X-Color header and the body say which color answers).
  Status:   node dist/cli/index.js status --working-directory ${workdir} ${quoted}
  Rollback: the same with "rollback" instead of "status".
  Remove:   npm run demo -- --down`);
