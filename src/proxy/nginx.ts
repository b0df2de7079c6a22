import path from 'node:path';
import type { ProxyTarget } from '../config/config.js';
import type { Clock, Files } from '../io.js';
import { ensureOk, tail, type Runner } from '../runner.js';
import { packFile, unpackFirstFile } from '../docker/tar.js';
import { parseLogLine, type AccessRecord } from './access-log.js';
import { readInclude, renderInclude, renderSplit, type IncludeReading, type Share } from './include.js';
import { dumpSections, listenPorts } from './nginx-config.js';
import type { ContainerSignals } from '../processes.js';
import type { Proxy, ProxyState, ReloadOptions } from './proxy.js';

const TIMEOUT_MS = 60_000;
const RELOAD_CONFIRM_MS = 10_000;
/**
 * How often the workers are looked at after a reload: new workers start within milliseconds, but Nginx lets the
 * old ones accept for 100 ms more (ngx_msleep(100) in its master cycle); a `docker top` costs the engine 20 ms.
 */
const RELOAD_POLL_MS = 20;
const STARTED_STABLE_MS = 500;
/** The longest a follow of a proxy's log may last: a watch is stopped long before (watch-seconds is at most 1 h). */
const FOLLOW_MS = 2 * 3_600_000;

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
    if (m && binding?.HostPort)
      published.set(Number(m[1]), { hostIp: binding.HostIp ?? '', hostPort: Number(binding.HostPort) });
  }
  return published;
}

export class NginxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NginxError';
  }
}

/** What a reload needs from before it: the workers to see replaced, and the master to signal directly. */
interface BeforeReload {
  /** The workers that accept connections; undefined when they cannot be seen. */
  workers?: string[];
  /** Every worker, those still finishing requests from an earlier reload too. */
  all?: string[];
  master?: { pid: number; id: string };
}

/** The master's title, in `docker top` and in /proc/<pid>/cmdline alike. */
const MASTER = 'nginx: master process';
const WORKER = 'nginx: worker process';

/** Nginx in a container: reads, writes, tests (nginx -T) and reloads the upstream include, and confirms the reload. */
export class Nginx implements Proxy {
  constructor(
    private readonly runner: Runner,
    private readonly files: Files,
    private readonly clock: Clock,
    private readonly signals?: ContainerSignals,
  ) {}

  /** Per proxy, every worker it had before this run's last reload of it: what may still reach the color it left. */
  private readonly replaced = new Map<string, Set<string>>();
  /** The proxies whose old workers were seen to no longer accept since their last reload. */
  private readonly retired = new Set<string>();

  render(target: ProxyTarget, color: string, port: number): string {
    return renderInclude(target, color, port);
  }

  renderSplit(target: ProxyTarget, from: Share, to: Share): string {
    return renderSplit(target, from, to);
  }

  reading(
    content: string | null,
    target: ProxyTarget,
    colors: readonly string[],
    ports: readonly number[],
  ): IncludeReading {
    return readInclude(content, target, colors, ports);
  }

  planSwitch(container: string): string {
    const reload = this.signals
      ? 'a SIGHUP to its Nginx master (docker exec nginx -s reload where not on this machine)'
      : `docker exec ${container} nginx -s reload`;
    return `docker exec ${container} nginx -T, then ${reload}`;
  }

  async beforeReload(container: string): Promise<BeforeReload> {
    const [processes, id] = await Promise.all([
      this.top(container),
      this.signals ? this.containerId(container) : undefined,
    ]);
    const master = processes?.find((p) => p.cmd.startsWith(MASTER));
    return {
      workers: processes && acceptingWorkerPids(processes),
      all: processes && workerPids(processes),
      master: master && id ? { pid: Number(master.pid), id } : undefined,
    };
  }

  describe(target: ProxyTarget): string {
    return target.file ? `${target.file} (mounted in ${target.container})` : `${target.container}:${target.path}`;
  }

  async read(target: ProxyTarget): Promise<string | null> {
    if (target.file) return this.files.read(target.file);
    const r = await this.docker(['cp', '-L', `${target.container}:${target.path}`, '-'], 'latin1');
    // Docker CLI 24+ says "Could not find the file", older ones "No such container:path"; a proxy that does not
    // exist yet (started by a first deploy) has no include either.
    if (r.exitCode !== 0 && /could not find the file|no such file|no such container/i.test(r.stderr)) return null;
    ensureOk(r, `reading ${this.describe(target)}`);
    return unpackFirstFile(Buffer.from(r.stdout, 'latin1'));
  }

  async write(target: ProxyTarget, content: string): Promise<void> {
    if (target.file) return this.files.write(target.file, content);
    const containerPath = target.path ?? '';
    const archive = packFile(path.posix.basename(containerPath), content, this.clock.now() / 1000);
    const dir = path.posix.dirname(containerPath);
    ensureOk(
      await this.runner.run('docker', ['cp', '-', `${target.container}:${dir}`], {
        input: archive,
        timeoutMs: TIMEOUT_MS,
      }),
      `copying the include into ${target.container}`,
    );
  }

  /**
   * `nginx -T` tests the whole configuration like `nginx -t` and also prints every file it read, which shows
   * whether the container really reads what was written (a bind mount of a replaced file would not).
   */
  async test(target: ProxyTarget, expected: string): Promise<number[]> {
    const r = await this.docker(['exec', target.container, 'nginx', '-T']);
    if (r.timedOut || /^Error( response from daemon)?:|is not running/m.test(r.stderr)) {
      throw new NginxError(`could not run nginx -t in ${target.container}:\n${tail(r.stderr || r.stdout, 8)}`);
    }
    if (r.exitCode !== 0) {
      throw new NginxError(
        `nginx -t in ${target.container} rejected the new include:\n${tail(r.stderr || r.stdout, 8)}`,
      );
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
   * `nginx -s reload` only signals the master: it starts new workers with the new configuration at once, then lets
   * the old ones accept new connections for 100 ms more (ngx_msleep(100) in its master cycle) before they retitle
   * themselves "is shutting down" and stop accepting. `docker top` shows both from the host, so nothing needs to
   * be installed in the image. Resolves once no old worker accepts (`until: 'started'`: once a new worker runs,
   * when what follows waits out the old ones itself); false when the workers cannot be seen (not confirmed).
   */
  async reload(container: string, options: ReloadOptions = {}): Promise<boolean> {
    const { taken, signal, until = 'settled' } = options;
    const { workers: before, all, master } = (await (taken ?? this.beforeReload(container))) as BeforeReload;
    // What `nginx -s reload` does, a SIGHUP to the master, sent from here when this machine runs it: 70 to 90 ms
    // sooner than through docker exec. Not `docker kill --signal HUP`: the engine would take the container for
    // stopped by hand, and its restart policy (unless-stopped) would no longer bring it back (moby/moby#41302).
    // Only where the new workers can be seen: a master that cannot load the configuration says nothing to a
    // signal (nginx -s reload would exit 1), and the confirmation is then what tells.
    const sent =
      master !== undefined && before?.length && (await this.signals?.send(master.pid, master.id, MASTER, 'SIGHUP'));
    if (!sent) {
      ensureOk(await this.docker(['exec', container, 'nginx', '-s', 'reload']), `nginx -s reload in ${container}`);
    }
    if (!before?.length) {
      this.replaced.delete(container);
      this.retired.delete(container);
      return false;
    }
    const old = new Set([...before, ...(all ?? [])]);
    this.replaced.set(container, old);
    this.retired.delete(container);
    if (until === 'settled') {
      await this.settled(container, signal);
      return true;
    }
    const started = (accepting: string[]) => accepting.some((pid) => !old.has(pid));
    return this.waitWorkers(container, started, 'still ran only its old Nginx workers', signal);
  }

  /**
   * Resolves once every worker that accepts connections was started by this run's last reload of the proxy (at
   * once without such a reload): no new request can reach the color it left any more.
   */
  async settled(container: string, signal?: AbortSignal): Promise<void> {
    const old = this.replaced.get(container);
    if (!old || this.retired.has(container)) return;
    const settled = (accepting: string[]) => oldRetired(accepting, old);
    await this.waitWorkers(container, settled, 'still let its old Nginx workers accept connections', signal);
    this.retired.add(container);
  }

  /** Looks at the workers until `done`; after RELOAD_CONFIRM_MS, fails saying the proxy `still` did so. */
  private async waitWorkers(
    container: string,
    done: (accepting: string[]) => boolean,
    still: string,
    signal?: AbortSignal,
  ): Promise<true> {
    const deadline = this.clock.now() + RELOAD_CONFIRM_MS;
    for (;;) {
      if (done((await this.acceptingWorkers(container)) ?? [])) return true;
      // A cancel ends the wait (docker top is ended by it too): the undo reloads again anyway.
      if (signal?.aborted) throw new NginxError(`cancelled while confirming the reload of ${container}`);
      if (this.clock.now() >= deadline) {
        throw new NginxError(
          `${container} ${still} ${RELOAD_CONFIRM_MS / 1000} s after the reload: the new configuration did not ` +
            'take effect in time (see the proxy log).',
        );
      }
      await this.clock.sleep(RELOAD_POLL_MS, signal);
    }
  }

  /**
   * The access log as Docker keeps the container's output (the official image links its access log to stdout),
   * both streams: some configurations log to stderr. One `docker logs --follow` for the whole watch: each read of
   * the log from its start would cost the engine more every second on a busy proxy.
   */
  async followAccessLog(
    container: string,
    since: number,
    onRecord: (record: AccessRecord) => void,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    // The output is not kept: what docker says when it cannot follow comes as a line like any other.
    const other: string[] = [];
    const r = await this.runner.run(
      'docker',
      ['logs', '--follow', '--timestamps', '--since', (since / 1000).toFixed(3), container],
      {
        timeoutMs: FOLLOW_MS,
        signal,
        linesOnly: true,
        // Ended with every process it started: a docker that is a wrapper (a script that runs the real one) would
        // otherwise leave the real `docker logs` holding the output open, and the watch waiting for it forever.
        tree: true,
        onLine: (line) => {
          const record = parseLogLine(line);
          if (record) onRecord(record);
          else if (other.push(line) > 2) other.shift();
        },
      },
    );
    if (signal.aborted) return undefined;
    const said = (r.stderr || other.join('\n')).trim();
    return `docker logs ${container} ended (${r.timedOut ? 'timed out' : `exit code ${r.exitCode}`})${said ? `: ${tail(said, 2)}` : ''}`;
  }

  /** PIDs of the workers that accept connections now, or undefined when they cannot be seen. */
  async acceptingWorkers(container: string): Promise<string[] | undefined> {
    const processes = await this.top(container);
    return processes && acceptingWorkerPids(processes);
  }

  /** The container's processes, as `docker top` lists them; undefined when they cannot be seen. */
  private async top(container: string): Promise<TopProcess[] | undefined> {
    const r = await this.docker(['top', container]).catch(() => undefined);
    return r?.exitCode === 0 ? topProcesses(r.stdout) : undefined;
  }

  /** The container's full id, which its processes' cgroups name; undefined when it cannot be read. */
  private async containerId(container: string): Promise<string | undefined> {
    const r = await this.docker(['inspect', '--type', 'container', container]).catch(() => undefined);
    try {
      return r?.exitCode === 0 ? (JSON.parse(r.stdout) as { Id?: string }[])[0]?.Id : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Old workers that may still send requests to the color the last reload left: each old worker accepts for a
   * moment more, then stops, retitles itself "is shutting down", and exits once its last request is done (idle
   * keep-alive connections are closed at once). Every worker shutting down counts and, after this run's reload,
   * so does every worker it replaced, by PID, whatever its title: not yet retitled, it still accepts.
   */
  async draining(container: string, timeoutMs: number): Promise<number | undefined> {
    const r = await this.docker(['top', container], undefined, timeoutMs).catch(() => undefined);
    if (r?.exitCode !== 0) return undefined;
    const old = this.replaced.get(container);
    const processes = topProcesses(r.stdout);
    if (!old || !processes) return shuttingDownWorkers(r.stdout);
    const workers = processes.filter((p) => p.cmd.startsWith(WORKER));
    if (!workers.length) return undefined;
    // Seen here as settled() would see it: the run's end then need not look again.
    if (oldRetired(acceptingWorkerPids(processes), old)) this.retired.add(container);
    return workers.filter((p) => p.cmd !== WORKER || old.has(p.pid)).length;
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
    if (r.exitCode !== 0 && !/no such (container|object)/i.test(r.stderr))
      ensureOk(r, `inspecting ${containers.join(', ')}`);
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

  private docker(args: string[], encoding?: 'latin1', timeoutMs = TIMEOUT_MS) {
    return this.runner.run('docker', args, { timeoutMs, encoding });
  }
}

interface TopProcess {
  pid: string;
  cmd: string;
}

/** Each process of `docker top` (ps) output: its PID and command; undefined when the columns cannot be found. */
function topProcesses(top: string): TopProcess[] | undefined {
  const [header = '', ...rows] = top.split('\n').filter((l) => l.trim());
  const columns = header.trim().split(/\s+/);
  const pid = columns.indexOf('PID');
  const cmd = columns.findIndex((c) => c === 'CMD' || c === 'COMMAND');
  if (pid < 0 || cmd < 0) return undefined;
  return rows.map((row) => row.trim().split(/\s+/)).map((f) => ({ pid: f[pid] ?? '', cmd: f.slice(cmd).join(' ') }));
}

/** Whether every worker that accepts connections is a new one: none from before the reload takes requests. */
function oldRetired(accepting: string[], old: Set<string>): boolean {
  return accepting.length > 0 && accepting.every((pid) => !old.has(pid));
}

/** PIDs of every Nginx worker, accepting or shutting down. */
function workerPids(processes: TopProcess[]): string[] {
  return processes.filter((p) => p.cmd.startsWith(WORKER)).map((p) => p.pid);
}

/** PIDs of the Nginx workers that accept connections, from `docker top` (ps) output or its processes. */
export function acceptingWorkerPids(top: string | TopProcess[]): string[] {
  const processes = typeof top === 'string' ? (topProcesses(top) ?? []) : top;
  return processes.filter((p) => p.cmd === 'nginx: worker process').map((p) => p.pid);
}

/**
 * How many old workers are still finishing their requests, from `docker top` output; undefined when no Nginx
 * worker shows at all (another ps, another proxy): then it cannot be told.
 */
export function shuttingDownWorkers(top: string): number | undefined {
  const workers = (topProcesses(top) ?? []).filter((p) => p.cmd.startsWith(WORKER));
  if (!workers.length) return undefined;
  return workers.filter((p) => p.cmd === 'nginx: worker process is shutting down').length;
}

function normalizeDump(content: string): string {
  return content
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();
}
