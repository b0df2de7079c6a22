import type { ProxyTarget } from '../config/config.js';
import type { Clock, Files } from '../io.js';
import type { ContainerSignals } from '../processes.js';
import type { Runner } from '../runner.js';
import type { AccessRecord } from './access-log.js';
import type { IncludeReading, Share } from './include.js';
import { Nginx } from './nginx.js';

/** What a proxy container is, as `docker inspect` tells. */
export interface ProxyState {
  /** Running and not restarting (a crash-looping proxy shows running between its restarts). */
  running: boolean;
  status: string;
  /** Times Docker's restart policy restarted it, and when it last started (ms since the epoch). */
  restartCount: number;
  startedAt: number;
  /** The compose service and the project's directory, when compose created it. */
  service?: string;
  workingDir?: string;
  /** Published TCP ports: container port → host address and port. */
  published: Map<number, { hostIp: string; hostPort: number }>;
}

/**
 * Everything the engine does to a proxy goes through this: it points proxies at a color by writing their include,
 * has each proxy test the result, and reloads them. A new kind of proxy implements it and is chosen below.
 */
export interface Proxy {
  /** Where a target's include is, in words for the log. */
  describe(target: ProxyTarget): string;
  /** The include as it is now; null when there is none. */
  read(target: ProxyTarget): Promise<string | null>;
  write(target: ProxyTarget, content: string): Promise<void>;
  /** The include that points a target at one color. */
  render(target: ProxyTarget, color: string, port: number): string;
  /** The include that splits a target's requests between two colors (a canary step). */
  renderSplit(target: ProxyTarget, from: Share, to: Share): string;
  /** Which color an include points at. */
  reading(
    content: string | null,
    target: ProxyTarget,
    colors: readonly string[],
    ports: readonly number[],
  ): IncludeReading;
  /**
   * Has the proxy test its whole configuration with `expected` as the include now on disk; resolves with the
   * ports it listens on, rejects with what the proxy said.
   */
  test(target: ProxyTarget, expected: string): Promise<number[]>;
  /** Tests the configuration as it is, whatever the include holds. */
  testOnly(container: string): Promise<void>;
  /** What reload() needs to confirm the new configuration took effect, taken off the path to the reload. */
  beforeReload(container: string): Promise<unknown>;
  /** Reloads; resolves true once the new configuration serves, false when that cannot be seen. */
  reload(container: string, options?: ReloadOptions): Promise<boolean>;
  /**
   * After a reload with `until: 'started'`: resolves once none of the proxy's processes from before it takes new
   * requests (at once when it was not reloaded); rejects when that does not come.
   */
  settled(container: string, signal?: AbortSignal): Promise<void>;
  /**
   * How many of the proxy's processes still finish requests they took before its last reload (0: none, so none can
   * reach the color it pointed at before); undefined when that cannot be seen.
   */
  draining(container: string, timeoutMs: number): Promise<number | undefined>;
  /** Each proxy container that exists. */
  inspect(containers: string[]): Promise<Map<string, ProxyState>>;
  /** Restarts a proxy that could not run before its include named a color. */
  restart(container: string): Promise<void>;
  /** Waits until a proxy just started runs and stays up; rejects with its log otherwise. */
  waitStarted(container: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Follows what the proxy logs of its requests from `since` (ms since the epoch) until `signal` aborts: each
   * request as it is logged. Resolves when the follow ends: undefined once stopped, or why the log cannot be read.
   */
  followAccessLog(
    container: string,
    since: number,
    onRecord: (record: AccessRecord) => void,
    signal: AbortSignal,
  ): Promise<string | undefined>;
  /** The commands a switch runs in a proxy, for the dry run's plan. */
  planSwitch(container: string): string;
}

export interface ReloadOptions {
  /** beforeReload(), taken off the path to the reload. */
  taken?: Promise<unknown>;
  signal?: AbortSignal;
  /**
   * settled (the default): until no process from before the reload takes new requests, so that the color it left
   * can be stopped at once. started: until the new configuration takes requests; the old processes may still take
   * some for a moment (Nginx: 100 ms), which the drain that follows waits out.
   */
  until?: 'started' | 'settled';
}

export interface ProxyDeps {
  runner: Runner;
  files: Files;
  clock: Clock;
  /** Given when the engine is on this machine's socket: a reload may then signal the master directly. */
  signals?: ContainerSignals;
}

/** The one place that chooses the kind of proxy: Nginx is the only one so far. */
export function createProxy(deps: ProxyDeps): Proxy {
  return new Nginx(deps.runner, deps.files, deps.clock, deps.signals);
}
