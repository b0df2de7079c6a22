import { execa } from 'execa';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Every call has a deadline: a hung docker command must not hold a runner for hours. */
  timeoutMs: number;
  input?: string | Uint8Array;
  /** latin1 keeps every byte of binary output (tar streams) as one char. */
  encoding?: 'utf8' | 'latin1';
  /** Called with each line the command prints, as it prints it (long builds stay visible). */
  onLine?: (line: string) => void;
  /** Ends the command when aborted (the run was cancelled). */
  signal?: AbortSignal;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** The one way this tool starts a process: an argument array, never a shell string. */
export interface Runner {
  run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult>;
}

export function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export class CommandError extends Error {
  constructor(
    readonly what: string,
    readonly result: RunResult,
  ) {
    const why = result.timedOut ? 'timed out' : `exit code ${result.exitCode}`;
    const detail = tail(result.stderr || result.stdout, 10);
    super(`${what} failed (${why}): ${result.command}${detail ? `\n${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Throws a CommandError naming `what` unless the command succeeded. */
export function ensureOk(result: RunResult, what: string): RunResult {
  if (result.exitCode !== 0 || result.timedOut) throw new CommandError(what, result);
  return result;
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function createExecaRunner(): Runner {
  return {
    async run(file, args, options) {
      const command = describeCommand(file, args);
      const subprocess = execa(file, args, {
        cwd: options.cwd,
        env: options.env,
        input: options.input,
        timeout: options.timeoutMs,
        encoding: options.encoding ?? 'utf8',
        reject: false,
        stripFinalNewline: false,
        windowsHide: true,
        cancelSignal: options.signal,
      });
      if (options.onLine) forwardLines(subprocess, options.onLine);
      const r = await subprocess;
      // A missing binary has no exit code: report it as a failure with execa's explanation.
      const exitCode = typeof r.exitCode === 'number' ? r.exitCode : -1;
      const stderr = String(r.stderr ?? '') || (exitCode === -1 ? String(r.message ?? '') : '');
      return { command, exitCode, stdout: String(r.stdout ?? ''), stderr, timedOut: Boolean(r.timedOut) };
    },
  };
}

function forwardLines(
  subprocess: { stdout: NodeJS.ReadableStream | null; stderr: NodeJS.ReadableStream | null },
  onLine: (line: string) => void,
): void {
  for (const stream of [subprocess.stdout, subprocess.stderr]) {
    let pending = '';
    stream?.on('data', (chunk: Buffer | string) => {
      const lines = (pending + chunk.toString()).split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLine(line);
    });
    stream?.on('end', () => {
      if (pending.trim()) onLine(pending);
    });
  }
}
