import { ConfigError, loadConfig, type Config } from './config/config.js';
import { hostConfigs } from './config/host-configs.js';
import { configTable, DEFAULT_FILES, effectiveInputs, resolveInputs, type Layered } from './config/sources.js';
import {
  describeEndpoint,
  endpointOf,
  engineClock,
  isRemote,
  onEndpoint,
  type DockerEndpoint,
} from './docker/docker.js';
import { localApiSocket, socketTransport, viaEngineApi } from './docker/engine-api.js';
import { dockerJournal } from './docker/journal.js';
import { dockerLocks } from './docker/lock.js';
import { execute, type Deps } from './engine/deployment.js';
import { executeFleet } from './engine/fleet.js';
import { failedResult, type Result } from './engine/result.js';
import { COMMAND_NAMES, type RawInputs } from './inputs.js';
import { hostLogger, nodeFiles, nodeHttp, systemClock, type Logger } from './io.js';
import { procContainerSignals, procProcesses } from './processes.js';
import { createExecaRunner } from './runner.js';

/**
 * A cancelled job (GitHub sends SIGINT, then SIGTERM 7.5 s later; Jenkins sends SIGTERM) ends the step under way
 * and undoes what was done, instead of dying between writing an include and reloading the proxy.
 */
export function cancelOnSignals(log: Logger): AbortSignal {
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) return;
      log.warn(`${signal} received: cancelling, undoing what was done.`);
      controller.abort(new Error(signal));
    });
  }
  return controller.signal;
}

/** How long a deploy waits for another one to the same proxies before it gives up. */
const LOCK_WAIT_MS = 15 * 60_000;

/** What the CLI's flags or the action's inputs hold; the environment, the config file and the defaults fill the rest. */
export interface Given {
  inputs: RawInputs;
  as: 'flag' | 'input';
}

/** The version of the JSON that --json prints; fields are only added within one version. */
export const SCHEMA_VERSION = 1;

function layer(given: Given): Promise<Layered> {
  return resolveInputs({
    given: given.inputs,
    givenAs: given.as,
    env: process.env,
    cwd: process.cwd(),
    files: nodeFiles,
  });
}

export interface ConfigReport {
  schemaVersion: number;
  file: string | null;
  environment: string | null;
  inputs: Record<string, { value: string; source: string }>;
  valid: boolean;
  error?: string;
  /** The table a log shows: input, value, source. */
  table: string[];
}

/** `bluegreen config`: every input's value and where it came from, validated as a run would; nothing runs. */
export async function describeConfig(given: Given): Promise<ConfigReport> {
  const report = (layered: Layered | undefined, error?: string): ConfigReport => ({
    schemaVersion: SCHEMA_VERSION,
    file: layered?.file ?? null,
    environment: layered?.environment ?? null,
    inputs: Object.fromEntries(
      (layered ? effectiveInputs(layered) : []).map((i) => [i.name, { value: i.value, source: i.source }]),
    ),
    valid: error === undefined,
    ...(error === undefined ? {} : { error }),
    table: layered ? configTable(layered) : [],
  });
  let layered: Layered | undefined;
  try {
    layered = await layer(given);
    const raw = { ...layered.raw, command: 'deploy' };
    const config = await loadConfig(raw, nodeFiles, layered.sources);
    if (config.hosts.length) await hostConfigs(config, raw, nodeFiles, layered.sources);
    return report(layered);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return report(layered, error.message);
  }
}

/** The real docker (its API on a local socket when it has one), HTTP, files and clock, for one engine. */
async function engineDeps(
  config: Config,
  endpoint: DockerEndpoint,
  log: Logger,
  signal?: AbortSignal,
  fleet = false,
): Promise<Deps> {
  const cli = onEndpoint(createExecaRunner(), endpoint);
  const socket = config.dockerApi === 'auto' ? await localApiSocket(endpoint, process.env) : undefined;
  const api = socket ? `; its API on ${socket} for inspect, top, exec, cp, create, rm and ps` : '';
  log.info(`Docker engine: ${describeEndpoint(endpoint)}${api}`);
  const runner = socket ? viaEngineApi(cli, socketTransport(socket)) : cli;
  return {
    runner,
    http: nodeHttp,
    files: nodeFiles,
    clock: systemClock,
    log,
    locks: dockerLocks(
      { runner, clock: systemClock, log },
      { waitMs: LOCK_WAIT_MS, command: config.command, sameRun: fleet },
    ),
    journal: dockerJournal(runner),
    processes: procProcesses(systemClock),
    // With the engine on this machine's socket, a reload may signal Nginx's master directly (checked in /proc).
    signals: socket ? procContainerSignals() : undefined,
    engineClock: isRemote(endpoint) ? engineClock(runner) : undefined,
    signal,
  };
}

/** Validates the inputs, then runs the command with the real docker, HTTP, files and clock. */
export async function runCommand(given: Given, log: Logger, signal?: AbortSignal): Promise<Result> {
  try {
    const layered = await layer(given);
    await log.group('Configuration (each value and where it came from)', async () => {
      for (const line of configTable(layered)) log.info(line);
    });
    const config = await loadConfig(layered.raw, nodeFiles, layered.sources);
    if (!layered.file && !config.targets.length && !config.hosts.length && config.command !== 'status') {
      // Outside the collapsed group: a config file that was not found would otherwise go unnoticed.
      log.warn(
        `No config file (${DEFAULT_FILES.join(' or ')}) in ${config.workingDirectory} and no proxy named: this run ` +
          'switches no proxy. Name the file with config / --config, or the proxy with nginx-container.',
      );
    }
    if (config.hosts.length) {
      const hosts = await hostConfigs(config, layered.raw, nodeFiles, layered.sources);
      const fleet = await Promise.all(
        hosts.map(async ({ host, config: c }) => {
          const own = hosts.length > 1 ? hostLogger(log, host.name) : log;
          const docker = describeEndpoint(host.endpoint);
          return { name: host.name, docker, config: c, deps: await engineDeps(c, host.endpoint, own, signal, true) };
        }),
      );
      log.info(
        `Hosts: ${fleet.map((h) => `${h.name} (${h.docker})`).join(', ')}; ${config.maxParallel} at most bring up at once.`,
      );
      return await executeFleet(fleet, { maxParallel: config.maxParallel, log, clock: systemClock, signal });
    }
    return await execute(config, await engineDeps(config, endpointOf(process.env), log, signal));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const command = COMMAND_NAMES.find((c) => c === given.inputs.command) ?? 'deploy';
    return { ...failedResult(command, 2), error: error.message };
  }
}
