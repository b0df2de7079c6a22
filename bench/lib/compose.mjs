// The Compose that both tools call, the same for both: v2 (`docker compose`, the plugin) by default, v1
// (`docker-compose`, the Python program) with --compose v1. The action is told it with its compose-command input,
// the baseline calls it itself, and the benchmark starts and removes each stack's shared services with it too.
import { run } from './proc.mjs';

export const COMPOSE = {
  v2: { name: 'v2', file: 'docker', prefix: ['compose'], command: 'docker compose' },
  v1: { name: 'v1', file: 'docker-compose', prefix: [], command: 'docker-compose' },
};

/** The CLI for `v2` or `v1`; throws on anything else. */
export function composeCli(which) {
  const cli = COMPOSE[which];
  if (!cli) throw new Error(`--compose must be v2 or v1, not ${which}`);
  return cli;
}

/** [file, args] of a compose call: `docker compose <args>` or `docker-compose <args>`. */
export const composeArgs = (cli, args) => [cli.file, [...cli.prefix, ...args]];

/** `version --short` of this CLI (e.g. 2.26.1-4 or 1.29.2), or undefined when it does not answer. */
export async function composeVersion(cli) {
  const r = await run(...composeArgs(cli, ['version', '--short']), { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim().split('\n')[0] : undefined;
}

/**
 * The version of Compose that created this container, from the label every Compose (v1 and v2) puts on its
 * containers: what a tool really used, whatever it was told.
 */
export async function composeVersionOf(container) {
  const r = await run('docker', [
    'inspect',
    '--format',
    '{{index .Config.Labels "com.docker.compose.version"}}',
    container,
  ]);
  const label = r.code === 0 ? r.stdout.trim() : '';
  return label && label !== '<no value>' ? label : undefined;
}
