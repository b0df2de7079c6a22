// The one in-memory fake of each of the tool's small dependencies (files, clock, logger), shared by every unit test,
// and what a config test expects of a refusal. fake-host.ts re-exports the fakes next to the Docker host.
import path from 'node:path';
import { expect } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import type { Clock, Files, Logger } from '../../src/io.js';

/**
 * In-memory files; directories exist wherever a file does, and where added to `dirs`. Paths are resolved as the
 * file system would (`/a/./b` and `/a/b` are one file; a relative path is relative to the process's directory).
 */
export class FakeFiles implements Files {
  readonly data = new Map<string, string>();
  readonly dirs = new Set<string>();
  /** Every path written, in order (as resolved). */
  writes: string[] = [];

  constructor(files: Record<string, string> = {}) {
    for (const [p, content] of Object.entries(files)) this.put(p, content);
  }

  /** Puts a file in place, and its directories, without counting it as a write of the code under test. */
  put(p: string, content: string): void {
    const at = path.resolve(p);
    this.data.set(at, content);
    for (let d = path.dirname(at); !this.dirs.has(d); d = path.dirname(d)) this.dirs.add(d);
  }

  /** Makes a directory (and its parents) exist. */
  mkdir(p: string): void {
    for (let d = path.resolve(p); !this.dirs.has(d); d = path.dirname(d)) this.dirs.add(d);
  }

  async read(p: string) {
    return this.data.get(path.resolve(p)) ?? null;
  }

  async write(p: string, content: string) {
    this.writes.push(path.resolve(p));
    this.put(p, content);
  }

  async kind(p: string) {
    const at = path.resolve(p);
    return this.data.has(at) ? ('file' as const) : this.dirs.has(at) ? ('directory' as const) : ('missing' as const);
  }
}

/**
 * Time that moves only when the code under test sleeps (or a test advances it). Sleeps that overlap (a drain and a
 * watch side by side) end in the order of their deadlines, each once every other task has gone as far as it can:
 * time is never moved twice for one stretch.
 */
export class FakeClock implements Clock {
  t: number;
  /** Every sleep asked for, in order (an aborted one is not slept, nor recorded). */
  slept: number[] = [];
  private readonly timers: { at: number; seq: number; resolve: () => void }[] = [];
  private seq = 0;
  private scheduled = false;
  constructor(start = 1_000_000) {
    this.t = start;
  }
  now() {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    this.slept.push(ms);
    return new Promise((resolve) => {
      const aborted = () => {
        const i = this.timers.indexOf(timer);
        if (i >= 0) this.timers.splice(i, 1);
        resolve();
      };
      const timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', aborted);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', aborted, { once: true });
      this.schedule();
    });
  }
  /** The earliest sleep ends once the tasks under way have run their course (every fake answers at once). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) return;
      this.t = Math.max(this.t, next.at);
      next.resolve();
      if (this.timers.length) this.schedule();
    });
  }
  /** Time passing while something else happens (a probe that takes long). */
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * Records what the code logs. `lines` is the log as a reader sees it (warnings and errors marked); `events` is
 * every call in order with its level, groups included (`info: …`, `warn: …`, `error: …`, `group: name`).
 */
export class RecordingLogger implements Logger {
  lines: string[] = [];
  groups: string[] = [];
  events: string[] = [];
  info(m: string) {
    this.lines.push(m);
    this.events.push(`info: ${m}`);
  }
  warn(m: string) {
    this.lines.push(`warning: ${m}`);
    this.events.push(`warn: ${m}`);
  }
  error(m: string) {
    this.lines.push(`error: ${m}`);
    this.events.push(`error: ${m}`);
  }
  async group<T>(name: string, fn: () => Promise<T>) {
    this.groups.push(name);
    this.events.push(`group: ${name}`);
    return fn();
  }
  get text() {
    return this.lines.join('\n');
  }
}

/** The message of the ConfigError a promise rejects with; fails the test when it resolves or rejects otherwise. */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}
