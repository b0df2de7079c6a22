import { ConfigError, loadConfig } from './config.js';
import { describeEndpoint, endpointOf, onEndpoint } from './docker/docker.js';
import { dockerJournal } from './docker/journal.js';
import { dockerLocks } from './docker/lock.js';
import { execute } from './engine/deployment.js';
import { failedResult, type Result } from './engine/result.js';
import { COMMAND_NAMES, type RawInputs } from './inputs.js';
import { nodeFiles, nodeHttp, systemClock, type Logger } from './io.js';
import { procProcesses } from './processes.js';
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

/** Validates the inputs, then runs the command with the real docker, HTTP, files and clock. */
export async function runCommand(raw: RawInputs, log: Logger, signal?: AbortSignal): Promise<Result> {
  try {
    const config = await loadConfig(raw, nodeFiles);
    const endpoint = endpointOf(process.env);
    log.info(`Docker engine: ${describeEndpoint(endpoint)}`);
    const runner = onEndpoint(createExecaRunner(), endpoint);
    const locks = dockerLocks({ runner, clock: systemClock, log }, { waitMs: LOCK_WAIT_MS, command: config.command });
    const journal = dockerJournal(runner);
    const processes = procProcesses(systemClock);
    const deps = {
      runner,
      http: nodeHttp,
      files: nodeFiles,
      clock: systemClock,
      log,
      locks,
      journal,
      processes,
      signal,
    };
    return await execute(config, deps);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const command = COMMAND_NAMES.find((c) => c === raw.command) ?? 'deploy';
    return { ...failedResult(command, 2), error: error.message };
  }
}
