import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ComposeSetting, type Config } from '../config/config.js';
import type { Files } from '../io.js';
import { describeCommand, ensureOk, type Runner, type RunResult } from '../runner.js';

/** Building an image can take long; a hung one must still end. */
const UP_TIMEOUT_MS = 30 * 60_000;
const CHANGE_TIMEOUT_MS = 5 * 60_000;
const QUERY_TIMEOUT_MS = 60_000;
/** How long a compose client has to end once the container it runs in the foreground was removed. */
const CLIENT_GRACE_MS = 30_000;
/** How often a one-off container past its deadline is looked for, until its compose client ends. */
const SWEEP_INTERVAL_MS = 500;
/** The label that ties a one-off container to the run that started it. */
const RUN_LABEL = 'bluegreen.run';
/** What compose accepts as a service name; anything else could be read as an option on a command line. */
const SERVICE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Compose's own environment that could make a call touch more than the services it names, pinned for every call
 * (the process environment wins over the project's .env in Compose v2, so this covers both). Read from
 * docker/compose's cmd/compose (v2.26) and decided one by one:
 * - COMPOSE_REMOVE_ORPHANS: `up` of one color would remove the other color's containers (its services are not in
 *   this color's file), the live one included. Pinned off.
 * - COMPOSE_IGNORE_ORPHANS: only silences the warning about those same containers, which are expected here. On.
 * - COMPOSE_MENU: the interactive menu of an attached `up`; never wanted from a tool. Off.
 * - COMPOSE_ANSI: colour codes would clutter the step's log. Never.
 * Left as the user set them: COMPOSE_FILE (every call passes -f, which overrides it), COMPOSE_PROFILES (every call
 * names its services, and Compose enables a named service whatever its profile), COMPOSE_PROJECT_NAME (the same
 * for every call, so the tool sees the project the user's own commands see), COMPOSE_ENV_FILES,
 * COMPOSE_PARALLEL_LIMIT, COMPOSE_COMPATIBILITY (container names; the tool never derives a name it acts on),
 * COMPOSE_CONVERT_WINDOWS_PATHS, COMPOSE_PATH_SEPARATOR, COMPOSE_STATUS_STDOUT and DOCKER_* (where the engine is).
 */
export const PINNED_COMPOSE_ENV: Readonly<Record<string, string>> = {
  COMPOSE_REMOVE_ORPHANS: 'false',
  COMPOSE_IGNORE_ORPHANS: 'true',
  COMPOSE_MENU: 'false',
  COMPOSE_ANSI: 'never',
};

/** How compose is called: `docker compose` (v2, GitHub runners) or `docker-compose` (v1, Debian). */
export interface ComposeCli {
  file: string;
  prefix: string[];
}

export const COMPOSE_V2: ComposeCli = { file: 'docker', prefix: ['compose'] };
export const COMPOSE_V1: ComposeCli = { file: 'docker-compose', prefix: [] };

export async function detectCompose(runner: Runner, setting: ComposeSetting): Promise<ComposeCli> {
  if (setting === 'docker compose') return COMPOSE_V2;
  if (setting === 'docker-compose') return COMPOSE_V1;
  for (const cli of [COMPOSE_V2, COMPOSE_V1]) {
    const r = await runner.run(cli.file, [...cli.prefix, 'version'], { timeoutMs: QUERY_TIMEOUT_MS });
    if (r.exitCode === 0) return cli;
  }
  throw new Error(
    'Neither "docker compose" nor "docker-compose" answered to "version". Install Docker Compose on this machine ' +
      '(v2 plugin or v1), or name the one you have with compose-command. Nothing was changed.',
  );
}

const PROJECT_LABEL = 'com.docker.compose.project';
const ONE_OFF_LABEL = 'com.docker.compose.oneoff';
/** A project name that both Compose versions use as given, so that it is the value of their project label. */
const PROJECT_LABEL_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export interface ContainerState {
  id: string;
  name: string;
  service: string;
  running: boolean;
  /** created, running, restarting, exited, ... */
  status: string;
  exitCode: number;
  /** Docker HEALTHCHECK status when the image or service defines one. */
  health?: string;
  /** Its IP addresses on its networks: what a proxy's $upstream_addr shows when it reaches the container. */
  addresses: string[];
  /** The TCP ports it exposes or publishes, on its side. */
  ports: number[];
}

/**
 * The compose project of the shared files, as compose picks it: -p (project-name), else COMPOSE_PROJECT_NAME from
 * the environment or the project's .env, else a top-level `name:` (the last file that sets one), else the
 * directory's name; lower-case letters, digits, - and _, starting with a letter or digit (v1 and v2 alike).
 */
export async function projectNameOf(config: ProjectConfig, files: Files): Promise<string> {
  return (await givenProjectName(config, files))
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[-_]+/, '');
}

type ProjectConfig = Pick<Config, 'projectName' | 'workingDirectory' | 'composeFiles' | 'colorFile' | 'colors'>;

/**
 * The project directory, as Compose takes it without --project-directory: that of the first -f file (the first
 * shared file, else the color file). Its .env is read, the project is named after it, and its containers' working_dir
 * label names it.
 */
export function projectDirOf(
  config: Pick<Config, 'workingDirectory' | 'composeFiles' | 'colorFile' | 'colors'>,
): string {
  // With no shared file and {color} in the color file's directory, each color's project directory differs: the
  // first color's names the project, the same for every run.
  const first = config.composeFiles[0] ?? config.colorFile.replace(/\{color\}/g, config.colors[0]);
  return path.dirname(path.resolve(config.workingDirectory, first));
}

/** The project's name before Compose normalises it (v1 and v2 differ there). */
async function givenProjectName(config: ProjectConfig, files: Files): Promise<string> {
  const dotEnv = (await files.read(path.join(projectDirOf(config), '.env'))) ?? '';
  const fromDotEnv = /^\s*COMPOSE_PROJECT_NAME\s*=\s*["']?([^"'\s#]*)/m.exec(dotEnv)?.[1];
  let fromFiles: string | undefined;
  for (const file of config.composeFiles) {
    const text = await files.read(path.resolve(config.workingDirectory, file));
    const name = /^name:\s*["']?([^"'\s#]+)/m.exec(text ?? '')?.[1];
    if (name && !name.includes('$')) fromFiles = name;
  }
  return (
    config.projectName ||
    process.env.COMPOSE_PROJECT_NAME ||
    fromDotEnv ||
    fromFiles ||
    path.basename(projectDirOf(config))
  );
}

/** A service of the shared files (not of a color file), and the names its container may have. */
export interface SharedService {
  name: string;
  containerNames: string[];
}

type ComposeConfig = Pick<
  Config,
  'workingDirectory' | 'composeFiles' | 'colorFile' | 'projectName' | 'colors' | 'ports'
>;

/** Runs compose for one color at a time, touching only the services it is given. */
export class ComposeDriver {
  constructor(
    private readonly runner: Runner,
    readonly cli: ComposeCli,
    private readonly config: ComposeConfig,
    private readonly files: Files,
    private readonly onLine?: (line: string) => void,
  ) {}

  /** Each compose file's services, read and parsed once a run. */
  private readonly parsed = new Map<string, Promise<[string, unknown][]>>();
  /** The project's name as compose v2 and v1 write it. */
  private projectNames?: Promise<[string, string]>;
  /** A project's containers as one listing under way gives them: both colors of one project ask at once. */
  private readonly listing = new Map<string, Promise<ContainerState[]>>();

  /** With {color} in project-name each color is its own project and shares no services with the other. */
  get separateProjects(): boolean {
    return this.config.projectName.includes('{color}');
  }

  colorFile(color: string): string {
    return path.resolve(this.config.workingDirectory, this.config.colorFile.replace(/\{color\}/g, color));
  }

  port(color: string): number {
    return this.config.ports[this.config.colors.indexOf(color)] ?? NaN;
  }

  /** The full argument list of one compose call for one color. */
  args(color: string, subcommand: string[]): string[] {
    return this.projectArgs(this.config.projectName.replace(/\{color\}/g, color), [
      '-f',
      this.colorFile(color),
      ...subcommand,
    ]);
  }

  /**
   * A call on the shared files alone. Starting shared services this way creates the networks they define: merged
   * with a color file that declares the same network `external: true` (the seed's layout), Compose v2 would
   * expect it to exist already and fail.
   */
  sharedArgs(subcommand: string[]): string[] {
    return this.projectArgs(this.config.projectName, subcommand);
  }

  private projectArgs(project: string, rest: string[]): string[] {
    return [
      ...this.cli.prefix,
      ...(project ? ['-p', project] : []),
      ...this.config.composeFiles.flatMap((f) => ['-f', f]),
      ...rest,
    ];
  }

  /** A compose command line, for the dry run's plan. */
  describe(args: string[]): string {
    return describeCommand(this.cli.file, args);
  }

  upArgs(color: string, services: string[], build: boolean): string[] {
    return this.args(color, ['up', '-d', '--no-deps', ...(build ? ['--build'] : []), ...services]);
  }

  stopArgs(color: string, services: string[]): string[] {
    return this.args(color, ['stop', ...services]);
  }

  /**
   * A one-off container of a service's image, removed when it ends; no dependency is started. It is named and
   * labelled after the run, so that a run that finds it left behind by a dead one can end it (removeRunContainers).
   */
  runArgs(color: string, service: string, run: string, command: readonly string[]): string[] {
    return this.args(color, [
      'run',
      '--rm',
      '--no-deps',
      '-T',
      '--name',
      oneOffName(service, run),
      '--label',
      `${RUN_LABEL}=${run}`,
      service,
      ...command,
    ]);
  }

  buildArgs(color: string, services: string[]): string[] {
    return this.args(color, ['build', ...services]);
  }

  removeArgs(color: string, services: string[]): string[] {
    return this.args(color, ['rm', '--stop', '--force', ...services]);
  }

  /** Services that a color's own file defines: the only ones a deploy of that color touches. */
  async colorServices(color: string): Promise<string[]> {
    const services = await this.servicesOf(this.colorFile(color), 'color-file');
    // Compose commands given no service act on every service of the project: the proxy and the database too.
    if (!services.length) {
      throw new ConfigError([
        {
          input: 'color-file',
          value: this.colorFile(color),
          message: `defines no service for ${color}: list the color's services under services: (include: is not followed)`,
        },
      ]);
    }
    return services;
  }

  /**
   * Services of the shared files that neither color file defines (the proxy, the database, ...). Services with
   * `profiles` are left out: `up` starts them only when asked by name, and a deploy must not be what asks.
   */
  async sharedServices(): Promise<SharedService[]> {
    const colorOwned = new Set((await Promise.all(this.config.colors.map((c) => this.colorServices(c)))).flat());
    const shared = new Map<string, SharedService>();
    for (const file of this.config.composeFiles) {
      const defs = await this.serviceDefs(path.resolve(this.config.workingDirectory, file), 'compose-files');
      for (const [name, def] of defs) {
        const { profiles, container_name: containerName } = (def ?? {}) as {
          profiles?: unknown;
          container_name?: unknown;
        };
        if (colorOwned.has(name) || (Array.isArray(profiles) && profiles.length)) continue;
        // A later file overrides an earlier one's container_name, as compose merges them.
        const previous = shared.get(name)?.containerNames ?? [];
        shared.set(name, {
          name,
          containerNames:
            typeof containerName === 'string'
              ? [containerName]
              : previous.length
                ? previous
                : await this.defaultNames(name),
        });
      }
    }
    return [...shared.values()];
  }

  /**
   * The names compose gives a service's first container when the file sets none: v2 `project-service-1`, v1
   * `project_service_1`. Used only to tell which shared service is a proxy before its container exists; an
   * existing container is recognised by its compose labels instead.
   */
  private async defaultNames(service: string): Promise<string[]> {
    this.projectNames ??= Promise.all([
      projectNameOf(this.config, this.files),
      // Compose v1 keeps a leading - or _ that v2 trims.
      givenProjectName(this.config, this.files).then((name) => name.toLowerCase().replace(/[^a-z0-9_-]/g, '')),
    ]);
    const [v2, v1] = await this.projectNames;
    return [`${v2}-${service}-1`, `${v1}_${service}_1`];
  }

  /**
   * Refuses two colors that define the same service in one project: `up` of one would replace the live
   * container of the other.
   */
  async checkColorsApart(): Promise<void> {
    if (this.separateProjects) return;
    const [a, b] = this.config.colors;
    const inB = new Set(await this.colorServices(b));
    const both = (await this.colorServices(a)).filter((s) => inB.has(s));
    if (both.length) {
      throw new ConfigError([
        {
          input: 'color-file',
          value: this.config.colorFile,
          message:
            `both color files define the service(s) ${both.join(', ')} in one compose project, so bringing up ` +
            `${b} would replace the live ${a} container. Name the services per color (app-${a}, app-${b}) ` +
            'or put {color} in project-name',
        },
      ]);
    }
  }

  async containers(color: string, services: string[]): Promise<ContainerState[]> {
    if (!services.length) return [];
    const project = this.config.projectName.replace(/\{color\}/g, color);
    // A project name given as Compose writes it in its labels (v1 and v2 take it as it is): the containers are
    // those labels, found by one `docker ps` (a few ms on the engine's API), where `compose ps` takes 100 to 200 ms
    // to read the files first. Compose lists the same: the project's containers of these services, no one-off.
    if (PROJECT_LABEL_NAME.test(project)) {
      // Shared only by calls under way at once: a later call lists again.
      let all = this.listing.get(project);
      if (!all) {
        all = this.byLabels(project).finally(() => this.listing.delete(project));
        this.listing.set(project, all);
      }
      return (await all).filter((c) => services.includes(c.service));
    }
    const ps = ensureOk(
      await this.exec(color, this.args(color, ['ps', '-a', '-q', ...services]), QUERY_TIMEOUT_MS, false),
      `listing the ${color} containers`,
    );
    return this.inspect(ps.stdout.split(/\s+/).filter(Boolean));
  }

  private async byLabels(project: string): Promise<ContainerState[]> {
    const filters = [`${PROJECT_LABEL}=${project}`, `${ONE_OFF_LABEL}=False`].flatMap((f) => [
      '--filter',
      `label=${f}`,
    ]);
    const ps = ensureOk(
      await this.runner.run('docker', ['ps', '-a', '-q', '--no-trunc', ...filters], { timeoutMs: QUERY_TIMEOUT_MS }),
      `listing the containers of the Compose project ${project}`,
    );
    return this.inspect(ps.stdout.split(/\s+/).filter(Boolean));
  }

  /** The state of known containers: one `docker inspect`, much quicker than asking compose again. */
  async inspect(ids: string[]): Promise<ContainerState[]> {
    if (!ids.length) return [];
    const r = await this.runner.run('docker', ['inspect', '--type', 'container', ...ids], {
      timeoutMs: QUERY_TIMEOUT_MS,
    });
    // A container removed meanwhile: docker exits 1 for it, and still prints the others.
    const gone =
      r.exitCode === 1 && /no such (container|object)/i.test(r.stderr) && r.stdout.trimStart().startsWith('[');
    if (!gone) ensureOk(r, 'inspecting containers');
    return parseInspect(r.stdout);
  }

  async up(color: string, services: string[], build: boolean): Promise<void> {
    ensureOk(await this.exec(color, this.upArgs(color, services, build), UP_TIMEOUT_MS), `starting ${color}`);
  }

  /** Starts shared services that are not running, from the shared files alone, without recreating any. */
  async startShared(color: string, services: string[]): Promise<void> {
    ensureOk(
      await this.exec(color, this.sharedArgs(['up', '-d', '--no-deps', '--no-recreate', ...services]), UP_TIMEOUT_MS),
      `starting the shared services ${services.join(', ')}`,
    );
  }

  /** Builds the images of services that have a build section (the others are skipped by compose). */
  async build(color: string, services: string[]): Promise<void> {
    ensureOk(await this.exec(color, this.buildArgs(color, services), UP_TIMEOUT_MS), `building the ${color} images`);
  }

  /**
   * Runs a command once in a one-off container (see runArgs) and returns how it ended; it does not throw on a
   * non-zero exit. At the deadline or on a cancel, the container itself is removed, and again until the compose
   * client ends (it may create the container after the first removal, while it pulls or builds): ending the client
   * would not end the container (compose v1's `run` even ignores SIGTERM). `steady` is a runner the cancel does not
   * end. Throws when a container it started cannot be removed.
   */
  async runOnce(
    color: string,
    service: string,
    run: string,
    command: readonly string[],
    options: { timeoutMs: number; onLine: (line: string) => void; steady: Runner; signal?: AbortSignal },
  ): Promise<RunResult & { removed: string[] }> {
    const { timeoutMs, onLine, steady, signal } = options;
    const removed: string[] = [];
    let clientEnded = false;
    let sweeping: Promise<void> | undefined;
    let timedOut = false;
    const sweep = () => {
      sweeping ??= (async () => {
        while (!clientEnded) {
          removed.push(...(await this.removeRunContainers(run, steady).catch(() => [])));
          await new Promise((resolve) => setTimeout(resolve, SWEEP_INTERVAL_MS));
        }
      })();
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      sweep();
    }, timeoutMs);
    signal?.addEventListener('abort', sweep, { once: true });
    let r: RunResult;
    try {
      // The client's own deadline comes later: by then, the removal of its container has ended it.
      r = await this.runner.run(this.cli.file, this.runArgs(color, service, run, command), {
        cwd: this.config.workingDirectory,
        env: this.env(color),
        timeoutMs: timeoutMs + CLIENT_GRACE_MS,
        onLine,
      });
    } finally {
      clientEnded = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', sweep);
    }
    await sweeping;
    if (r.exitCode === -1 || r.timedOut || timedOut || signal?.aborted) {
      const left = await this.removeRunContainers(run, steady).catch((error: Error) => {
        throw new Error(
          `the one-off container of ${service} may still run, and could not be removed (${error.message}): ` +
            `remove it by hand: docker rm -f ${oneOffName(service, run)}`,
        );
      });
      removed.push(...left);
    }
    return { ...r, timedOut: r.timedOut || timedOut, removed };
  }

  /**
   * Ends the one-off containers a run started (pre-deploy-command) that still exist: those of a run that died are
   * found on the engine by their label, whichever runner started them. Returns their names.
   */
  async removeRunContainers(run: string, runner = this.runner): Promise<string[]> {
    const ps = ensureOk(
      await runner.run(
        'docker',
        ['ps', '--all', '--filter', `label=${RUN_LABEL}=${run}`, '--format', '{{.ID}} {{.Names}}'],
        { timeoutMs: QUERY_TIMEOUT_MS },
      ),
      'listing the one-off containers of the run',
    );
    const found = ps.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((parts): parts is [string, string] => parts.length === 2);
    if (!found.length) return [];
    const rm = await runner.run('docker', ['rm', '--force', ...found.map(([id]) => id)], {
      timeoutMs: CHANGE_TIMEOUT_MS,
    });
    // One that compose's --rm removed meanwhile is gone all the same.
    if (rm.exitCode !== 0 && !/no such container/i.test(rm.stderr)) ensureOk(rm, 'removing one-off containers');
    return found.map(([, name]) => name);
  }

  /**
   * Services of a color's file that run once and exit (a migration, a seed): `restart: "no"` written out, or the
   * label bluegreen.one-off=true. Exit 0 is done; anything else fails the deploy.
   */
  async oneOffServices(color: string): Promise<string[]> {
    const defs = await this.serviceDefs(this.colorFile(color), 'color-file');
    return defs.filter(([, def]) => isOneOff(def)).map(([name]) => name);
  }

  async pull(color: string, services: string[]): Promise<void> {
    ensureOk(await this.run(color, ['pull', ...services], UP_TIMEOUT_MS), `pulling the ${color} images`);
  }

  /** Starts existing containers as they are (rollback to what ran before). */
  async start(color: string, services: string[]): Promise<void> {
    ensureOk(await this.run(color, ['start', ...services], CHANGE_TIMEOUT_MS), `starting ${color}`);
  }

  async stop(color: string, services: string[]): Promise<void> {
    ensureOk(await this.exec(color, this.stopArgs(color, services), CHANGE_TIMEOUT_MS), `stopping ${color}`);
  }

  /**
   * Stops known containers with Docker directly, as compose would: compose put the service's stop_grace_period and
   * stop_signal into each container's configuration, which `docker stop` uses. It spares compose v1's half-second
   * start in the undo, where a cancelled job has seconds before it is killed.
   */
  async stopContainers(containers: ContainerState[]): Promise<void> {
    ensureOk(
      await this.runner.run('docker', ['stop', ...containers.map((c) => c.id)], { timeoutMs: CHANGE_TIMEOUT_MS }),
      `stopping ${containers.map((c) => c.name).join(', ')}`,
    );
  }

  async remove(color: string, services: string[]): Promise<void> {
    ensureOk(await this.exec(color, this.removeArgs(color, services), CHANGE_TIMEOUT_MS), `removing ${color}`);
  }

  /**
   * The last lines each container printed, read from Docker directly: compose v1 takes half a second a call, and
   * this runs in the undo, where a cancelled job has seconds before it is killed.
   */
  async logTail(containers: ContainerState[], lines: number): Promise<string> {
    const tails = await Promise.all(
      containers.map(async (c) => {
        const r = await this.runner.run('docker', ['logs', '--tail', String(lines), c.id], {
          timeoutMs: QUERY_TIMEOUT_MS,
        });
        const text = `${r.stdout}${r.stderr}`.trimEnd();
        return text ? text.split('\n').map((l) => `${c.name} | ${l}`) : [];
      }),
    );
    return tails.flat().join('\n');
  }

  /** One compose file serves both colors when it interpolates BLUEGREEN_*; see PINNED_COMPOSE_ENV for the rest. */
  env(color: string): Record<string, string> {
    return { ...PINNED_COMPOSE_ENV, BLUEGREEN_COLOR: color, BLUEGREEN_PORT: String(this.port(color)) };
  }

  private run(color: string, subcommand: string[], timeoutMs: number) {
    return this.exec(color, this.args(color, subcommand), timeoutMs);
  }

  /** Commands that change something show their output as it comes; queries keep theirs to be parsed. */
  private exec(color: string, args: string[], timeoutMs: number, stream = true) {
    return this.runner.run(this.cli.file, args, {
      cwd: this.config.workingDirectory,
      env: this.env(color),
      timeoutMs,
      onLine: stream ? this.onLine : undefined,
    });
  }

  private async servicesOf(file: string, input: string): Promise<string[]> {
    return (await this.serviceDefs(file, input)).map(([name]) => name);
  }

  /** A deploy asks for the same services many times: each file is read and parsed once. */
  private serviceDefs(file: string, input: string): Promise<[string, unknown][]> {
    const key = `${input}\0${file}`;
    let defs = this.parsed.get(key);
    if (!defs) {
      defs = this.readServiceDefs(file, input);
      this.parsed.set(key, defs);
    }
    return defs;
  }

  private async readServiceDefs(file: string, input: string): Promise<[string, unknown][]> {
    const text = await this.files.read(file);
    let doc: unknown;
    try {
      doc = text === null ? null : parseYaml(text, { merge: true });
    } catch (error) {
      throw new ConfigError([{ input, value: file, message: `not valid YAML: ${(error as Error).message}` }]);
    }
    const services = (doc as { services?: unknown } | null)?.services;
    const map = typeof services === 'object' && services !== null && !Array.isArray(services);
    if (text === null || (services !== undefined && !map)) {
      throw new ConfigError([{ input, value: file, message: 'not a compose file with a services: map' }]);
    }
    const defs = Object.entries(services ?? {});
    const bad = defs.find(([name]) => !SERVICE.test(name));
    if (bad !== undefined) {
      throw new ConfigError([{ input, value: file, message: `"${bad[0]}" is not a compose service name` }]);
    }
    return defs;
  }
}

function oneOffName(service: string, run: string): string {
  return `${service}-pre-deploy-${run.slice(0, 8)}`;
}

function isOneOff(def: unknown): boolean {
  const { restart, labels } = (def ?? {}) as { restart?: unknown; labels?: unknown };
  if (restart === 'no' || restart === false) return true;
  if (Array.isArray(labels)) return labels.some((l) => typeof l === 'string' && /^bluegreen\.one-off=true$/i.test(l));
  const label = (labels as Record<string, unknown> | undefined)?.['bluegreen.one-off'];
  return label === true || (typeof label === 'string' && label.toLowerCase() === 'true');
}

interface InspectEntry {
  Id?: string;
  Name?: string;
  State?: { Status?: string; Running?: boolean; ExitCode?: number; Health?: { Status?: string } };
  Config?: { Labels?: Record<string, string>; ExposedPorts?: Record<string, unknown> | null };
  NetworkSettings?: {
    Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string }> | null;
    Ports?: Record<string, unknown> | null;
  };
}

export function parseInspect(json: string): ContainerState[] {
  const entries = JSON.parse(json) as InspectEntry[];
  return entries
    .filter((e) => e.Config?.Labels?.['com.docker.compose.oneoff'] !== 'True')
    .map((e) => ({
      id: (e.Id ?? '').slice(0, 12),
      name: (e.Name ?? '').replace(/^\//, ''),
      service: e.Config?.Labels?.['com.docker.compose.service'] ?? '',
      running: Boolean(e.State?.Running),
      status: e.State?.Status ?? 'unknown',
      exitCode: e.State?.ExitCode ?? 0,
      health: e.State?.Health?.Status,
      addresses: Object.values(e.NetworkSettings?.Networks ?? {})
        .flatMap((n) => [n.IPAddress ?? '', n.GlobalIPv6Address ?? ''])
        .filter(Boolean),
      ports: [
        ...new Set(
          [...Object.keys(e.Config?.ExposedPorts ?? {}), ...Object.keys(e.NetworkSettings?.Ports ?? {})]
            .map((k) => /^(\d+)\/tcp$/.exec(k)?.[1])
            .filter((p): p is string => p !== undefined)
            .map(Number),
        ),
      ],
    }));
}
