// The CLI and the bundled action run with nothing but a config file (bluegreen.yml): unlike runCli and runAction,
// these add no compose-command (it comes from the file), and no BLUEGREEN_* or INPUT_* variable of the process
// that runs the suite leaks in: only the environment a test gives.
import { execa } from 'execa';
import { cleanEnv, CLI_BUNDLE, runAction, type ActionRun, type CliRun } from './action.js';

/** `node dist/cli/index.js <args>` in cwd, with exactly these arguments. */
export async function bluegreen(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliRun> {
  const r = await execa(process.execPath, [CLI_BUNDLE, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    extendEnv: false,
    reject: false,
    timeout: options.timeoutMs ?? 240_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The bundled action as the runner starts it for a step whose `with:` holds only these inputs. */
export function runActionWith(
  inputs: Record<string, string>,
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<ActionRun> {
  return runAction(inputs, { ...options, suiteCompose: false });
}

/**
 * The line of a `bluegreen config` table (or of the action's "Configuration" group) that shows this input; under
 * local-action, whose @actions/core stub prints `::info::` before each line of the log, too.
 */
export function configLine(text: string, input: string): string | undefined {
  return text.split('\n').find((line) => new RegExp(`^(::info::)?\\s*${input}\\b(?!-)`).test(line));
}
