import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ContainerState } from '../../src/compose.js';
import type { Clock, Files, Http, HttpResponse, Logger } from '../../src/io.js';
import type { Journal, JournalEntry } from '../../src/journal.js';
import type { LockHolder, Locks } from '../../src/lock.js';
import type { ProcessInfo, Processes } from '../../src/processes.js';
import { describeCommand, type RunOptions, type RunResult, type Runner } from '../../src/runner.js';
import { packFile, unpackFirstFile } from '../../src/tar.js';

/** The id of a service's nth container (12 hex digits, as the tool keeps them), the same in every test. */
export function fakeId(service: string, nth = 1): string {
  return createHash('sha256').update(`${service}#${nth}`).digest('hex').slice(0, 12);
}

/** In-memory files; directories exist wherever a file does. */
export class FakeFiles implements Files {
  readonly data = new Map<string, string>();
  readonly dirs = new Set<string>();
  writes: string[] = [];

  constructor(files: Record<string, string> = {}) {
    for (const [p, content] of Object.entries(files)) this.put(p, content);
  }

  put(p: string, content: string): void {
    this.data.set(p, content);
    for (let d = path.dirname(p); !this.dirs.has(d); d = path.dirname(d)) this.dirs.add(d);
  }

  async read(p: string) {
    return this.data.get(p) ?? null;
  }

  async write(p: string, content: string) {
    this.writes.push(p);
    this.put(p, content);
  }

  async kind(p: string) {
    return this.data.has(p) ? ('file' as const) : this.dirs.has(p) ? ('directory' as const) : ('missing' as const);
  }
}

/** Time that moves only when the code under test sleeps. */
export class FakeClock implements Clock {
  t = 1_000_000;
  slept: number[] = [];
  now() {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal) {
    if (signal?.aborted) return;
    this.slept.push(ms);
    this.t += ms;
  }
}

/** Records which lock keys were taken and released; `held` is what holders() reports. */
export class FakeLocks implements Locks {
  events: string[] = [];
  held: { key: string; holder: LockHolder }[] = [];
  async acquire(keys: string[]) {
    this.events.push(`acquire ${keys.join(' ')}`);
    return async () => {
      this.events.push(`release ${keys.join(' ')}`);
    };
  }
  async holders(keys: string[]) {
    return this.held.filter((h) => keys.includes(h.key));
  }
}

/** The journal in memory: every entry written, in order, and what a read finds now. */
export class FakeJournal implements Journal {
  readonly entries = new Map<string, JournalEntry>();
  readonly written: JournalEntry[] = [];
  cleared = 0;
  async read(key: string) {
    return this.entries.get(key);
  }
  async write(key: string, entry: JournalEntry) {
    this.written.push(structuredClone(entry));
    this.entries.set(key, structuredClone(entry));
  }
  async clear(key: string) {
    this.cleared++;
    this.entries.delete(key);
  }
}

/** Processes left running by a dead run, found by their run token; `ended` are those this run ended. */
export class FakeProcesses implements Processes {
  running: (ProcessInfo & { token: string; ignoresTerm?: boolean })[] = [];
  ended: number[] = [];
  /** What the host had been asked to do when the processes were ended (nothing may change before). */
  changesBeforeEnd?: number;
  constructor(private readonly host?: { changes: string[] }) {}
  async find(token: string) {
    return this.running.filter((p) => p.token === token).map(({ pid, command }) => ({ pid, command }));
  }
  async end(pids: number[]) {
    this.changesBeforeEnd = this.host?.changes.length;
    const left = this.running.filter((p) => pids.includes(p.pid) && p.ignoresTerm).map((p) => p.pid);
    this.ended.push(...pids.filter((p) => !left.includes(p)));
    this.running = this.running.filter((p) => !pids.includes(p.pid) || left.includes(p.pid));
    return left;
  }
}

export class RecordingLogger implements Logger {
  lines: string[] = [];
  groups: string[] = [];
  info(m: string) {
    this.lines.push(m);
  }
  warn(m: string) {
    this.lines.push(`warning: ${m}`);
  }
  error(m: string) {
    this.lines.push(`error: ${m}`);
  }
  async group<T>(name: string, fn: () => Promise<T>) {
    this.groups.push(name);
    return fn();
  }
  get text() {
    return this.lines.join('\n');
  }
}

type FakeContainer = ContainerState;

interface FakeProxy {
  running: boolean;
  /** running, exited, restarting (crash-looping), created. */
  status: string;
  /** Container port → host port, as published. */
  published: Map<number, number>;
  /** Compose labels, for a proxy that is a service of the project. */
  labels: Record<string, string>;
  restartCount: number;
  startedAt: number;
  /** Files inside the container (written with docker cp). */
  files: Map<string, string>;
  /** Container path → runner path of a bind-mounted file. */
  mounts: Map<string, string>;
  /** The includes Nginx loaded at its last (re)load: what it serves. */
  served: Map<string, string>;
  /** Worker PIDs that accept connections, and old ones still listed as accepting for a few more looks. */
  workers: number[];
  lingering: { pids: number[]; looks: number };
}

type Injection = (command: string) => Partial<RunResult> | undefined;

/**
 * A Docker host in memory: compose services with container states, proxy containers with their includes, and
 * what each proxy serves after its last reload. Every command is recorded as a command line.
 */
export class FakeHost implements Runner, Http {
  readonly calls: string[] = [];
  readonly containers = new Map<string, FakeContainer>();
  readonly proxies = new Map<string, FakeProxy>();
  /** Services whose container exits at once on `up`. */
  readonly crashing = new Set<string>();
  /** HTTP status each app service answers on its port (default 200). */
  readonly appStatus = new Map<string, number>();
  /** Services whose appStatus goes once `up` recreates them (a new version that fixes them). */
  readonly fixedByUp = new Set<string>();
  /** Docker HEALTHCHECK statuses a service's container reports, one per inspect, the last one sticking. */
  readonly dockerHealth = new Map<string, string[]>();
  readonly injections: Injection[] = [];
  composeV2 = false;
  /** Nginx rejects an include whose content matches (as `nginx -t` would a bad directive). */
  nginxRejects?: (content: string) => boolean;
  /** What the URL through the proxy answers, given the color the proxy serves. */
  proxyAnswer?: (color: string | undefined) => number;
  /** Headers the proxy adds to its answers, given the color it serves. */
  proxyHeaders?: (color: string | undefined) => Record<string, string>;
  /** Shared services that are proxies: compose `up` of one creates its proxy container (name, bind mounts). */
  readonly composeProxies = new Map<string, { container: string; mounts: Record<string, string> }>();
  /** Nginx fails to start in a proxy while its include matches (an upstream host that does not resolve). */
  nginxCannotStart?: (content: string) => boolean;
  /** A reload whose new workers never replace the old ones (the config did not take effect). */
  reloadNeverTakesEffect = false;
  private nextId = 2;
  private readonly generations = new Map<string, number>();
  private nextPid = 100;

  constructor(
    readonly files: FakeFiles,
    readonly portOf: Record<string, number>,
  ) {}

  addProxy(
    name: string,
    mounts: Record<string, string> = {},
    files: Record<string, string> = {},
    options: { status?: string; published?: Record<number, number>; labels?: Record<string, string> } = {},
  ): void {
    const status = options.status ?? 'running';
    const proxy: FakeProxy = {
      running: status === 'running',
      status,
      published: new Map(Object.entries(options.published ?? { 80: 8080 }).map(([k, v]) => [Number(k), v])),
      labels: options.labels ?? {},
      restartCount: 0,
      startedAt: 0,
      files: new Map(Object.entries(files)),
      mounts: new Map(Object.entries(mounts)),
      served: new Map(),
      workers: [this.nextPid++],
      lingering: { pids: [], looks: 0 },
    };
    this.proxies.set(name, proxy);
    proxy.served = this.includesOf(proxy);
  }

  /** Starts a service's container as if it had been deployed before. */
  addRunning(service: string, running = true): void {
    this.containers.set(service, this.newContainer(service, running));
  }

  /** The command lines that change something (no version/ps/inspect/cp-out/nginx -T/logs). */
  get changes(): string[] {
    return this.calls.filter(
      (c) => !/ version$| ps -a -q | inspect | cp -L \S+:\S+ -$| nginx -T$| nginx -t$| logs |^docker top /.test(c),
    );
  }

  fail(pattern: RegExp, result: Partial<RunResult> = { exitCode: 1, stderr: 'injected failure' }, times = 1): void {
    let left = times;
    this.injections.push((command) => {
      if (left > 0 && pattern.test(command)) {
        left--;
        return result;
      }
      return undefined;
    });
  }

  /** The color marker of what a proxy serves now. */
  servedColor(proxy: string): string | undefined {
    for (const content of this.proxies.get(proxy)?.served.values() ?? []) {
      const m = /color=([a-z0-9_-]+)/.exec(content);
      if (m) return m[1];
    }
    return undefined;
  }

  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    const command = describeCommand(file, args);
    this.calls.push(command);
    for (const inject of this.injections) {
      const injected = inject(command);
      if (injected) return { command, exitCode: 1, stdout: '', stderr: '', timedOut: false, ...injected };
    }
    const ok = (stdout = '') => ({ command, exitCode: 0, stdout, stderr: '', timedOut: false });
    const err = (stderr: string) => ({ command, exitCode: 1, stdout: '', stderr, timedOut: false });
    if (file === 'docker-compose') return this.compose([...args], ok, err);
    if (file === 'docker' && args[0] === 'compose') {
      return this.composeV2 ? this.compose(args.slice(1), ok, err) : err("docker: 'compose' is not a docker command.");
    }
    if (file !== 'docker') return err(`unexpected command ${command}`);
    return this.docker([...args], options, ok, err);
  }

  private compose(args: string[], ok: (s?: string) => RunResult, err: (s: string) => RunResult): RunResult {
    if (args[0] === 'version') return ok('Docker Compose version fake\n');
    while (args[0] === '-p' || args[0] === '-f') args.splice(0, 2);
    const [sub, ...rest] = args;
    const services = rest.filter((a, i) => !a.startsWith('-') && rest[i - 1] !== '--tail');
    switch (sub) {
      case 'ps':
        return ok(services.flatMap((s) => (this.containers.has(s) ? [this.containers.get(s)?.id] : [])).join('\n'));
      case 'up':
        for (const s of services) {
          const existing = this.containers.get(s);
          if (rest.includes('--no-recreate') && existing) {
            existing.running = true;
            existing.status = 'running';
          } else {
            this.containers.set(s, this.newContainer(s, !this.crashing.has(s)));
            if (this.fixedByUp.delete(s)) this.appStatus.delete(s);
          }
          const proxy = this.composeProxies.get(s);
          if (proxy && !this.proxies.has(proxy.container)) {
            this.addProxy(proxy.container, proxy.mounts, {}, { labels: { 'com.docker.compose.service': s } });
            this.startProxy(this.proxies.get(proxy.container) as FakeProxy);
          }
        }
        return ok();
      case 'start':
      case 'stop':
        for (const s of services) {
          const c = this.containers.get(s);
          if (!c) return err(`No container found for ${s}`);
          c.running = sub === 'start';
          c.status = c.running ? 'running' : 'exited';
        }
        return ok();
      case 'rm':
        for (const s of services) this.containers.delete(s);
        return ok();
      case 'pull':
        return ok();
      case 'logs':
        return err('the tool reads logs with docker logs, not compose logs');
      default:
        return err(`unexpected compose subcommand ${sub}`);
    }
  }

  private docker(
    args: string[],
    options: RunOptions,
    ok: (s?: string) => RunResult,
    err: (s: string) => RunResult,
  ): RunResult {
    if (args[0] === 'inspect') {
      const names = args.filter((a, i) => i > 0 && !a.startsWith('--') && a !== 'container');
      // Real docker prints what it found and exits 1 naming what it did not.
      const found: object[] = [...this.containers.values()].filter((c) => names.includes(c.id)).map((c) => this.inspect(c));
      const proxies = names.filter((n) => this.proxies.has(n));
      found.push(...proxies.map((n) => this.inspectProxy(n)));
      const missing = names.filter((n) => !proxies.includes(n) && ![...this.containers.values()].some((c) => c.id === n));
      const stdout = JSON.stringify(found);
      return missing.length
        ? { ...err(missing.map((m) => `Error: No such container: ${m}`).join('\n')), stdout }
        : ok(stdout);
    }
    if (args[0] === 'stop') {
      const ids = args.slice(1).filter((a) => !a.startsWith('-'));
      for (const id of ids) {
        const c = [...this.containers.values()].find((x) => x.id === id);
        if (!c) return err(`Error response from daemon: No such container: ${id}`);
        c.running = false;
        c.status = 'exited';
      }
      return ok(`${ids.join('\n')}\n`);
    }
    if (args[0] === 'restart') {
      const proxy = this.proxies.get(args[args.length - 1] ?? '');
      if (!proxy) return err(`Error response from daemon: No such container: ${args[args.length - 1]}`);
      this.startProxy(proxy);
      return ok();
    }
    if (args[0] === 'logs') {
      const id = args[args.length - 1] ?? '';
      const app = [...this.containers.values()].find((c) => c.id === id);
      if (app) return ok(`log line of ${app.service}\n`);
      if (this.proxies.has(id)) return { ...ok(), stderr: 'nginx: [emerg] host not found in upstream "app-blue:8000"\n' };
      return err(`Error: No such container: ${id}`);
    }
    if (args[0] === 'top') {
      const proxy = this.proxies.get(args[1] ?? '');
      if (!proxy?.running) return err(`Error: container ${args[1]} is not running`);
      const row = (pid: number, cmd: string) => `nobody  ${pid}  1  0  05:00  ?  00:00:00  ${cmd}`;
      const accepting = [...proxy.workers];
      if (proxy.lingering.looks > 0) {
        proxy.lingering.looks--;
        accepting.push(...proxy.lingering.pids);
      }
      return ok(
        ['UID PID PPID C STIME TTY TIME CMD', row(1, 'nginx: master process nginx -g daemon off;'), ...accepting.map((p) => row(p, 'nginx: worker process'))].join('\n'),
      );
    }
    if (args[0] === 'cp') {
      const paths = args.filter((a, i) => i > 0 && a !== '-L');
      const [src, dest] = [paths[0] ?? '', paths[1] ?? ''];
      if (dest === '-') {
        const [name, p] = src.split(':') as [string, string];
        const proxy = this.proxies.get(name);
        if (!proxy) return err(`Error: No such container: ${name}`);
        const content = proxy.files.get(p);
        if (content === undefined) return err(`Error: Could not find the file ${p} in container ${name}`);
        return ok(Buffer.from(packFile(path.posix.basename(p), content, 0)).toString('latin1'));
      }
      const [name, dir] = dest.split(':') as [string, string];
      const proxy = this.proxies.get(name);
      if (!proxy) return err(`Error: No such container: ${name}`);
      const archive = options.input as Uint8Array;
      const header = Buffer.from(archive).subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      proxy.files.set(path.posix.join(dir, header), unpackFirstFile(archive));
      return ok();
    }
    if (args[0] === 'exec') {
      const proxy = this.proxies.get(args[1] ?? '');
      if (!proxy?.running) return err(`Error: container ${args[1]} is not running`);
      const includes = this.includesOf(proxy);
      const rejected = [...includes.values()].some((c) => this.nginxRejects?.(c));
      const nginxArgs = args.slice(3).join(' ');
      if (nginxArgs === '-T' || nginxArgs === '-t') {
        if (rejected) return err('nginx: [emerg] unknown directive "serverr" in /etc/nginx/conf.d/service-url.inc:2');
        const dump = [...includes].map(([p, c]) => `# configuration file ${p}:\n${c}\n`).join('\n');
        const conf = '# configuration file /etc/nginx/conf.d/default.conf:\nserver {\n    listen 80;\n}\n\n';
        return ok(nginxArgs === '-T' ? `# configuration file /etc/nginx/nginx.conf:\nhttp {}\n\n${conf}${dump}` : '');
      }
      if (nginxArgs === '-s reload') {
        // A reload with a bad config keeps the old one, as Nginx does.
        if (rejected) return err('nginx: [emerg] unknown directive');
        proxy.served = includes;
        if (!this.reloadNeverTakesEffect) {
          proxy.lingering = { pids: proxy.workers, looks: 1 };
          proxy.workers = [this.nextPid++];
        }
        return ok();
      }
    }
    return err(`unexpected docker command ${args.join(' ')}`);
  }

  /** A proxy container that is exited, crash-looping (restarting) or running. */
  setProxyStatus(name: string, status: 'running' | 'exited' | 'restarting'): void {
    const proxy = this.proxies.get(name) as FakeProxy;
    proxy.status = status;
    proxy.running = status === 'running';
  }

  /** Caught between two restarts of a crash loop: Docker says running, the restart policy started it just now. */
  crashLoopCaughtRunning(name: string, startedAt: number): void {
    const proxy = this.proxies.get(name) as FakeProxy;
    this.setProxyStatus(name, 'running');
    proxy.restartCount = 3;
    proxy.startedAt = startedAt;
  }

  /** Nginx starts with the includes it finds, or fails to (and docker restarts it, crash-looping). */
  startProxy(proxy: FakeProxy): void {
    const includes = this.includesOf(proxy);
    const fails = [...includes.values()].some((c) => this.nginxCannotStart?.(c));
    proxy.running = !fails;
    proxy.status = fails ? 'restarting' : 'running';
    if (!fails) {
      proxy.served = includes;
      proxy.workers = [this.nextPid++];
    }
  }

  private inspectProxy(name: string) {
    const proxy = this.proxies.get(name) as FakeProxy;
    const ports = Object.fromEntries([...proxy.published].map(([inside, outside]) => [`${inside}/tcp`, [{ HostIp: '127.0.0.1', HostPort: String(outside) }]]));
    return {
      Id: `${name}-id`,
      Name: `/${name}`,
      State: {
        Status: proxy.status === 'restarting' ? 'running' : proxy.status,
        Running: proxy.status !== 'exited',
        Restarting: proxy.status === 'restarting',
        StartedAt: new Date(proxy.startedAt).toISOString(),
      },
      RestartCount: proxy.restartCount,
      Config: { Labels: proxy.labels },
      NetworkSettings: { Ports: ports },
    };
  }

  private includesOf(proxy: FakeProxy): Map<string, string> {
    const all = new Map(proxy.files);
    for (const [inside, outside] of proxy.mounts) {
      const content = this.files.data.get(outside);
      if (content !== undefined) all.set(inside, content);
    }
    return all;
  }

  private newContainer(service: string, running: boolean): FakeContainer {
    return {
      id: fakeId(service, (this.generations.set(service, (this.generations.get(service) ?? 0) + 1), this.generations.get(service))),
      name: `proj-${service}-1`,
      service,
      running,
      status: running ? 'running' : 'exited',
      exitCode: running ? 0 : 1,
      addresses: [`172.18.0.${this.nextId++}`],
      ports: [8000],
    };
  }

  private inspect(c: FakeContainer) {
    const queue = this.dockerHealth.get(c.service);
    const health = queue && queue.length > 1 ? queue.shift() : queue?.[0];
    return {
      Id: `${c.id}0000`,
      Name: `/${c.name}`,
      State: { Status: c.status, Running: c.running, ExitCode: c.exitCode, ...(health ? { Health: { Status: health } } : {}) },
      Config: {
        Labels: { 'com.docker.compose.service': c.service, 'com.docker.compose.project': 'proj' },
        ExposedPorts: Object.fromEntries(c.ports.map((p) => [`${p}/tcp`, {}])),
      },
      NetworkSettings: { Networks: { proj_default: { IPAddress: c.addresses[0] } } },
    };
  }

  // Http: each app service answers on its own port; anything else is the proxy.
  async get(url: string): Promise<HttpResponse> {
    const u = new URL(url);
    const service = Object.keys(this.portOf).find((s) => String(this.portOf[s]) === u.port);
    if (service) {
      if (!this.containers.get(service)?.running) {
        throw Object.assign(new Error(`connect ECONNREFUSED ${u.host}`), { code: 'ECONNREFUSED' });
      }
      return { status: this.appStatus.get(service) ?? 200, body: `{"service":"${service}"}`, headers: {} };
    }
    // A proxy answers on the host port it publishes (the first proxy for any other URL, such as a verify-url).
    const name =
      [...this.proxies.keys()].find((n) => [...(this.proxies.get(n)?.published.values() ?? [])].map(String).includes(u.port)) ??
      [...this.proxies.keys()][0] ??
      '';
    if (!this.proxies.get(name)?.running) {
      throw Object.assign(new Error(`connect ECONNREFUSED ${u.host}`), { code: 'ECONNREFUSED' });
    }
    const color = this.servedColor(name);
    // Nginx answers 502 when the upstream it points at (a color's port in the include) does not run.
    const served = [...(this.proxies.get(name)?.served.values() ?? [])].join('\n');
    const ports = [...served.matchAll(/:(\d+)\b/g)].map((m) => Number(m[1]));
    const up = Object.entries(this.portOf).some(([svc, port]) => ports.includes(port) && this.containers.get(svc)?.running);
    const status = this.proxyAnswer?.(color) ?? (up ? 200 : 502);
    return { status, body: `served by ${color}`, headers: this.proxyHeaders?.(color) ?? {} };
  }
}
