// npm run demo: the example app behind Nginx on this machine's Docker engine, deployed twice (blue, then green)
// with the bundled CLI. Works offline: the images are built from files on this machine.
// The deploys read examples/bluegreen.yml (copied into the work directory, where it is the default config file);
// what differs from it here is passed as BLUEGREEN_* environment variables, which override the file.
// npm run demo -- --down removes it again. DEMO_PROJECT, DEMO_PORTS (the colors') and PROXY_PORT change the names
// and ports, so that the end-to-end test can run it beside a demo of yours. BLUEGREEN_COMPOSE_COMMAND ("docker compose"
// or docker-compose) or E2E_COMPOSE (v2 or v1) picks the Compose; unset: docker compose if it answers, else docker-compose.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ensureTestImages } from './images.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The example's settings: the demo's defaults, and what an override is measured against.
const example = parse(readFileSync(path.join(root, 'examples/bluegreen.yml'), 'utf8'));
const project = process.env.DEMO_PROJECT || example['project-name'];
const workdir = path.join(os.tmpdir(), project);
const colorPorts = process.env.DEMO_PORTS || example.ports.join(',');
const proxyPort = process.env.PROXY_PORT ?? '8080';
const env = { ...process.env, PROXY_PORT: proxyPort, NGINX_IMAGE: 'bluegreen-test-nginx:local' };

// One Compose for everything: the CLI's compose-command, the proxy's container name and --down.
// Chosen: also the CLI's input (BLUEGREEN_COMPOSE_COMMAND); probed: the file's auto makes the same choice.
function selectCompose() {
  const named = process.env.BLUEGREEN_COMPOSE_COMMAND?.trim();
  const version = process.env.E2E_COMPOSE?.trim();
  const byVersion = { v1: 'docker-compose', v2: 'docker compose' };
  if (named ? !Object.values(byVersion).includes(named) : version && !byVersion[version]) {
    console.error('BLUEGREEN_COMPOSE_COMMAND is "docker compose" or docker-compose; E2E_COMPOSE is v2 or v1.');
    process.exit(2);
  }
  if (named) return { command: named, chosen: true };
  if (version) return { command: byVersion[version], chosen: true };
  const probed = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;
  return { command: probed ? 'docker compose' : 'docker-compose', chosen: false };
}
const { command: composeCommand, chosen: composeChosen } = selectCompose();
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
// What differs from examples/bluegreen.yml, as the environment variables that override its keys.
const overrides = Object.fromEntries(
  [
    ['BLUEGREEN_PROJECT_NAME', project, project !== example['project-name']],
    ['BLUEGREEN_PORTS', colorPorts, colorPorts !== example.ports.join(',')],
    ['BLUEGREEN_COMPOSE_COMMAND', composeCommand, composeChosen],
    ['BLUEGREEN_NGINX_CONTAINER', proxyContainer, proxyContainer !== example['nginx-container']],
  ]
    .filter(([, , differs]) => differs)
    .map(([name, value]) => [name, value]),
);

for (const version of ['1', '2']) {
  console.log(`\n### Deploy of version ${version}\n`);
  const code = sh(process.execPath, [cli, 'deploy'], { ...overrides, APP_VERSION: version });
  if (code !== 0) process.exit(code);
}

const answer = await (await fetch(`http://127.0.0.1:${proxyPort}/`)).text();
const quote = (word) => (/^[\w./,:=-]+$/.test(word) ? word : `'${word}'`);
const prefix = Object.entries(overrides)
  .map(([name, value]) => `${name}=${quote(value)} `)
  .join('');
const bluegreen = (command) => `${prefix}node dist/cli/index.js ${command} --working-directory ${quote(workdir)}`;
console.log(`
Done. The proxy serves ${answer}
  Open http://127.0.0.1:${proxyPort}/ (the X-Color header and the body say which color answers).
  Settings: ${path.join(workdir, 'bluegreen.yml')}${prefix ? `, overridden by ${Object.keys(overrides).join(', ')}` : ''}
  Status:   ${bluegreen('status')}
  Config:   ${bluegreen('config')}  (every value and where it came from)
  Rollback: the same with "rollback" instead of "status".
  Remove:   npm run demo -- --down`);
