import path from 'node:path';
import type { NginxTarget } from './config.js';
import type { Clock, Files } from './io.js';
import { ensureOk, tail, type Runner } from './runner.js';
import { packFile, unpackFirstFile } from './tar.js';

const TIMEOUT_MS = 60_000;
const MARKER = '# bluegreen-action: color=';
const RELOAD_CONFIRM_MS = 10_000;

/** The include for one color: a marker line (the live color is read back from it) and the template filled in. */
export function renderInclude(target: NginxTarget, color: string, port: number): string {
  const values: Record<string, string> = { color, port: String(port), host: target.host };
  // ${name} is an Nginx variable, not a placeholder (the same rule as the config check).
  const body = target.template.replace(/(?<!\$)\{(color|port|host)\}/g, (_, name: string) => values[name] ?? '');
  return `${MARKER}${color} port=${port}\n${body.endsWith('\n') ? body : `${body}\n`}`;
}

/**
 * Which color an include points at: the marker this tool writes, or else the content a color would render to
 * (an include written by hand before the first deploy, like the seed's `server localhost:8000;`).
 */
export function colorOfInclude(
  content: string | null,
  target: NginxTarget,
  colors: readonly string[],
  ports: readonly number[],
): string | undefined {
  if (content === null) return undefined;
  const marked = new RegExp(`^${MARKER}([a-z0-9_-]+) `, 'm').exec(content)?.[1];
  if (marked && colors.includes(marked)) return marked;
  return colors.find((c, i) => normalize(renderInclude(target, c, ports[i] ?? 0)) === normalize(content));
}

function normalize(content: string): string {
  return content
    .split('\n')
    .filter((l) => !l.startsWith(MARKER))
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter(Boolean)
    .join('\n');
}

export class NginxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NginxError';
  }
}

/** Reads, writes, tests and reloads the upstream include of one proxy container. */
export class NginxSwitcher {
  constructor(
    private readonly runner: Runner,
    private readonly files: Files,
    private readonly clock: Clock,
  ) {}

  describe(target: NginxTarget): string {
    return target.file ? `${target.file} (mounted in ${target.container})` : `${target.container}:${target.path}`;
  }

  async read(target: NginxTarget): Promise<string | null> {
    if (target.file) return this.files.read(target.file);
    const r = await this.docker(['cp', '-L', `${target.container}:${target.path}`, '-'], 'latin1');
    // Docker CLI 24+ says "Could not find the file", older ones "No such container:path".
    if (r.exitCode !== 0 && /could not find the file|no such file|no such container:path/i.test(r.stderr)) return null;
    ensureOk(r, `reading ${this.describe(target)}`);
    return unpackFirstFile(Buffer.from(r.stdout, 'latin1'));
  }

  async write(target: NginxTarget, content: string): Promise<void> {
    if (target.file) return this.files.write(target.file, content);
    const containerPath = target.path ?? '';
    const archive = packFile(path.posix.basename(containerPath), content, this.clock.now() / 1000);
    const dir = path.posix.dirname(containerPath);
    ensureOk(
      await this.runner.run('docker', ['cp', '-', `${target.container}:${dir}`], { input: archive, timeoutMs: TIMEOUT_MS }),
      `copying the include into ${target.container}`,
    );
  }

  /**
   * `nginx -T` tests the whole configuration like `nginx -t` and also prints every file it read, which shows
   * whether the container really reads what was written (a bind mount of a replaced file would not).
   */
  async test(target: NginxTarget, expected: string): Promise<void> {
    const r = await this.docker(['exec', target.container, 'nginx', '-T']);
    if (r.timedOut || /^Error( response from daemon)?:|is not running/m.test(r.stderr)) {
      throw new NginxError(`could not run nginx -t in ${target.container}:\n${tail(r.stderr || r.stdout, 8)}`);
    }
    if (r.exitCode !== 0) {
      throw new NginxError(`nginx -t in ${target.container} rejected the new include:\n${tail(r.stderr || r.stdout, 8)}`);
    }
    const sections = dumpSections(r.stdout);
    const seen = target.path
      ? sections.get(target.path) !== undefined && normalizeDump(sections.get(target.path) ?? '') === normalizeDump(expected)
      : [...sections.values()].some((s) => normalizeDump(s) === normalizeDump(expected));
    if (!seen) {
      throw new NginxError(
        `${target.container} does not read the include that was written to ${this.describe(target)}. ` +
          (target.file
            ? 'Mount its directory rather than the file alone, and check that the Nginx config includes it.'
            : 'Check that the Nginx config includes this path.'),
      );
    }
  }

  /** Tests the configuration as it is on disk now, without checking any content (used after a restore). */
  async testOnly(container: string): Promise<void> {
    const r = await this.docker(['exec', container, 'nginx', '-t']);
    if (r.exitCode !== 0 || r.timedOut) {
      throw new NginxError(`nginx -t in ${container} failed:\n${tail(r.stderr || r.stdout, 8)}`);
    }
  }

  /**
   * `nginx -s reload` only signals the master: for a moment the old workers still accept new connections with
   * the old configuration. This waits until every worker that accepts connections is a new one (old workers
   * retitle themselves "is shutting down" and stop accepting), as `docker top` shows from the host, so nothing
   * needs to be installed in the image. Returns false when the workers cannot be seen (then it is not confirmed).
   * `workers` is acceptingWorkers() taken beforehand (off the path to the reload), or taken here.
   */
  async reload(container: string, workers?: Promise<string[] | undefined>): Promise<boolean> {
    const before = await (workers ?? this.acceptingWorkers(container));
    ensureOk(await this.docker(['exec', container, 'nginx', '-s', 'reload']), `nginx -s reload in ${container}`);
    if (!before?.length) return false;
    const deadline = this.clock.now() + RELOAD_CONFIRM_MS;
    for (;;) {
      const now = (await this.acceptingWorkers(container)) ?? [];
      if (now.length && now.every((pid) => !before.includes(pid))) return true;
      if (this.clock.now() >= deadline) {
        throw new NginxError(
          `${container} still ran its old Nginx workers ${RELOAD_CONFIRM_MS / 1000} s after nginx -s reload: ` +
            'the new configuration did not take effect (see the proxy log).',
        );
      }
      await this.clock.sleep(50);
    }
  }

  /** PIDs of the workers that accept connections now, or undefined when they cannot be seen. */
  async acceptingWorkers(container: string): Promise<string[] | undefined> {
    const r = await this.docker(['top', container]).catch(() => undefined);
    return r?.exitCode === 0 ? acceptingWorkerPids(r.stdout) : undefined;
  }

  async isRunning(container: string): Promise<boolean> {
    const r = await this.docker(['inspect', '--type', 'container', '--format', '{{.State.Running}}', container]);
    return r.exitCode === 0 && r.stdout.trim() === 'true';
  }

  private docker(args: string[], encoding?: 'latin1') {
    return this.runner.run('docker', args, { timeoutMs: TIMEOUT_MS, encoding });
  }
}

/** PIDs of the Nginx workers that accept connections, from `docker top` (ps) output. */
export function acceptingWorkerPids(top: string): string[] {
  const [header = '', ...rows] = top.split('\n').filter((l) => l.trim());
  const columns = header.trim().split(/\s+/);
  const pid = columns.indexOf('PID');
  const cmd = columns.findIndex((c) => c === 'CMD' || c === 'COMMAND');
  if (pid < 0 || cmd < 0) return [];
  return rows
    .map((row) => row.trim().split(/\s+/))
    .filter((fields) => /^nginx: worker process$/.test(fields.slice(cmd).join(' ')))
    .map((fields) => fields[pid] ?? '');
}

/** Splits `nginx -T` output into file path → content. */
export function dumpSections(dump: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (current !== undefined) sections.set(current, lines.join('\n'));
  };
  for (const line of dump.split('\n')) {
    const header = /^# configuration file (.+):$/.exec(line);
    if (header) {
      flush();
      current = header[1];
      lines = [];
    } else {
      lines.push(line);
    }
  }
  flush();
  return sections;
}

function normalizeDump(content: string): string {
  return content
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();
}
