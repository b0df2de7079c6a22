// What the figures were measured on, and the bundles' cold start and size.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ACTION_BUNDLE, actionNodeVersion, CLI_BUNDLE, runAction } from './action.mjs';
import { run } from './proc.mjs';
import { median } from './metrics.mjs';

const firstLine = (text) => text.trim().split('\n')[0] ?? '';

/** With `action`, also the Node that runs the action (the benchmarks that only run the CLI do not need it). */
export async function machineInfo(proxyContainer, { action = false } = {}) {
  const docker = await run('docker', ['version', '--format', '{{.Server.Version}} {{.Client.Version}}']);
  const [server, client] = docker.stdout.trim().split(' ');
  const nginx = proxyContainer ? await run('docker', ['exec', proxyContainer, 'nginx', '-v']) : { stderr: '' };
  return {
    date: new Date().toISOString(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    ...(action ? { actionNode: await actionNodeVersion() } : {}),
    docker: { server, client },
    compose: firstLine((await run('docker-compose', ['version', '--short'])).stdout),
    nginx: firstLine(nginx.stderr).replace(/^nginx version: /, ''),
    curl: firstLine((await run('curl', ['--version'])).stdout)
      .split(' ')
      .slice(0, 2)
      .join(' '),
  };
}

/**
 * Median wall time of `node dist/cli/index.js --help` and of the action bundle given an invalid input (it
 * validates, reports and exits at once), over `runs` runs each, plus the bundle sizes in bytes.
 */
export async function coldStart(runs) {
  const cli = [];
  const action = [];
  for (let i = 0; i < runs; i++) {
    const c = await run(process.execPath, [CLI_BUNDLE, '--help']);
    if (c.code !== 0) throw new Error(`the CLI bundle failed to start: ${c.stderr}`);
    cli.push(c.endedAt - c.startedAt);
    const a = await runAction({ command: 'not-a-command' }, { cwd: os.tmpdir(), timeoutMs: 30_000 });
    if (a.code !== 2)
      throw new Error(`the action bundle did not reject an invalid input (exit ${a.code}): ${a.stderr}`);
    action.push(a.endedAt - a.startedAt);
  }
  // index.js loads bundle.js (with Node's compile cache): the size is the bundle's.
  const stat = async (file) => (await fs.stat(path.join(path.dirname(file), 'bundle.js'))).size;
  return {
    runs,
    cliHelpMs: { median: median(cli), values: cli.map(Math.round) },
    actionInvalidInputMs: { median: median(action), values: action.map(Math.round) },
    bundleBytes: { action: await stat(ACTION_BUNDLE), cli: await stat(CLI_BUNDLE) },
  };
}
