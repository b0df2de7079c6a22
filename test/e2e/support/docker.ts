// Thin wrappers around the docker and compose CLIs for e2e tests (compose: the one E2E_COMPOSE selects).
// Always argument arrays (no shell) and always a timeout.
import { execa } from 'execa';
import { COMPOSE } from './compose.js';

export interface ExecOptions {
  /** Kill the command after this long (default 60 s; compose: 180 s). */
  timeoutMs?: number;
  /** false: resolve with the exit code instead of throwing on failure. */
  reject?: boolean;
  /** Written to the command's stdin. */
  input?: string;
  cwd?: string;
  /** Extra environment variables (added to process.env). */
  env?: Record<string, string>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ComposeOptions extends ExecOptions {
  /** -p <name>; without it compose derives the name from the directory. */
  projectName?: string;
  /** -f <file> for each, relative to projectDir; default: docker-compose.yml. */
  files?: string[];
}

async function run(
  file: string,
  args: readonly string[],
  opts: ExecOptions,
  defaultTimeoutMs: number,
): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
  const result = await execa(file, args, {
    timeout: timeoutMs,
    reject: opts.reject ?? true,
    input: opts.input,
    cwd: opts.cwd,
    env: opts.env,
  });
  // A hung command is never an answer, even with reject: false.
  if (result.timedOut) throw new Error(`${file} ${args.join(' ')} timed out after ${timeoutMs} ms`);
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 };
}

export function docker(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run('docker', args, opts, 60_000);
}

/** Runs `docker compose` or `docker-compose` (see compose.ts) `[-p name] [-f file]... <args>` in projectDir. */
export function compose(projectDir: string, args: readonly string[], opts: ComposeOptions = {}): Promise<ExecResult> {
  const { projectName, files = [], ...execOpts } = opts;
  const globalArgs = [...(projectName ? ['-p', projectName] : []), ...files.flatMap((f) => ['-f', f])];
  return run(COMPOSE.file, [...COMPOSE.prefix, ...globalArgs, ...args], { ...execOpts, cwd: projectDir }, 180_000);
}

/** Full id of the container with this name or id, or undefined if there is none. */
export async function containerId(name: string): Promise<string | undefined> {
  const { stdout, exitCode } = await docker(['container', 'inspect', '--format', '{{.Id}}', name], { reject: false });
  return exitCode === 0 ? stdout.trim() : undefined;
}

export async function isRunning(name: string): Promise<boolean> {
  const { stdout, exitCode } = await docker(['container', 'inspect', '--format', '{{.State.Running}}', name], {
    reject: false,
  });
  return exitCode === 0 && stdout.trim() === 'true';
}

export interface WaitOptions {
  /** Pause between attempts (default 200 ms). */
  intervalMs?: number;
  /** Used in the timeout error. */
  description?: string;
}

/**
 * Calls fn until it returns a truthy value (which is returned) or timeoutMs
 * passes. A throwing fn counts as "not yet"; its last error is reported.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, opts: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const what = opts.description ?? 'condition';
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 200));
  }
}

/** PIDs of the Nginx workers of a proxy: they change on every reload. */
export async function workerPids(container: string): Promise<string[]> {
  const { stdout } = await docker(['top', container, '-o', 'pid,args']);
  return stdout
    .split('\n')
    .filter((line) => /nginx: worker process$/.test(line.trim()))
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .sort();
}
