import type { Runner } from '../runner.js';
import type { EngineClock } from '../io.js';

/**
 * Where docker runs: the one engine that every docker and compose command of a run talks to. It is read once, from
 * the variables the docker CLI itself reads, and pinned on every docker and compose child process, so that no
 * command of a run can reach another engine (a step that changes DOCKER_HOST midway, a compose file's own env).
 * With several hosts (the input hosts), each host's commands are pinned to its own engine.
 */
export interface DockerEndpoint {
  /** DOCKER_HOST (unix://, tcp://, ssh://, npipe://), when set. */
  host?: string;
  /** DOCKER_CONTEXT, when set. DOCKER_HOST wins over it, as in the docker CLI. */
  context?: string;
}

/** The docker and compose executables, whose children are pinned to the endpoint. */
const DOCKER_FILES = new Set(['docker', 'docker-compose']);

export function endpointOf(env: Readonly<Record<string, string | undefined>>): DockerEndpoint {
  const host = env.DOCKER_HOST?.trim() || undefined;
  const context = env.DOCKER_CONTEXT?.trim() || undefined;
  return host ? { host } : context ? { context } : {};
}

export function describeEndpoint(endpoint: DockerEndpoint): string {
  if (endpoint.host) return `DOCKER_HOST=${endpoint.host}`;
  if (endpoint.context) return `docker context ${endpoint.context}`;
  return "the docker CLI's current context (neither DOCKER_HOST nor DOCKER_CONTEXT is set)";
}

/** A runner whose docker and compose commands all go to `endpoint`; other commands are left as they are. */
export function onEndpoint(runner: Runner, endpoint: DockerEndpoint): Runner {
  // A context is only used where DOCKER_HOST is empty (the CLI and Compose read an empty one as unset).
  const pinned: Record<string, string> = endpoint.host
    ? { DOCKER_HOST: endpoint.host }
    : endpoint.context
      ? { DOCKER_CONTEXT: endpoint.context, DOCKER_HOST: '' }
      : {};
  if (!Object.keys(pinned).length) return runner;
  return {
    run: (file, args, options) =>
      DOCKER_FILES.has(file)
        ? runner.run(file, args, { ...options, env: { ...options.env, ...pinned } })
        : runner.run(file, args, options),
  };
}

/** The engine is on another machine (or may be): its clock is not the runner's. */
export function isRemote(endpoint: DockerEndpoint): boolean {
  if (endpoint.host) return !/^(unix|npipe):\/\//.test(endpoint.host);
  return endpoint.context !== undefined && endpoint.context !== 'default';
}

/** The engine's clock, as `docker info` tells it: what `docker logs --since` is read by. */
export function engineClock(runner: Runner): EngineClock {
  return {
    async now() {
      const r = await runner.run('docker', ['info', '--format', '{{json .SystemTime}}'], { timeoutMs: 30_000 });
      const text = /^"(.*)"$/.exec(r.stdout.trim())?.[1];
      const at = r.exitCode === 0 && text ? Date.parse(text) : NaN;
      return Number.isFinite(at) ? at : undefined;
    },
  };
}
