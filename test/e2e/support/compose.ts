// Which Compose the end-to-end suite drives: E2E_COMPOSE=v1 (docker-compose 1.29) or v2 (the docker compose plugin).
// Unset: v2 when `docker compose version` answers, else v1. Every action and CLI run of the suite gets the matching
// compose-command, and the compose() helper calls the same one, so that a run proves that version works.
import { spawnSync } from 'node:child_process';

export type ComposeVersion = 'v1' | 'v2';

export interface SelectedCompose {
  version: ComposeVersion;
  /** The action's compose-command input. */
  command: 'docker compose' | 'docker-compose';
  /** How to call it: file and the arguments that come first. */
  file: string;
  prefix: string[];
}

function select(): ComposeVersion {
  const wanted = process.env.E2E_COMPOSE?.trim();
  if (wanted === 'v1' || wanted === 'v2') return wanted;
  if (wanted) throw new Error(`E2E_COMPOSE=${wanted}: expected v1 (docker-compose) or v2 (docker compose)`);
  const probe = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 30_000 });
  return probe.status === 0 ? 'v2' : 'v1';
}

const version = select();

export const COMPOSE: SelectedCompose =
  version === 'v2'
    ? { version, command: 'docker compose', file: 'docker', prefix: ['compose'] }
    : { version, command: 'docker-compose', file: 'docker-compose', prefix: [] };
