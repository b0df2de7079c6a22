// The CLI's --json result in the end-to-end tests, and what they look at beside it.
import type { Result, TrafficView } from '../../../src/engine/result.js';
import { runCli, type CliRun } from './action.js';
import { docker } from './docker.js';
import { startLoad, type LoadRun } from './load.js';
import { cliFlags } from './scenarios.js';
import type { Stack } from './stack.js';

/** `bluegreen <command> --json <flags>`: the exit code and the parsed result. */
export async function cli(
  stack: Stack,
  inputs: Record<string, string>,
  command = 'deploy',
): Promise<{ run: CliRun; result: Result }> {
  const run = await runCli([command, '--json', ...cliFlags(inputs)], { cwd: stack.dir });
  return { run, result: parseResult(run) };
}

export function parseResult(run: CliRun): Result {
  try {
    return JSON.parse(run.stdout) as Result;
  } catch {
    throw new Error(`no JSON result (exit code ${run.exitCode}):\n${run.stdout}\n${run.stderr}`);
  }
}

export function trafficOf(run: CliRun, result: Result): TrafficView {
  if (!result.traffic) throw new Error(`no traffic in the result:\n${run.stdout}\n${run.stderr}`);
  return result.traffic;
}

/** The states (running, exited, ...) of a compose service's containers. */
export async function serviceStates(stack: Stack, service: string): Promise<string[]> {
  const r = await docker([
    'ps',
    '-a',
    '--filter',
    `label=com.docker.compose.project=${stack.name}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
    '--format',
    '{{.State}}',
  ]);
  return r.stdout.split('\n').filter(Boolean);
}

/** Load through the proxy on fresh connections (a new one per request), already in full swing at the switch. */
export async function freshLoad(url: string, connections = 8, timeline = false): Promise<LoadRun> {
  const load = startLoad({ url, connections, freshConnections: true, timeline });
  await new Promise((resolve) => setTimeout(resolve, 500));
  return load;
}
