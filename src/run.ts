import { ConfigError, loadConfig, type Command, type RawInputs } from './config.js';
import { execute, type Result } from './deploy.js';
import { nodeFiles, nodeHttp, systemClock, type Logger } from './io.js';
import { createExecaRunner } from './runner.js';

/** Validates the inputs, then runs the command with the real docker, HTTP, files and clock. */
export async function run(raw: RawInputs, log: Logger): Promise<Result> {
  try {
    const config = await loadConfig(raw, nodeFiles);
    return await execute(config, { runner: createExecaRunner(), http: nodeHttp, files: nodeFiles, clock: systemClock, log });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const command = (['deploy', 'rollback', 'status'] as const).find((c) => c === raw.command) ?? ('deploy' as Command);
    return {
      command,
      status: 'failed',
      exitCode: 2,
      rolledBack: false,
      durationMs: 0,
      phases: [],
      proxies: [],
      running: {},
      plan: [],
      error: error.message,
    };
  }
}
