// Deploys killed with SIGKILL at a chosen instant. Either a shim directory goes first on the CLI's PATH, whose docker
// or docker-compose logs each call, runs the real one and kills the CLI at the call that a test names (before it,
// after it, or while it runs, leaving the shim behind as an orphaned child); or the CLI is killed after a delay.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI_BUNDLE } from './action.js';
import { COMPOSE } from './compose.js';

/** Where a shim kills the CLI, relative to the call it matches. */
export type KillWhen = 'before' | 'after' | 'during';

export interface KillAtCall {
  /**
   * The command whose calls are matched; only it is shimmed, so that the others run at full speed (a Node shim adds
   * tens of milliseconds to every call). Compose v2 is `docker`.
   */
  command: 'docker' | 'docker-compose';
  /** Matched against the call as typed: `docker exec proxy nginx -T`, `docker compose -p ... up ...`. */
  match: RegExp;
  /** The nth matching call of the run (default 1). */
  nth?: number;
  when: KillWhen;
}

export interface KillAfter {
  /** Milliseconds after the CLI started. */
  delayMs: number;
}

/** A log line or a call of the shimmed command, at its time since the CLI started. */
export interface Timed {
  at: number;
  text: string;
}

export interface CrashRun {
  /** The CLI died of SIGKILL. False after a kill was asked for: the kill point was never reached (a wrong regex). */
  killed: boolean;
  exitCode: number | undefined;
  /** The human log (stderr) line by line, and the JSON result when it got that far. */
  lines: Timed[];
  stderr: string;
  stdout: string;
  /** The calls of the shimmed command, in order (none without a shim). */
  calls: Timed[];
  /** 'during': the pid of the shim that stays behind, as an orphaned child of the dead run. */
  orphan?: number;
  ms: number;
  /** The run's temp dir (removed by now): the shims ran from there. */
  dir: string;
}

/** How long the 'during' shim outlives the real command: a build that runs on after the tool died. */
const ORPHAN_MS = 30_000;
const DURING_MS = 300;

/**
 * The shim, in plain Node (no shell: the test runs wherever the suite runs). It finds the real command on the PATH
 * without its own directory, logs the call, and counts the calls that match BG_CRASH_MATCH in BG_CRASH_COUNT_FILE:
 * one line each, written with O_APPEND, so that calls at the same time each get their own number.
 */
const SHIM = `
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const env = process.env;
const name = path.basename(__filename);
const here = path.dirname(__filename);
const args = process.argv.slice(2);
const call = [name, ...args].join(' ');

function real() {
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    if (!dir || path.resolve(dir) === here) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {}
  }
  process.stderr.write('crash shim: no ' + name + ' on the PATH\\n');
  process.exit(127);
}

function isNth() {
  if (!new RegExp(env.BG_CRASH_MATCH).test(call)) return false;
  const mine = process.pid + '-' + Math.random();
  fs.appendFileSync(env.BG_CRASH_COUNT_FILE, mine + '\\n');
  const number = fs.readFileSync(env.BG_CRASH_COUNT_FILE, 'utf8').split('\\n').indexOf(mine) + 1;
  return number === Number(env.BG_CRASH_NTH || 1);
}

// A shim that the tool started just before it was killed may get here after the run's directory is gone: it only
// runs the real command then, as that command would have run.
function safely(fn, otherwise) {
  try {
    return fn();
  } catch {
    return otherwise;
  }
}

// The tool runs docker and docker-compose itself, so the parent is the tool (docker runs the compose plugin).
const killTool = () => process.kill(process.ppid, 'SIGKILL');

safely(() => fs.appendFileSync(env.BG_CRASH_TRACE_FILE, Date.now() + ' ' + call + '\\n'));
const file = real();
if (!safely(isNth, false)) {
  process.exit(spawnSync(file, args, { stdio: 'inherit' }).status ?? 1);
} else if (env.BG_CRASH_WHEN === 'before') {
  killTool();
  process.exit(137);
} else if (env.BG_CRASH_WHEN === 'after') {
  const status = spawnSync(file, args, { stdio: 'inherit' }).status;
  killTool();
  process.exit(status ?? 1);
} else {
  fs.writeFileSync(env.BG_CRASH_PID_FILE, String(process.pid));
  const child = spawn(file, args, { stdio: ['inherit', 'pipe', 'pipe'] });
  // Once the tool is dead nobody reads the output: it is dropped, so that the real command runs to its end.
  for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    to.on('error', () => {});
    from.on('data', (chunk) => to.write(chunk));
  }
  setTimeout(killTool, ${DURING_MS});
  child.on('exit', (code) => setTimeout(() => process.exit(code ?? 1), ${ORPHAN_MS}));
}
`;

/** True while the run's orphaned shim runs: not ended, not a zombie, and its pid not reused by another process. */
export function orphanAlive(run: CrashRun): boolean {
  if (!run.orphan) return false;
  try {
    const state = readFileSync(`/proc/${run.orphan}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    return state !== 'Z' && readFileSync(`/proc/${run.orphan}/cmdline`, 'utf8').includes(run.dir);
  } catch {
    return false;
  }
}

/** The last log lines and calls of a run, in time order: where it died. */
export function lastSteps(run: CrashRun, count = 4): string {
  return [...run.lines, ...run.calls.map((c) => ({ at: c.at, text: `$ ${c.text}` }))]
    .filter((t) => t.text.trim())
    .sort((a, b) => a.at - b.at)
    .slice(-count)
    .map((t) => `  +${String(t.at).padStart(5)} ms  ${t.text}`)
    .join('\n');
}

/**
 * `node dist/cli/index.js <args>` (with the Compose of E2E_COMPOSE unless args name one), killed with SIGKILL at a
 * call of docker or docker-compose, or after a delay; without a kill, a normal run whose log lines are timed.
 * Resolves once the CLI has ended, however it ended.
 */
export async function runKillable(args: string[], cwd: string, kill?: KillAtCall | KillAfter): Promise<CrashRun> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-crash-'));
  const files = { count: path.join(dir, 'count'), trace: path.join(dir, 'calls'), pid: path.join(dir, 'orphan.pid') };
  const atCall = kill && 'match' in kill ? kill : undefined;
  if (atCall) {
    await fs.mkdir(path.join(dir, 'bin'));
    await fs.writeFile(path.join(dir, 'bin', atCall.command), `#!${process.execPath}${SHIM}`, { mode: 0o755 });
    await fs.writeFile(files.count, '');
    await fs.writeFile(files.trace, '');
  }
  const given = args.some((a) => a === '--compose-command' || a.startsWith('--compose-command='));
  // A kill at a call needs the call to start a docker process, which the shim is: the tool would otherwise send
  // its exec, cp and create to the engine's API. Runs killed after a delay, and every recovery, use the API.
  const cli = [
    CLI_BUNDLE,
    ...args,
    ...(given ? [] : ['--compose-command', COMPOSE.command]),
    ...(atCall ? ['--docker-api', 'off'] : []),
  ];
  const started = Date.now();
  const proc = execa(process.execPath, cli, {
    cwd,
    reject: false,
    timeout: 240_000,
    env: atCall && {
      PATH: `${path.join(dir, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`,
      BG_CRASH_MATCH: atCall.match.source,
      BG_CRASH_NTH: String(atCall.nth ?? 1),
      BG_CRASH_WHEN: atCall.when,
      BG_CRASH_COUNT_FILE: files.count,
      BG_CRASH_TRACE_FILE: files.trace,
      BG_CRASH_PID_FILE: files.pid,
    },
  });
  const lines: Timed[] = [];
  let partial = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ at: Date.now() - started, text });
  });
  const timer = kill && 'delayMs' in kill ? setTimeout(() => proc.kill('SIGKILL'), kill.delayMs) : undefined;
  const r = await proc;
  clearTimeout(timer);
  const orphan = Number(await fs.readFile(files.pid, 'utf8').catch(() => '')) || undefined;
  const trace = await fs.readFile(files.trace, 'utf8').catch(() => '');
  // Retried: a shim started just before the kill may still be writing its call there.
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 5 });
  return {
    killed: r.signal === 'SIGKILL',
    exitCode: r.exitCode,
    lines,
    stderr: String(r.stderr),
    stdout: String(r.stdout),
    calls: trace
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const space = line.indexOf(' ');
        return { at: Number(line.slice(0, space)) - started, text: line.slice(space + 1) };
      }),
    orphan,
    ms: Date.now() - started,
    dir,
  };
}

/** The same pseudo-random sequence for the same seed (mulberry32): a failing instant can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
