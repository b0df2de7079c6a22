import { createHash } from 'node:crypto';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ContainerState } from '../../src/docker/compose.js';
import type { Http, HttpResponse } from '../../src/io.js';
import type { Journal, JournalEntry } from '../../src/docker/journal.js';
import type { LockHolder, Locks } from '../../src/docker/lock.js';
import type { ContainerSignals, ProcessInfo, Processes } from '../../src/processes.js';
import { describeCommand, type RunOptions, type RunResult, type Runner } from '../../src/runner.js';
import { packFile, unpackFirstFile } from '../../src/docker/tar.js';
import type { FakeFiles } from './fakes.js';

export { FakeClock, FakeFiles, RecordingLogger } from './fakes.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The id of the nth container the host created for a service, in whatever project (12 hex digits, as the tool
 * keeps them; Docker's full id starts with them), the same in every test.
 */
export function fakeId(service: string, nth = 1): string {
  return sha256(`${service}#${nth}`).slice(0, 12);
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
  async settle() {}
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

/** Which compose made a container or answers a call: `docker-compose` (1) or `docker compose` (2). */
export type ComposeVersion = 1 | 2;

/** A container as Docker keeps it; the ContainerState part is what the tool reads back from `docker inspect`. */
export interface FakeContainer extends ContainerState {
  /** Docker's full id (64 hex digits); `id` is its first 12. */
  fullId: string;
  /** The compose project it belongs to (its com.docker.compose.project label). */
  project: string;
  /** A container of `compose run`, not of the service itself. */
  oneoff: boolean;
  /** Its labels, as compose set them. */
  labels: Record<string, string>;
  /** How often its restart policy restarted it. */
  restartCount: number;
}

/**
 * Every app container of the host, compose's service containers and one-off containers alike. A service has at
 * most one (non one-off) container per project: the table is keyed by (project, service).
 */
export class FakeContainers implements Iterable<FakeContainer> {
  private list: FakeContainer[] = [];

  get size(): number {
    return this.list.length;
  }

  [Symbol.iterator](): Iterator<FakeContainer> {
    return this.list[Symbol.iterator]();
  }

  values(): IterableIterator<FakeContainer> {
    return this.list.values();
  }

  /**
   * The container of a service (never a one-off): in `project` when given, else in the only project that has one
   * (a test that leaves it open while two projects have one fails loudly, rather than look at the wrong one).
   */
  get(service: string, project?: string): FakeContainer | undefined {
    const found = this.list.filter(
      (c) => !c.oneoff && c.service === service && (project === undefined || c.project === project),
    );
    if (found.length > 1) {
      throw new Error(
        `${service} has a container in each of the projects ${found.map((c) => c.project).join(', ')}: name the project`,
      );
    }
    return found[0];
  }

  has(service: string, project?: string): boolean {
    return this.get(service, project) !== undefined;
  }

  /** The one-off containers (compose run) of a service, or of every service, in one project or any. */
  oneOffs(service?: string, project?: string): FakeContainer[] {
    return this.list.filter(
      (c) =>
        c.oneoff &&
        (service === undefined || c.service === service) &&
        (project === undefined || c.project === project),
    );
  }

  /** The containers of a project, one-offs included, of the given services (all when none are given). */
  inProject(project: string, services: string[] = []): FakeContainer[] {
    return this.list.filter((c) => c.project === project && (!services.length || services.includes(c.service)));
  }

  /** What Docker finds for a reference: a name, the full id, or a unique prefix of it. */
  find(ref: string): FakeContainer | undefined {
    const byName = this.list.find((c) => c.name === ref);
    if (byName || !/^[0-9a-f]+$/.test(ref)) return byName;
    const byId = this.list.filter((c) => c.fullId.startsWith(ref));
    return byId.length === 1 ? byId[0] : undefined;
  }

  /** Adds a container; a service container replaces the one its service had in that project. */
  add(c: FakeContainer): void {
    if (!c.oneoff) this.list = this.list.filter((x) => x.oneoff || x.project !== c.project || x.service !== c.service);
    this.list.push(c);
  }

  remove(c: FakeContainer): void {
    this.list = this.list.filter((x) => x !== c);
  }
}

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
  /** Old workers still accepting after a reload, for this many more looks; `served` is what they serve. */
  lingering: { pids: number[]; looks: number; served?: Map<string, string> };
  /** Old workers that finish their requests after a reload, until (host clock) `until`. */
  shuttingDown: { pids: number[]; until: number };
}

type Injection = (command: string) => Partial<RunResult> | undefined;

/** A service as the merged compose files define it. */
interface ServiceDef {
  containerName?: string;
}

/** One compose call, as compose reads its command line, its files and its environment. */
interface ComposeCall {
  version: ComposeVersion;
  project: string;
  workingDir: string;
  configFiles: string[];
  services: Map<string, ServiceDef>;
  sub: string;
  /** Options of the subcommand, by their long name ('' for a flag). */
  options: Map<string, string>;
  /** Its arguments: service names (for run: the service, then the command). */
  names: string[];
}

/**
 * The options each subcommand accepts, as compose spells them (aliases | long name; `=` takes a value). Only what is
 * modelled is accepted: a call with another option fails, so that a change in the tool's calls is noticed.
 */
const SUBCOMMANDS: Record<string, string> = {
  version: '--short',
  up: '-d|--detach --no-deps --build --no-build --no-recreate --force-recreate --no-start -t|--timeout=',
  ps: '-a|--all -q|--quiet --services',
  stop: '-t|--timeout=',
  start: '',
  rm: '-s|--stop -f|--force -v|--volumes',
  pull: '-q|--quiet --ignore-pull-failures --include-deps',
  run: '-d|--detach --rm --no-deps -T --name= -l|--label= -e|--env= --entrypoint=',
  build: '--pull -q|--quiet',
  logs: '--tail= -f|--follow --no-color',
};

function optionsOf(spec: string): Map<string, { name: string; value: boolean }> {
  const options = new Map<string, { name: string; value: boolean }>();
  for (const word of spec.split(' ').filter(Boolean)) {
    const value = word.endsWith('=');
    const aliases = word.replace(/=$/, '').split('|');
    const name = aliases.at(-1) as string;
    for (const alias of aliases) options.set(alias, { name, value });
  }
  return options;
}

/** The project name compose derives from a directory or a name it is given (v1 keeps a leading - or _). */
function normalizeProject(name: string, version: ComposeVersion): string {
  const kept = name.toLowerCase().replace(/[^-_a-z0-9]/g, '');
  return version === 2 ? kept.replace(/^[-_]+/, '') : kept;
}

/** ${VAR}, ${VAR:-default}, ${VAR-default} and $VAR, from the call's environment. */
function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$(?:\{(\w+)(?:(:?-)([^}]*))?\}|(\w+))/g, (_, braced, op, fallback, bare) => {
    const value = env[braced ?? bare];
    if (op === ':-') return value || fallback;
    if (op === '-') return value ?? fallback;
    return value ?? '';
  });
}

/**
 * A Docker host in memory: compose projects with their containers (keyed by project and service, named and
 * labelled as the compose that made them does), proxy containers with their includes, and what each proxy serves
 * after its last reload. Every command is recorded as a command line; each answers with the exit code, output and
 * messages the real one gives, as far as the tool reads them.
 *
 * Service-keyed settings (crashing, crashLooping, appStatus, fixedByUp, dockerHealth, portOf) take a service name
 * (any project) or `project/service` (that project's only).
 */
export class FakeHost implements Runner, Http {
  readonly calls: string[] = [];
  readonly containers = new FakeContainers();
  readonly proxies = new Map<string, FakeProxy>();
  /** Services whose container exits at once (exit code 1) whenever compose starts it (up, start). */
  readonly crashing = new Set<string>();
  /** Services whose container does its work and exits 0 whenever compose starts it (a one-off: a migration). */
  readonly finishing = new Set<string>();
  /** Services whose container crash-loops whenever compose starts it: its restart policy keeps restarting it. */
  readonly crashLooping = new Set<string>();
  /** When (host clock) a service begins to answer on its port, once running: a slow start. */
  readonly listensAt = new Map<string, number>();
  /** HTTP status each app service answers on its port (default 200). */
  readonly appStatus = new Map<string, number>();
  /** Services whose appStatus goes once `up` recreates them (a new version that fixes them). */
  readonly fixedByUp = new Set<string>();
  /** Docker HEALTHCHECK statuses a service's container reports, one per inspect, the last one sticking. */
  readonly dockerHealth = new Map<string, string[]>();
  readonly injections: Injection[] = [];
  /** Whether `docker compose` (v2, a plugin of docker) is installed. */
  composeV2 = false;
  /** Whether `docker-compose` (v1, a program of its own) is installed. */
  composeV1 = true;
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
  /**
   * For how many `docker top` looks after a reload the old workers are still listed as accepting; with
   * oldWorkersAnswer they also take the proxy's requests meanwhile, with what they loaded before (Nginx: 100 ms).
   */
  oldWorkersAcceptLooks = 1;
  oldWorkersAnswer = false;
  /** A reload whose new workers never replace the old ones (the config did not take effect). */
  reloadNeverTakesEffect = false;
  /** How long a proxy's old workers finish requests after a reload (shown as "is shutting down" meanwhile). */
  oldWorkersBusyMs = 0;
  /** The same, for one proxy. */
  readonly proxyBusyMs = new Map<string, number>();
  /**
   * The proxies that log each request to their output, in the README's format, as `docker logs --timestamps`
   * shows it: Docker's receive time (ms, and a sequence that keeps the stamps of one ms apart) and the line.
   * A proxy not in the map logs no request (access_log off); addProxy() puts it in.
   */
  readonly accessLogs = new Map<string, { at: number; seq: number; line: string }[]>();
  /** Proxies whose logging driver cannot be read back (docker logs fails). */
  readonly logsUnreadable = new Set<string>();
  private readonly followers = new Map<string, Set<(entry: { at: number; seq: number; line: string }) => void>>();
  /** The time of the run, for the access log's stamps. */
  clock: { now(): number } = { now: () => 0 };
  private logSeq = 0;
  /**
   * How an attached one-off (`compose run` without -d) ends, given its service and command: its exit code and the
   * lines it prints (streamed to onLine). `timedOut` stands for a run the deadline ended; `hang` for one that runs
   * until its container is removed, whatever the call's signal says (as compose v1's does); `lateMs`, for a
   * container created that long after the call (an image pulled first). Default: exit 0.
   */
  oneOffOutcome?: (
    service: string,
    command: string[],
  ) => { exitCode?: number; lines?: string[]; timedOut?: boolean; hang?: boolean; lateMs?: number };
  /** One-off containers `compose run` started, with the command each ran. */
  readonly oneOffRuns: {
    id: string;
    name?: string;
    service: string;
    command: string[];
    env: Record<string, string>;
  }[] = [];
  /**
   * Programs other than docker (the user's hooks), by file name: each answers with an exit code and lines, or hangs
   * until the call's signal aborts it. Any other program is not found.
   */
  readonly programs = new Map<
    string,
    (
      args: readonly string[],
      options: RunOptions,
    ) => { exitCode?: number; lines?: string[]; timedOut?: boolean; hang?: boolean }
  >();
  /** Each call of a program, with its environment and working directory. */
  readonly programRuns: { file: string; args: readonly string[]; env: Record<string, string>; cwd?: string }[] = [];
  /** The project and directory of containers added by hand (addRunning, addOneOff) when no project is named. */
  project: string;
  workingDir: string;
  private nextAddress = 2;
  private readonly generations = new Map<string, number>();
  private oneOffs = 0;
  private nextPid = 100;

  constructor(
    readonly files: FakeFiles,
    readonly portOf: Record<string, number>,
    layout: { project?: string; workingDir?: string } = {},
  ) {
    this.workingDir = layout.workingDir ?? '/srv/proj';
    this.project = layout.project ?? normalizeProject(path.basename(this.workingDir), 2);
  }

  addProxy(
    name: string,
    mounts: Record<string, string> = {},
    files: Record<string, string> = {},
    options: { status?: string; published?: Record<number, number>; labels?: Record<string, string> } = {},
  ): void {
    const status = options.status ?? 'running';
    // Like the official image, whose access log goes to its output; a test turns it off with accessLogs.delete().
    if (!this.accessLogs.has(name)) this.accessLogs.set(name, []);
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
      shuttingDown: { pids: [], until: 0 },
    };
    this.proxies.set(name, proxy);
    proxy.served = this.includesOf(proxy);
  }

  /** A service's container, as if compose had deployed it before (in this.project unless told). */
  addRunning(
    service: string,
    running = true,
    options: { project?: string; version?: ComposeVersion; status?: 'restarting' } = {},
  ): FakeContainer {
    const c = this.addedContainer(service, options, false);
    this.setState(c, options.status ?? (running ? 'running' : 'exited'));
    return c;
  }

  /** A one-off container of a service (what `compose run` leaves), running or exited. */
  addOneOff(
    service: string,
    options: { project?: string; version?: ComposeVersion; running?: boolean } = {},
  ): FakeContainer {
    const c = this.addedContainer(service, options, true);
    this.setState(c, options.running === false ? 'exited' : 'running', 0);
    return c;
  }

  /** A container put on the host by a test, as compose would have created it in the project's directory. */
  private addedContainer(
    service: string,
    options: { project?: string; version?: ComposeVersion },
    oneoff: boolean,
  ): FakeContainer {
    const c = this.newContainer({
      version: options.version ?? (this.composeV2 ? 2 : 1),
      project: options.project ?? this.project,
      workingDir: this.workingDir,
      configFiles: [path.join(this.workingDir, 'docker-compose.yml')],
      service,
      oneoff,
    });
    this.containers.add(c);
    return c;
  }

  /** Sets a container's state: restarting is Docker's "running, and being restarted by its restart policy". */
  setState(c: FakeContainer, status: 'running' | 'exited' | 'restarting' | 'created', exitCode?: number): void {
    c.status = status;
    c.running = status === 'running' || status === 'restarting';
    c.exitCode = exitCode ?? (status === 'running' || status === 'created' ? 0 : 1);
    if (status === 'restarting') c.restartCount++;
  }

  /**
   * Signals from the runner to a proxy's Nginx master (what a run on the engine's machine sends instead of docker
   * exec nginx -s reload), when a test gives them as deps.signals; recorded in calls as `SIGHUP <proxy>`. The fake
   * masters are pid 1 of their proxy, and the signal reaches them unless signalsRefused.
   */
  signalsRefused = false;
  readonly signals: ContainerSignals = {
    send: async (pid, id, command, signal) => {
      const found = [...this.proxies].find(([name]) => sha256(`proxy ${name}`) === id);
      if (this.signalsRefused || !found?.[1].running || pid !== 1 || !command.startsWith('nginx: master process'))
        return false;
      const [name, proxy] = found;
      this.calls.push(`${signal} ${name}`);
      // A master that cannot load the new configuration keeps its workers and logs why, as Nginx does.
      if (signal === 'SIGHUP' && ![...this.includesOf(proxy).values()].some((c) => this.nginxRejects?.(c)))
        this.reloadProxy(name, proxy);
      return true;
    },
  };

  /** The command lines that change something (no version/ps/inspect/cp-out/nginx -T/logs). */
  get changes(): string[] {
    return this.calls.filter(
      (c) =>
        !/ version$| ps -a -q | inspect | cp -L \S+:\S+ -$| nginx -T$| nginx -t$| logs |^docker top |^docker ps /.test(
          c,
        ),
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
    return colorIn(this.proxies.get(proxy)?.served);
  }

  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    const command = describeCommand(file, args);
    this.calls.push(command);
    for (const inject of this.injections) {
      const injected = inject(command);
      if (injected) return { command, exitCode: 1, stdout: '', stderr: '', timedOut: false, ...injected };
    }
    const ok = (stdout = '') => ({ command, exitCode: 0, stdout, stderr: '', timedOut: false });
    const err = (stderr: string, exitCode = 1) => ({ command, exitCode, stdout: '', stderr, timedOut: false });
    if (file === 'docker-compose') {
      // What the execa runner reports for a program that is not installed.
      if (!this.composeV1) return err(`Command failed with ENOENT: ${command}\nspawn docker-compose ENOENT`, -1);
      return this.compose(1, [...args], options, ok, err);
    }
    if (file === 'docker' && args[0] === 'compose') {
      if (!this.composeV2) return err("docker: 'compose' is not a docker command.\nSee 'docker --help'");
      return this.compose(2, args.slice(1), options, ok, err);
    }
    if (file !== 'docker') {
      const program = this.programs.get(file);
      if (!program) return err(`Command failed with ENOENT: ${command}\nspawn ${file} ENOENT`, -1);
      this.programRuns.push({ file, args, env: { ...options.env }, cwd: options.cwd });
      return this.ended(command, program(args, options), options);
    }
    if (args[0] === 'logs' && args.includes('--follow')) return this.followLog(command, [...args], options);
    return this.docker([...args], options, ok, err);
  }

  /** How a program or an attached one-off ends: its lines streamed, a hang held until the signal aborts it. */
  private async ended(
    command: string,
    outcome: { exitCode?: number; lines?: string[]; timedOut?: boolean; hang?: boolean },
    options: RunOptions,
    container?: FakeContainer,
  ): Promise<RunResult> {
    for (const line of outcome.lines ?? []) options.onLine?.(line);
    const stdout = (outcome.lines ?? []).map((l) => `${l}\n`).join('');
    if (outcome.hang && container) {
      // Compose v1's `run` ignores SIGTERM: its client ends only once its container is removed.
      while (this.containers.find(container.id) === container) await new Promise((r) => setTimeout(r, 2));
      return { command, exitCode: 1, stdout, stderr: `container ${container.name} was removed`, timedOut: false };
    }
    if (outcome.hang) {
      const signal = options.signal;
      if (!signal) throw new Error(`${command} hangs, and nothing can end it (no signal)`);
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      // What execa reports for a process it ended on the signal: no exit code.
      return { command, exitCode: -1, stdout, stderr: 'Command was canceled', timedOut: false };
    }
    if (outcome.timedOut) return { command, exitCode: -1, stdout, stderr: 'Command timed out', timedOut: true };
    return { command, exitCode: outcome.exitCode ?? 0, stdout, stderr: '', timedOut: false };
  }

  /** Reads a compose command line as compose does: global options, subcommand, its options and arguments. */
  private async composeCall(
    version: ComposeVersion,
    argv: string[],
    options: RunOptions,
  ): Promise<ComposeCall | string> {
    let projectFlag: string | undefined;
    let projectDir: string | undefined;
    const fileArgs: string[] = [];
    let i = 0;
    for (; i < argv.length && (argv[i] as string).startsWith('-'); i++) {
      const [flag = '', inline] = (argv[i] as string).split(/=(.*)/s);
      const value = () => inline ?? argv[++i] ?? '';
      if (flag === '-p' || flag === '--project-name') projectFlag = value();
      else if (flag === '-f' || flag === '--file') fileArgs.push(value());
      else if (flag === '--project-directory') projectDir = value();
      else return `unknown flag: ${flag}`;
    }
    const sub = argv[i++];
    const spec = sub === undefined ? undefined : SUBCOMMANDS[sub];
    if (sub === undefined || spec === undefined) {
      return version === 2 ? `unknown docker command: "compose ${sub ?? ''}"` : `No such command: ${sub ?? ''}`;
    }
    const accepted = optionsOf(spec);
    const subOptions = new Map<string, string>();
    const names: string[] = [];
    for (; i < argv.length; i++) {
      const arg = argv[i] as string;
      // `run` passes everything after its service to the command.
      if (sub === 'run' && names.length) {
        names.push(arg);
        continue;
      }
      if (!arg.startsWith('-')) {
        names.push(arg);
        continue;
      }
      const [flag = '', inline] = arg.split(/=(.*)/s);
      const option = accepted.get(flag);
      if (!option) return version === 2 ? `unknown flag: ${flag}` : `compose ${sub}: no such option: ${flag}`;
      subOptions.set(option.name, option.value ? (inline ?? argv[++i] ?? '') : '');
    }

    const cwd = options.cwd ?? process.cwd();
    const env: Record<string, string | undefined> = { ...process.env, ...options.env };
    const call = { version, sub, options: subOptions, names };
    if (sub === 'version') return { ...call, project: '', workingDir: cwd, configFiles: [], services: new Map() };

    // Without -f, compose looks for its default file in the directory.
    const defaults = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'].map((f) =>
      path.join(cwd, f),
    );
    const configFiles = fileArgs.length
      ? fileArgs.map((f) => path.resolve(cwd, f))
      : defaults.filter((f) => this.files.data.has(f)).slice(0, 1);
    if (!configFiles.length) return 'no configuration file provided: not found';
    const workingDir = projectDir ? path.resolve(cwd, projectDir) : path.dirname(configFiles[0] as string);
    const services = new Map<string, ServiceDef>();
    let nameInFiles: string | undefined;
    for (const file of configFiles) {
      const text = await this.files.read(file);
      if (text === null) {
        return version === 2
          ? `open ${file}: no such file or directory`
          : `.FileNotFoundError: [Errno 2] No such file or directory: '${file}'`;
      }
      const doc = (parseYaml(text) ?? {}) as { name?: unknown; services?: Record<string, unknown> | null };
      if (typeof doc.name === 'string') nameInFiles = interpolate(doc.name, env);
      for (const [name, def] of Object.entries(doc.services ?? {})) {
        const containerName = (def as { container_name?: unknown } | null)?.container_name;
        const previous = services.get(name);
        services.set(name, {
          containerName: typeof containerName === 'string' ? interpolate(containerName, env) : previous?.containerName,
        });
      }
    }

    let project: string;
    if (projectFlag !== undefined) {
      if (version === 2 && !/^[a-z0-9][a-z0-9_-]*$/.test(projectFlag)) {
        return (
          `invalid project name "${projectFlag}": must consist only of lowercase alphanumeric characters, ` +
          'hyphens, and underscores as well as start with a letter or number'
        );
      }
      project = normalizeProject(projectFlag, version);
    } else {
      const dotEnv = (await this.files.read(path.join(workingDir, '.env'))) ?? '';
      const fromDotEnv = /^\s*COMPOSE_PROJECT_NAME\s*=\s*["']?([^"'\s#]*)/m.exec(dotEnv)?.[1];
      // Compose v1 knows no top-level name:.
      const fromFiles = version === 2 ? nameInFiles : undefined;
      project = normalizeProject(
        env.COMPOSE_PROJECT_NAME || fromDotEnv || fromFiles || path.basename(workingDir),
        version,
      );
    }
    const unknown = names.slice(0, sub === 'run' ? 1 : undefined).find((s) => !services.has(s));
    if (unknown !== undefined) return version === 2 ? `no such service: ${unknown}` : `No such service: ${unknown}`;
    return { ...call, project, workingDir, configFiles, services };
  }

  private async compose(
    version: ComposeVersion,
    argv: string[],
    options: RunOptions,
    ok: (s?: string) => RunResult,
    err: (s: string) => RunResult,
  ): Promise<RunResult> {
    const call = await this.composeCall(version, argv, options);
    if (typeof call === 'string') return err(call);
    const { project, sub, names } = call;
    const flag = (name: string) => call.options.has(name);
    // Commands given no service act on every service of the files.
    const services = names.length ? names : [...call.services.keys()];
    const serviceContainers = (s: string) => this.containers.inProject(project, [s]).filter((c) => !c.oneoff);
    switch (sub) {
      case 'version':
        return ok(
          version === 2 ? 'Docker Compose version v2.29.7\n' : 'docker-compose version 1.29.2, build 5becea4c\n',
        );
      case 'ps': {
        // One-off containers count only with -a (v2), or while running (v1); stopped ones only with -a (v2).
        const listed = this.containers
          .inProject(project, services)
          .filter((c) =>
            c.oneoff ? flag('--all') || (version === 1 && c.running) : flag('--all') || version === 1 || c.running,
          );
        if (flag('--services')) return ok([...new Set(listed.map((c) => `${c.service}\n`))].join(''));
        if (!flag('--quiet')) return err('the fake answers ps -q and ps --services only');
        return ok(listed.map((c) => `${c.fullId}\n`).join(''));
      }
      case 'up': {
        for (const s of services) {
          const existing = serviceContainers(s)[0];
          if (flag('--no-recreate') && existing) {
            if (!existing.running) this.boot(existing);
          } else {
            const c = this.newContainer({ ...call, service: s, oneoff: false });
            const taken = [...this.containers].find((x) => x.name === c.name && x !== existing);
            if (taken) {
              return err(
                `Error response from daemon: Conflict. The container name "/${c.name}" is already in use by container ` +
                  `"${taken.fullId}". You have to remove (or rename) that container to be able to reuse that name.`,
              );
            }
            this.containers.add(c);
            this.boot(c);
            for (const k of [`${project}/${s}`, s]) if (this.fixedByUp.delete(k)) this.appStatus.delete(k);
          }
          const proxy = this.composeProxies.get(s);
          if (proxy && !this.proxies.has(proxy.container)) {
            this.addProxy(
              proxy.container,
              proxy.mounts,
              {},
              { labels: { ...(serviceContainers(s)[0]?.labels ?? {}) } },
            );
            this.startProxy(this.proxies.get(proxy.container) as FakeProxy);
          }
        }
        return ok();
      }
      case 'start': {
        const found = services.flatMap(serviceContainers);
        const none = services.find((s) => !serviceContainers(s).length);
        if (none !== undefined)
          return err(version === 2 ? `service "${none}" has no container to start` : 'No containers to start');
        // A running container (a restarting one too) is left as it is.
        for (const c of found) if (!c.running) this.boot(c);
        return ok();
      }
      case 'stop':
        // Compose stops one-off containers of the services too; a service with no container is not an error.
        for (const c of this.containers.inProject(project, services)) if (c.running) this.setState(c, 'exited', 0);
        return ok();
      case 'rm': {
        const found = services.flatMap(serviceContainers);
        if (flag('--stop')) for (const c of found) if (c.running) this.setState(c, 'exited', 0);
        const removable = found.filter((c) => !c.running);
        if (!removable.length) return { ...ok(), stderr: 'No stopped containers\n' };
        for (const c of removable) this.containers.remove(c);
        return ok(`Going to remove ${removable.map((c) => c.name).join(', ')}\n`);
      }
      case 'run': {
        const [service, ...command] = names as [string, ...string[]];
        const c = this.newContainer({ ...call, service, oneoff: true });
        const name = call.options.get('--name');
        if (name) c.name = name;
        const label = call.options.get('--label');
        if (label) c.labels[label.slice(0, label.indexOf('='))] = label.slice(label.indexOf('=') + 1);
        this.oneOffRuns.push({ id: c.id, name, service, command, env: { ...options.env } });
        this.setState(c, 'running');
        if (flag('--detach')) {
          this.containers.add(c);
          return ok(`${c.name}\n`);
        }
        const outcome = this.oneOffOutcome?.(service, command) ?? {};
        // Compose may pull or build first: the container appears later.
        if (outcome.lateMs) await new Promise((resolve) => setTimeout(resolve, outcome.lateMs));
        this.containers.add(c);
        const r = await this.ended(ok().command, outcome, options, c);
        // The client was ended, not the container: it runs on until removed.
        if (r.exitCode === -1) return r;
        this.setState(c, 'exited', r.exitCode);
        if (flag('--rm')) this.containers.remove(c);
        return r;
      }
      case 'build':
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
      let type: string | undefined;
      const refs: string[] = [];
      for (let i = 1; i < args.length; i++) {
        const a = args[i] as string;
        if (a === '--type') type = args[++i];
        else if (a.startsWith('--type=')) type = a.slice('--type='.length);
        else if (a.startsWith('-')) return err(`unknown flag: ${a}`);
        else refs.push(a);
      }
      // Real docker prints what it found and exits 1 naming what it did not.
      const found: object[] = [];
      const missing: string[] = [];
      for (const ref of refs) {
        if (this.proxies.has(ref)) found.push(this.inspectProxy(ref));
        else {
          const c = this.containers.find(ref);
          if (c) found.push(this.inspect(c));
          else missing.push(ref);
        }
      }
      const stdout = `${JSON.stringify(found, null, 4)}\n`;
      const what = type === 'container' ? 'container' : 'object';
      return missing.length
        ? { ...err(missing.map((m) => `Error: No such ${what}: ${m}`).join('\n')), stdout }
        : ok(stdout);
    }
    if (args[0] === 'stop') {
      const ids = args
        .slice(1)
        .filter((a, i, all) => !a.startsWith('-') && all[i - 1] !== '--time' && all[i - 1] !== '-t');
      // Docker stops every container it finds, and exits 1 naming those it did not.
      const missing: string[] = [];
      for (const id of ids) {
        const c = this.containers.find(id);
        if (!c) missing.push(id);
        else if (c.running) this.setState(c, 'exited', 0);
      }
      const stdout = ids
        .filter((id) => !missing.includes(id))
        .map((id) => `${id}\n`)
        .join('');
      return missing.length
        ? { ...err(missing.map((m) => `Error response from daemon: No such container: ${m}`).join('\n')), stdout }
        : ok(stdout);
    }
    if (args[0] === 'ps' && args[1] === '-a') {
      // The ids of every container with all the labels asked (how the tool lists a project's containers).
      if (args[2] !== '-q' || args[3] !== '--no-trunc') return err(`unexpected docker ps call: ${args.join(' ')}`);
      const labels = args
        .slice(4)
        .filter((_, i) => i % 2 === 1)
        .map((f) => f.replace(/^label=/, '').split(/=(.*)/s) as [string, string]);
      const found = [...this.containers].filter((c) => labels.every(([k, v]) => c.labels[k] === v));
      return ok(found.map((c) => `${c.fullId}\n`).join(''));
    }
    if (args[0] === 'ps') {
      // Only what the tool asks: every container with a label, as "ID NAME" lines.
      const filter = args[args.indexOf('--filter') + 1] ?? '';
      const [key, value] = filter.replace(/^label=/, '').split(/=(.*)/s) as [string, string];
      if (args[1] !== '--all' || !filter.startsWith('label=') || args.at(-2) !== '--format') {
        return err(`unexpected docker ps call: ${args.join(' ')}`);
      }
      const found = [...this.containers].filter((c) => c.labels[key] === value);
      return ok(found.map((c) => `${c.id} ${c.name}\n`).join(''));
    }
    if (args[0] === 'rm') {
      const refs = args.slice(1).filter((a) => !a.startsWith('-'));
      const missing = refs.filter((r) => !this.containers.find(r));
      for (const ref of refs) {
        const c = this.containers.find(ref);
        if (c) this.containers.remove(c);
      }
      return missing.length
        ? err(missing.map((m) => `Error response from daemon: No such container: ${m}`).join('\n'))
        : ok(refs.map((r) => `${r}\n`).join(''));
    }
    if (args[0] === 'restart') {
      const proxy = this.proxies.get(args[args.length - 1] ?? '');
      if (!proxy) return err(`Error response from daemon: No such container: ${args[args.length - 1]}`);
      this.startProxy(proxy);
      return ok();
    }
    if (args[0] === 'logs') {
      const id = args[args.length - 1] ?? '';
      if (this.proxies.has(id))
        return { ...ok(), stderr: 'nginx: [emerg] host not found in upstream "app-blue:8000"\n' };
      const app = this.containers.find(id);
      if (app) return ok(`log line of ${app.service}\n`);
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
      const busy = this.clock.now() < proxy.shuttingDown.until ? proxy.shuttingDown.pids : [];
      return ok(
        [
          'UID PID PPID C STIME TTY TIME CMD',
          row(1, 'nginx: master process nginx -g daemon off;'),
          ...accepting.map((p) => row(p, 'nginx: worker process')),
          ...busy.filter((p) => !accepting.includes(p)).map((p) => row(p, 'nginx: worker process is shutting down')),
        ].join('\n'),
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
        this.reloadProxy(args[1] ?? '', proxy);
        return ok();
      }
    }
    return err(`unexpected docker command ${args.join(' ')}`);
  }

  /** Nginx loads the includes it has now: new workers, the old ones shutting down for as long as they are busy. */
  private reloadProxy(name: string, proxy: FakeProxy): void {
    const before = proxy.served;
    proxy.served = this.includesOf(proxy);
    if (this.reloadNeverTakesEffect) return;
    proxy.lingering = { pids: proxy.workers, looks: this.oldWorkersAcceptLooks, served: before };
    const busyMs = this.proxyBusyMs.get(name) ?? this.oldWorkersBusyMs;
    proxy.shuttingDown = { pids: proxy.workers, until: this.clock.now() + busyMs };
    proxy.workers = [this.nextPid++];
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
    const ports = Object.fromEntries(
      [...proxy.published].map(([inside, outside]) => [
        `${inside}/tcp`,
        [{ HostIp: '127.0.0.1', HostPort: String(outside) }],
      ]),
    );
    const restarting = proxy.status === 'restarting';
    return {
      Id: sha256(`proxy ${name}`),
      Name: `/${name}`,
      // Docker's state: a container its restart policy is restarting counts as running.
      State: {
        Status: proxy.status,
        Running: proxy.running || restarting,
        Restarting: restarting,
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

  /** A container as the compose of `version` creates it for a service: its name, labels and a new id. */
  private newContainer(at: {
    version: ComposeVersion;
    project: string;
    workingDir: string;
    configFiles: string[];
    services?: Map<string, ServiceDef>;
    service: string;
    oneoff: boolean;
  }): FakeContainer {
    const { version, project, service, oneoff } = at;
    const sep = version === 2 ? '-' : '_';
    let fullId: string;
    let name: string;
    if (oneoff) {
      const n = ++this.oneOffs;
      fullId = sha256(`${service}#run#${n}`);
      name = version === 2 ? `${project}-${service}-run-${fullId.slice(0, 12)}` : `${project}_${service}_run_${n}`;
    } else {
      const n = (this.generations.get(service) ?? 0) + 1;
      this.generations.set(service, n);
      fullId = sha256(`${service}#${n}`);
      name = at.services?.get(service)?.containerName ?? [project, service, '1'].join(sep);
    }
    return {
      id: fullId.slice(0, 12),
      fullId,
      name,
      service,
      project,
      oneoff,
      running: false,
      status: 'created',
      exitCode: 0,
      restartCount: 0,
      addresses: [`172.18.0.${this.nextAddress++}`],
      ports: [8000],
      labels: {
        'com.docker.compose.project': project,
        'com.docker.compose.service': service,
        'com.docker.compose.oneoff': oneoff ? 'True' : 'False',
        'com.docker.compose.container-number': '1',
        'com.docker.compose.project.working_dir': at.workingDir,
        'com.docker.compose.project.config_files': at.configFiles.join(','),
        'com.docker.compose.version': version === 2 ? '2.29.7' : '1.29.2',
        'com.docker.compose.config-hash': sha256(`${project}/${service}`),
      },
    };
  }

  /** A container starting: it runs, finishes (finishing), exits at once (crashing) or crash-loops (crashLooping). */
  private boot(c: FakeContainer): void {
    const marked = (set: Set<string>) => set.has(`${c.project}/${c.service}`) || set.has(c.service);
    if (marked(this.finishing)) return this.setState(c, 'exited', 0);
    this.setState(c, marked(this.crashLooping) ? 'restarting' : marked(this.crashing) ? 'exited' : 'running');
  }

  /** A service-keyed setting for a container: `project/service` first, then the service in any project. */
  private setting<T>(map: Map<string, T>, c: FakeContainer): T | undefined {
    return map.get(`${c.project}/${c.service}`) ?? map.get(c.service);
  }

  private inspect(c: FakeContainer) {
    const queue = this.setting(this.dockerHealth, c);
    const health = queue && queue.length > 1 ? queue.shift() : queue?.[0];
    return {
      Id: c.fullId,
      Name: `/${c.name}`,
      State: {
        Status: c.status,
        Running: c.running,
        Restarting: c.status === 'restarting',
        ExitCode: c.exitCode,
        ...(health ? { Health: { Status: health } } : {}),
      },
      RestartCount: c.restartCount,
      Config: { Labels: c.labels, ExposedPorts: Object.fromEntries(c.ports.map((p) => [`${p}/tcp`, {}])) },
      NetworkSettings: { Networks: { [`${c.project}_default`]: { IPAddress: c.addresses[0] } } },
    };
  }

  /** The container a portOf key names, and whether it answers (running; between two restarts it does not). */
  private serving(key: string): boolean {
    const [project, service] = key.includes('/') ? (key.split('/') as [string, string]) : [undefined, key];
    const c = this.containers.get(service, project);
    const listening = this.clock.now() >= (this.listensAt.get(service) ?? -Infinity);
    return Boolean(c?.running && c.status !== 'restarting' && listening);
  }

  /**
   * Users' requests through a proxy, now, answered by the color it serves: `status(i)` of the i-th. Logged with
   * the container address of that color (as $upstream_addr shows it), or with no upstream field in `combined`.
   */
  userRequests(
    proxy: string,
    count: number,
    status: (i: number) => number = () => 200,
    options: { format?: 'combined' | 'bluegreen'; ms?: number; color?: string; at?: number } = {},
  ): void {
    const color = options.color ?? this.servedColor(proxy);
    const address = this.containers.get(`app-${color}`)?.addresses[0] ?? '10.9.9.9';
    for (let i = 0; i < count; i++) {
      const code = status(i);
      const extra =
        options.format === 'combined'
          ? ''
          : ` upstream="${address}:8000" upstream_status="${code}" request_time=${((options.ms ?? 5) / 1000).toFixed(3)}`;
      this.logAccess(proxy, `"GET /page/${i} HTTP/1.1" ${code} 120 "-" "curl/8.5.0"${extra}`, options.at);
    }
  }

  /** A line of a proxy's access log, now: the request and what follows it in the combined format. */
  logLine(proxy: string, request: string): void {
    this.logAccess(proxy, request);
  }

  private logAccess(proxy: string, request: string, at = this.clock.now()): void {
    const log = this.accessLogs.get(proxy);
    if (!log) return;
    const entry = {
      at,
      seq: this.logSeq++,
      line: `172.18.0.1 - - [29/Nov/2026:21:00:00 +0000] ${request}`,
    };
    log.push(entry);
    for (const follower of this.followers.get(proxy) ?? []) follower(entry);
  }

  /**
   * `docker logs --follow --timestamps --since S`: the access-log lines from S (seconds), then each new one as it
   * is logged, until the call's signal aborts.
   */
  private async followLog(command: string, args: string[], options: RunOptions): Promise<RunResult> {
    const id = args.at(-1) ?? '';
    // Its output is not kept (linesOnly): what docker says reaches onLine only, as with the real runner.
    const fail = (said: string) => {
      options.onLine?.(said);
      return { command, exitCode: 1, stdout: '', stderr: '', timedOut: false };
    };
    if (!this.proxies.has(id)) return fail(`Error: No such container: ${id}`);
    if (this.logsUnreadable.has(id)) {
      return fail('Error response from daemon: configured logging driver does not support reading');
    }
    const signal = options.signal;
    if (!signal) throw new Error(`${command} follows until its signal aborts, and has none`);
    const since = Number(args[args.indexOf('--since') + 1]) * 1000;
    const stamp = (e: { at: number; seq: number }) =>
      new Date(e.at).toISOString().replace(/Z$/, `${String(e.seq % 1_000_000).padStart(6, '0')}Z`);
    const emit = (e: { at: number; seq: number; line: string }) => options.onLine?.(`${stamp(e)} ${e.line}`);
    for (const e of this.accessLogs.get(id) ?? []) if (e.at >= since) emit(e);
    const followers = this.followers.get(id) ?? new Set();
    this.followers.set(id, followers);
    followers.add(emit);
    await new Promise<void>((resolve) =>
      signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    followers.delete(emit);
    return { command, exitCode: 143, stdout: '', stderr: '', timedOut: false };
  }

  // Http: each app service answers on its own port; anything else is the proxy.
  async get(url: string, options?: { headers?: Record<string, string> }): Promise<HttpResponse> {
    const u = new URL(url);
    const key = Object.keys(this.portOf).find((s) => String(this.portOf[s]) === u.port);
    if (key) {
      if (!this.serving(key)) {
        throw Object.assign(new Error(`connect ECONNREFUSED ${u.host}`), { code: 'ECONNREFUSED' });
      }
      const service = key.split('/').at(-1);
      return {
        status: this.appStatus.get(key) ?? this.appStatus.get(service ?? '') ?? 200,
        body: `{"service":"${service}"}`,
        headers: {},
      };
    }
    // A proxy answers on the host port it publishes (the first proxy for any other URL, such as a verify-url).
    const name =
      [...this.proxies.keys()].find((n) =>
        [...(this.proxies.get(n)?.published.values() ?? [])].map(String).includes(u.port),
      ) ??
      [...this.proxies.keys()][0] ??
      '';
    if (!this.proxies.get(name)?.running) {
      throw Object.assign(new Error(`connect ECONNREFUSED ${u.host}`), { code: 'ECONNREFUSED' });
    }
    const proxy = this.proxies.get(name);
    const old = this.oldWorkersAnswer && proxy?.lingering.looks ? proxy.lingering.served : undefined;
    const loaded = old ?? proxy?.served;
    const color = colorIn(loaded);
    // Nginx answers 502 when the upstream it points at (a color's port in the include) does not run.
    const served = [...(loaded?.values() ?? [])].join('\n');
    const ports = [...served.matchAll(/:(\d+)\b/g)].map((m) => Number(m[1]));
    const up = Object.entries(this.portOf).some(([k, port]) => ports.includes(port) && this.serving(k));
    const status = this.proxyAnswer?.(color) ?? (up ? 200 : 502);
    const agent = Object.entries(options?.headers ?? {}).find(([k]) => k.toLowerCase() === 'user-agent')?.[1] ?? '-';
    const address = this.containers.get(`app-${color}`)?.addresses[0] ?? '10.9.9.9';
    this.logAccess(
      name,
      `"GET ${u.pathname} HTTP/1.1" ${status} 20 "-" "${agent}" upstream="${address}:8000" upstream_status="${status}" request_time=0.001`,
    );
    return { status, body: `served by ${color}`, headers: this.proxyHeaders?.(color) ?? {} };
  }
}

/** The color an include names (its marker line), in what a proxy loaded. */
function colorIn(loaded: Map<string, string> | undefined): string | undefined {
  for (const content of loaded?.values() ?? []) {
    const m = /color=([a-z0-9_-]+)/.exec(content);
    if (m) return m[1];
  }
  return undefined;
}
