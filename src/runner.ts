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
  /** The output goes to onLine only and is not kept (a log followed for minutes would outgrow any buffer). */
  linesOnly?: boolean;
  /** Ends the command when aborted (the run was cancelled). */
  signal?: AbortSignal;
  /**
   * The command may start processes of its own (a user's hook: `sh -c`, a script, a .cmd): the deadline and the
   * cancel end them all, not only the one started here, whose children would hold its output open.
   */
  tree?: boolean;
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
      const tree = options.tree === true;
      const subprocess = execa(file, args, {
        cwd: options.cwd,
        env: options.env,
        // Nothing waits for an answer on stdin: a prompt meets its end at once rather than the deadline.
        ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
        timeout: tree ? undefined : options.timeoutMs,
        encoding: options.encoding ?? 'utf8',
        reject: false,
        stripFinalNewline: false,
        windowsHide: true,
        buffer: !options.linesOnly,
        cancelSignal: tree ? undefined : options.signal,
        // Its own process group, so that the group can be ended (POSIX); Windows ends a tree with taskkill.
        detached: tree && process.platform !== 'win32',
      });
      const ending = tree ? endTreeWhenDue(subprocess.pid, options) : undefined;
      if (options.onLine) forwardLines(subprocess, options.onLine);
      const r = await subprocess.finally(() => ending?.done());
      // A missing binary has no exit code: report it as a failure with execa's explanation.
      const exitCode = typeof r.exitCode === 'number' ? r.exitCode : -1;
      const stderr = String(r.stderr ?? '') || (exitCode === -1 ? String(r.message ?? '') : '');
      const timedOut = Boolean(r.timedOut) || Boolean(ending?.timedOut());
      return { command, exitCode, stdout: String(r.stdout ?? ''), stderr, timedOut };
    },
  };
}

/** How long the processes of an ended tree have between SIGTERM and SIGKILL. */
const TREE_KILL_GRACE_MS = 5_000;

/** Ends a process and every process it started once the deadline passes or the signal aborts. */
function endTreeWhenDue(pid: number | undefined, options: RunOptions) {
  let timedOut = false;
  let killLater: NodeJS.Timeout | undefined;
  const end = () => {
    if (pid === undefined || killLater) return;
    killTree(pid, 'SIGTERM');
    killLater = setTimeout(() => killTree(pid, 'SIGKILL'), TREE_KILL_GRACE_MS);
  };
  const deadline = setTimeout(() => {
    timedOut = true;
    end();
  }, options.timeoutMs);
  options.signal?.addEventListener('abort', end, { once: true });
  if (options.signal?.aborted) end();
  return {
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(deadline);
      clearTimeout(killLater);
      options.signal?.removeEventListener('abort', end);
    },
  };
}

function killTree(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
  if (process.platform === 'win32') {
    // taskkill ends the whole tree at once; there is no gentler signal to send first.
    if (signal === 'SIGTERM') {
      void execa('taskkill', ['/T', '/F', '/PID', String(pid)], { reject: false, timeout: 10_000, windowsHide: true });
    }
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    // The group has ended already.
  }
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
