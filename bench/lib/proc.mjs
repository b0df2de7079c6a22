// Child processes for the benchmark: always an argument array (no shell), always a deadline, and every live
// child is known so that Ctrl-C can end exactly the processes this benchmark started.
import { spawn } from 'node:child_process';

/** Epoch milliseconds with sub-millisecond precision: comparable with the app's Date.now() in its containers. */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const live = new Set();
let aborting = false;

/**
 * Runs file with args; resolves (never rejects) with { code, stdout, stderr, lines, startedAt, endedAt }.
 * lines: every output line with the time it arrived ({ t, stream, text }), used to time the action's phases.
 */
export function run(file, args, { cwd, env, timeoutMs = 180_000, onLine, duringAbort = false } = {}) {
  return new Promise((resolve) => {
    const startedAt = now();
    const lines = [];
    // After Ctrl-C only the clean-up may start processes: the interrupted flow must not create anything new.
    if (aborting && !duringAbort) {
      resolve({ code: -1, stdout: '', stderr: 'interrupted', lines, startedAt, endedAt: startedAt });
      return;
    }
    const out = { stdout: '', stderr: '' };
    let child;
    try {
      child = spawn(file, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      resolve({ code: -1, stdout: '', stderr: String(error), lines, startedAt, endedAt: now() });
      return;
    }
    live.add(child);
    for (const stream of ['stdout', 'stderr']) {
      let pending = '';
      child[stream].setEncoding('utf8');
      child[stream].on('data', (chunk) => {
        out[stream] += chunk;
        const parts = (pending + chunk).split('\n');
        pending = parts.pop() ?? '';
        const t = now();
        for (const text of parts) {
          lines.push({ t, stream, text });
          onLine?.(text, stream);
        }
      });
      child[stream].on('end', () => {
        if (pending) lines.push({ t: now(), stream, text: pending });
      });
    }
    const timer = setTimeout(() => {
      out.stderr += `\n[bench] ${file} ${args.join(' ')} timed out after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      out.stderr += String(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({
        code: code ?? (signal ? -1 : 0),
        stdout: out.stdout,
        stderr: out.stderr,
        lines,
        startedAt,
        endedAt: now(),
      });
    });
  });
}

/** Like run, but throws with the command's output when it fails. */
export async function runOk(file, args, options) {
  const r = await run(file, args, options);
  if (r.code !== 0)
    throw new Error(`${file} ${args.join(' ')} exited ${r.code}:\n${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r;
}

/** Starts a long-running command and calls onLine(text, t) for each line it prints; returns { stop() }. */
export function watch(file, args, onLine) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  live.add(child);
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    for (const text of parts) onLine(text, now());
  });
  child.on('error', () => {});
  child.on('close', () => live.delete(child));
  return {
    stop() {
      child.kill('SIGTERM');
    },
  };
}

export const isAborting = () => aborting;

/** On Ctrl-C: ends the children this process started (by pid) and refuses to start others but the clean-up's. */
export function abort() {
  aborting = true;
  for (const child of live) {
    try {
      child.kill('SIGTERM');
    } catch {
      // already gone
    }
  }
}

/** On Ctrl-C or SIGTERM: ends what runs, removes what the benchmark created (cleanup), and exits 130. */
export function onInterrupt(cleanup) {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, async () => {
      console.error(`\n${signal}: stopping and removing the benchmark's containers, networks and files...`);
      abort();
      await cleanup();
      process.exit(130);
    });
  }
}

/** A Docker engine must answer, or nothing can be measured. */
export async function requireEngine() {
  if ((await run('docker', ['info'], { timeoutMs: 30_000 })).code !== 0) {
    throw new Error('No Docker engine answers (`docker info` failed). Start one first: sudo bash scripts/provision.sh');
  }
}
