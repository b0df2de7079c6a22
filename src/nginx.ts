import path from 'node:path';
import type { NginxTarget } from './config.js';
import type { Clock, Files } from './io.js';
import { ensureOk, tail, type Runner } from './runner.js';
import { dumpSections, listenPorts, nginxTokens } from './nginx-config.js';
import { packFile, unpackFirstFile } from './tar.js';

const TIMEOUT_MS = 60_000;
const MARKER = '# bluegreen-action: color=';
const RELOAD_CONFIRM_MS = 10_000;
const STARTED_STABLE_MS = 500;

/** What a proxy container is, as `docker inspect` tells. */
export interface ProxyState {
  /** Running and not restarting (a crash-looping Nginx shows running between its restarts). */
  running: boolean;
  status: string;
  /** Times Docker's restart policy restarted it, and when it last started (ms since the epoch). */
  restartCount: number;
  startedAt: number;
  /** The compose service and the project's directory, when compose created it. */
  service?: string;
  workingDir?: string;
  /** Published TCP ports: container port → host address and port. */
  published: Map<number, { hostIp: string; hostPort: number }>;
}

type PortBindings = Record<string, { HostIp?: string; HostPort?: string }[] | null> | null | undefined;

interface ProxyInspect {
  Name?: string;
  State?: { Status?: string; Running?: boolean; Restarting?: boolean; StartedAt?: string };
  RestartCount?: number;
  Config?: { Labels?: Record<string, string> };
  NetworkSettings?: { Ports?: PortBindings };
}

function publishedPorts(ports: PortBindings): ProxyState['published'] {
  const published = new Map<number, { hostIp: string; hostPort: number }>();
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const m = /^(\d+)\/tcp$/.exec(key);
    // An IPv4 binding first: the runner reaches 0.0.0.0 and 127.0.0.1 bindings through health-host.
    const binding = (bindings ?? []).find((b) => !(b.HostIp ?? '').includes(':')) ?? bindings?.[0];
    if (m && binding?.HostPort) published.set(Number(m[1]), { hostIp: binding.HostIp ?? '', hostPort: Number(binding.HostPort) });
  }
  return published;
}

/** The include for one color: a marker line (the live color is read back from it) and the template filled in. */
export function renderInclude(target: NginxTarget, color: string, port: number): string {
  const values: Record<string, string> = { color, port: String(port), host: target.host };
  // ${name} is an Nginx variable, not a placeholder (the same rule as the config check).
  const body = target.template.replace(/(?<!\$)\{(color|port|host)\}/g, (_, name: string) => values[name] ?? '');
  return `${MARKER}${color} port=${port}\n${body.endsWith('\n') ? body : `${body}\n`}`;
}

/** What an include says: the color its content points at, and the color its marker line names. */
export interface IncludeReading {
  /** Decided by the content alone; undefined when the content points at no color, or at both. */
  color?: string;
  /** The marker this tool wrote, which a hand edit of the content may have left behind: shown, never trusted. */
  marker?: string;
}

/**
 * Which color an include points at, from its content as Nginx reads it: an include edited by hand in an emergency
 * (pointed back at blue) keeps the marker of the last deploy. Content points at a color when it holds every word of
 * that color's rendering and none of the words only the other color's rendering has (comments and spacing aside),
 * so an include written by hand before the first deploy (the seed's `server localhost:8000;`) is recognised too.
 * Failing that (another spelling of the host, a template changed since), when it names exactly one color's
 * distinguishing values: its `:port` or its color name as a word part.
 */
export function readInclude(
  content: string | null,
  target: NginxTarget,
  colors: readonly string[],
  ports: readonly number[],
): IncludeReading {
  if (content === null) return {};
  const found = new RegExp(`^${MARKER}([a-z0-9_-]+) `, 'm').exec(content)?.[1];
  const marker = found && colors.includes(found) ? found : undefined;
  const words = new Set(wordsOf(content));
  const rendered = colors.map((c, i) => new Set(wordsOf(renderInclude(target, c, ports[i] ?? 0))));
  const matching = colors.filter((_, i) => {
    const own = rendered[i] ?? new Set<string>();
    const others = rendered.filter((_, j) => j !== i).flatMap((r) => [...r].filter((w) => !own.has(w)));
    return [...own].every((w) => words.has(w)) && !others.some((w) => words.has(w));
  });
  if (matching.length === 1) return { color: matching[0], marker };
  const naming = colors.filter((color, i) => namesColor([...words], target.template, color, ports[i] ?? 0));
  return { color: naming.length === 1 ? naming[0] : undefined, marker };
}

/** Whether words name a color by what its template puts in: `:8001` (a host's port), or `green` as a word part. */
function namesColor(words: string[], template: string, color: string, port: number): boolean {
  const byPort = /(?<!\$)\{port\}/.test(template) && words.some((w) => new RegExp(`:${port}(/.*)?$`).test(w));
  const byName =
    /(?<!\$)\{color\}/.test(template) && words.some((w) => new RegExp(`(^|[^a-z0-9])${color}([^a-z0-9]|$)`).test(w));
  return byPort || byName;
}

/** The words of an include, as Nginx reads them (comments and punctuation aside). */
export function wordsOf(content: string): string[] {
  return nginxTokens(content).filter((t) => t !== ';' && t !== '{' && t !== '}');
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
    // Docker CLI 24+ says "Could not find the file", older ones "No such container:path"; a proxy that does not
    // exist yet (started by a first deploy) has no include either.
    if (r.exitCode !== 0 && /could not find the file|no such file|no such container/i.test(r.stderr)) return null;
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
  async test(target: NginxTarget, expected: string): Promise<number[]> {
    const r = await this.docker(['exec', target.container, 'nginx', '-T']);
    if (r.timedOut || /^Error( response from daemon)?:|is not running/m.test(r.stderr)) {
      throw new NginxError(`could not run nginx -t in ${target.container}:\n${tail(r.stderr || r.stdout, 8)}`);
    }
    if (r.exitCode !== 0) {
      throw new NginxError(`nginx -t in ${target.container} rejected the new include:\n${tail(r.stderr || r.stdout, 8)}`);
    }
    const sections = dumpSections(r.stdout);
    const seen = target.path
      ? normalizeDump(sections.get(target.path) ?? '\0') === normalizeDump(expected) && target.path
      : [...sections].find(([, s]) => normalizeDump(s) === normalizeDump(expected))?.[0];
    if (!seen) {
      throw new NginxError(
        `${target.container} does not read the include that was written to ${this.describe(target)}. ` +
          (target.file
            ? 'Mount its directory rather than the file alone, and check that the Nginx config includes it.'
            : 'Check that the Nginx config includes this path.'),
      );
    }
    return listenPorts(r.stdout, seen, expected);
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
  async reload(container: string, workers?: Promise<string[] | undefined>, signal?: AbortSignal): Promise<boolean> {
    const before = await (workers ?? this.acceptingWorkers(container));
    ensureOk(await this.docker(['exec', container, 'nginx', '-s', 'reload']), `nginx -s reload in ${container}`);
    if (!before?.length) return false;
    const deadline = this.clock.now() + RELOAD_CONFIRM_MS;
    for (;;) {
      const now = (await this.acceptingWorkers(container)) ?? [];
      if (now.length && now.every((pid) => !before.includes(pid))) return true;
      // A cancel ends the wait (docker top is ended by it too): the undo reloads again anyway.
      if (signal?.aborted) throw new NginxError(`cancelled while confirming the reload of ${container}`);
      if (this.clock.now() >= deadline) {
        throw new NginxError(
          `${container} still ran its old Nginx workers ${RELOAD_CONFIRM_MS / 1000} s after nginx -s reload: ` +
            'the new configuration did not take effect (see the proxy log).',
        );
      }
      await this.clock.sleep(50, signal);
    }
  }

  /** PIDs of the workers that accept connections now, or undefined when they cannot be seen. */
  async acceptingWorkers(container: string): Promise<string[] | undefined> {
    const r = await this.docker(['top', container]).catch(() => undefined);
    return r?.exitCode === 0 ? acceptingWorkerPids(r.stdout) : undefined;
  }

  /**
   * The state of each proxy container, in one `docker inspect`: a container that does not exist is absent from
   * the map (docker exits 1 for it but still prints the others).
   */
  async inspect(containers: string[]): Promise<Map<string, ProxyState>> {
    const r = await this.docker(['inspect', '--type', 'container', ...containers]);
    const states = new Map<string, ProxyState>();
    let entries: ProxyInspect[] = [];
    try {
      entries = JSON.parse(r.stdout || '[]') as ProxyInspect[];
    } catch {
      ensureOk(r, `inspecting ${containers.join(', ')}`);
    }
    if (r.exitCode !== 0 && !/no such (container|object)/i.test(r.stderr)) ensureOk(r, `inspecting ${containers.join(', ')}`);
    for (const e of entries) {
      const name = (e.Name ?? '').replace(/^\//, '');
      const labels = e.Config?.Labels ?? {};
      states.set(name, {
        running: Boolean(e.State?.Running) && !e.State?.Restarting,
        status: e.State?.Restarting ? 'restarting' : (e.State?.Status ?? 'unknown'),
        restartCount: e.RestartCount ?? 0,
        startedAt: Date.parse(e.State?.StartedAt ?? '') || 0,
        service: labels['com.docker.compose.service'],
        workingDir: labels['com.docker.compose.project.working_dir'],
        published: publishedPorts(e.NetworkSettings?.Ports),
      });
    }
    return states;
  }

  /** Restarts a proxy that could not start before its include was written (an upstream that did not resolve). */
  async restart(container: string): Promise<void> {
    ensureOk(await this.docker(['restart', '--time', '10', container]), `restarting ${container}`);
  }

  /**
   * Waits until a proxy that was just started runs and stays up (a bad configuration makes Nginx exit at once),
   * then returns nothing; throws with the proxy's last log lines otherwise.
   */
  async waitStarted(container: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    let upSince: number | undefined;
    for (;;) {
      const state = (await this.inspect([container])).get(container);
      if (state?.running) {
        upSince ??= this.clock.now();
        // Nginx exits within milliseconds on a bad configuration: half a second up means it loaded it.
        if (this.clock.now() - upSince >= STARTED_STABLE_MS) return;
      } else {
        upSince = undefined;
      }
      if (this.clock.now() >= deadline || signal?.aborted) {
        const logs = await this.docker(['logs', '--tail', '8', container]);
        throw new NginxError(
          `${container} did not start (${state?.status ?? 'no such container'}):\n${tail(logs.stderr || logs.stdout, 8)}`,
        );
      }
      await this.clock.sleep(100, signal);
    }
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

function normalizeDump(content: string): string {
  return content
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();
}
