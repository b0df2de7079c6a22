import { readFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describeCommand, type RunOptions, type Runner } from '../runner.js';
import type { DockerEndpoint } from './docker.js';

/**
 * The Docker Engine API on the engine's local socket, for the calls a deploy makes most often and on its critical
 * path: inspect, top, exec, cp, and the create, rm and ps of its lock and journal containers. Each docker CLI call costs
 * 20 to 140 ms of process start-up and connection set-up (a `docker cp` from stdin the most); the same request on
 * the socket takes a few. Everything else (compose, stop, logs, and every call to a tcp://, ssh:// or context
 * endpoint, whose TLS and SSH settings only the CLI knows) stays with the CLI.
 *
 * It is a Runner: callers keep asking for `docker inspect ...`, and get what the CLI would print (the same JSON,
 * exit codes and the daemon's error messages), so that every caller and fake stays as it is.
 */

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Below the version: `/containers/x/json`. */
  path: string;
  body?: Uint8Array | object;
  signal: AbortSignal;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP exchange with the engine. */
export interface ApiTransport {
  request(req: ApiRequest): Promise<ApiResponse>;
}

/** The engine could not be reached at all: nothing was sent, so the CLI may do the same call instead. */
export class ApiUnreachable extends Error {}

/** Errors of connecting: the request never reached the engine. */
const CONNECT_ERRORS = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK']);

/** The API over a unix socket or a Windows named pipe. A connection per request: on a local socket it costs µs. */
export function socketTransport(socketPath: string): ApiTransport {
  let prefix: Promise<string> | undefined;
  const exchange = (method: string, p: string, signal: AbortSignal, body?: ApiRequest['body']) =>
    new Promise<ApiResponse>((resolve, reject) => {
      const raw = body === undefined ? undefined : body instanceof Uint8Array ? body : JSON.stringify(body);
      const type = body instanceof Uint8Array ? 'application/x-tar' : 'application/json';
      const req = http.request(
        {
          socketPath,
          method,
          path: p,
          agent: false,
          signal,
          headers: raw === undefined ? { Host: 'docker' } : { Host: 'docker', 'Content-Type': type },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(e.code && CONNECT_ERRORS.has(e.code) ? new ApiUnreachable(`${socketPath}: ${e.message}`) : e),
      );
      req.end(raw);
    });
  /**
   * The API version is the engine's own, asked once (`GET /_ping` answers in every version): a pinned one would be
   * refused one day (Engine 29 refuses below 1.44, 20.10 knows nothing above 1.41), and a current docker CLI also
   * talks the engine's version. The fields read here (State, Config.Labels, Ports, top, exec) are the same in all.
   */
  const versionPrefix = (signal: AbortSignal) => {
    prefix ??= exchange('GET', '/_ping', signal).then((r) => {
      const version = r.headers['api-version'];
      return typeof version === 'string' && /^\d+\.\d+$/.test(version) ? `/v${version}` : '';
    });
    // A ping that failed (unreachable, cancelled) is asked again by the next call.
    prefix.catch(() => (prefix = undefined));
    return prefix;
  };
  return {
    request: async ({ method, path: p, body, signal }) =>
      exchange(method, `${await versionPrefix(signal)}${p}`, signal, body),
  };
}

/**
 * The socket of the engine the docker CLI would reach, when it is a local one: DOCKER_HOST=unix:// or npipe://, or
 * neither DOCKER_HOST nor DOCKER_CONTEXT nor a current context other than the default in the CLI's config.
 */
export async function localApiSocket(
  endpoint: DockerEndpoint,
  env: Readonly<Record<string, string | undefined>>,
  readText: (file: string) => Promise<string> = (file) => readFile(file, 'utf8'),
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> {
  if (endpoint.host) {
    if (endpoint.host.startsWith('unix://')) return endpoint.host.slice('unix://'.length) || undefined;
    if (endpoint.host.startsWith('npipe://')) return endpoint.host.slice('npipe://'.length).replace(/\//g, '\\');
    return undefined;
  }
  if (endpoint.context && endpoint.context !== 'default') return undefined;
  if (!endpoint.context) {
    // os.homedir() is where the CLI looks too: HOME on Linux and macOS, USERPROFILE on Windows.
    const dir = env.DOCKER_CONFIG?.trim() || path.join(os.homedir(), '.docker');
    let current: unknown;
    try {
      current = (JSON.parse(await readText(path.join(dir, 'config.json'))) as { currentContext?: unknown })
        .currentContext;
    } catch {
      // No config file, or one the CLI would also ignore: the default context.
    }
    if (typeof current === 'string' && current !== '' && current !== 'default') return undefined;
  }
  return platform === 'win32' ? '\\\\.\\pipe\\docker_engine' : '/var/run/docker.sock';
}

interface Outcome {
  exitCode: number;
  stdout?: Buffer | string;
  stderr?: string;
}

type Call = (api: Api) => Promise<Outcome>;

/**
 * Serves the docker commands it knows over the API and hands every other one to `cli`, unchanged. When the socket
 * cannot be reached, that call and every later one go to the CLI, which then says what is wrong in its own words.
 */
export function viaEngineApi(cli: Runner, transport: ApiTransport): Runner {
  let reachable = true;
  return {
    async run(file, args, options) {
      const call = file === 'docker' && reachable ? apiCall(args, options) : undefined;
      if (!call) return cli.run(file, args, options);
      const command = describeCommand(file, args);
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(new Error('timed out')), options.timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
      try {
        const outcome = await call(new Api(transport, signal));
        const stdout = outcome.stdout ?? '';
        return {
          command,
          exitCode: outcome.exitCode,
          // What the CLI prints is bytes: as latin1, each byte is one char (a tar stream, or UTF-8 JSON undecoded).
          stdout: (typeof stdout === 'string' ? Buffer.from(stdout, 'utf8') : stdout).toString(
            options.encoding ?? 'utf8',
          ),
          stderr: outcome.stderr ?? '',
          timedOut: false,
        };
      } catch (error) {
        if (error instanceof ApiUnreachable) {
          reachable = false;
          return cli.run(file, args, options);
        }
        const timedOut = deadline.signal.aborted;
        const why = timedOut ? 'timed out' : options.signal?.aborted ? 'cancelled' : (error as Error).message;
        return { command, exitCode: -1, stdout: '', stderr: `docker engine API: ${why}`, timedOut };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A response that is not a success: the daemon's message, as the CLI prints it. */
class DaemonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class Api {
  constructor(
    private readonly transport: ApiTransport,
    private readonly signal: AbortSignal,
  ) {}

  /** Requests that reached the engine: after the first, the call cannot be handed to the CLI (it would run twice). */
  private sent = 0;

  async send(method: ApiRequest['method'], p: string, body?: ApiRequest['body']): Promise<ApiResponse> {
    let r: ApiResponse;
    try {
      r = await this.transport.request({ method, path: p, body, signal: this.signal });
    } catch (error) {
      if (error instanceof ApiUnreachable && this.sent > 0)
        throw new Error(`the engine went away: ${error.message}`, { cause: error });
      throw error;
    }
    this.sent++;
    if (r.status >= 400) throw new DaemonError(r.status, messageOf(r.body));
    return r;
  }

  async json<T>(method: ApiRequest['method'], p: string, body?: object): Promise<T> {
    return JSON.parse((await this.send(method, p, body)).body.toString('utf8')) as T;
  }
}

function messageOf(body: Buffer): string {
  const text = body.toString('utf8').trim();
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON: the text itself.
  }
  return text;
}

const daemonSaid = (e: DaemonError): Outcome => ({ exitCode: 1, stderr: `Error response from daemon: ${e.message}\n` });

/** Runs a call; a daemon error becomes the CLI's exit 1 with its message (or what `onError` makes of it). */
function guarded(call: Call, onError: (e: DaemonError) => Outcome = daemonSaid): Call {
  return async (api) => {
    try {
      return await call(api);
    } catch (error) {
      if (error instanceof DaemonError) return onError(error);
      throw error;
    }
  };
}

const enc = encodeURIComponent;
const isFlag = (a: string) => a.startsWith('-');

/** The API call for these docker arguments, or undefined when only the CLI does them. */
function apiCall(args: readonly string[], options: RunOptions): Call | undefined {
  const [verb = '', ...rest] = args;
  if (verb === 'inspect' && rest[0] === '--type' && rest[1] === 'container' && names(rest.slice(2)))
    return inspectContainers(rest.slice(2));
  if (verb === 'container' && rest[0] === 'inspect' && names(rest.slice(1))) return inspectContainers(rest.slice(1));
  if (verb === 'image' && rest[0] === 'inspect' && rest.length === 2 && names(rest.slice(1)))
    return inspectImage(rest[1] ?? '');
  if (verb === 'top' && rest.length === 1 && names(rest)) return top(rest[0] ?? '');
  if (verb === 'exec' && rest.length >= 2 && !isFlag(rest[0] ?? '')) return exec(rest[0] ?? '', rest.slice(1));
  if (verb === 'cp') return copy(rest, options);
  if (verb === 'create') return create(rest);
  if (verb === 'rm' && rest.length === 1 && names(rest)) return remove(rest[0] ?? '');
  if (verb === 'ps') return listIds(rest);
  return undefined;
}

function names(list: readonly string[]): boolean {
  return list.length > 0 && list.every((n) => n !== '' && !isFlag(n));
}

/**
 * `docker [container] inspect`: the found ones as a JSON array, in the order asked; exit 1 with a line for each one
 * that is not there ("No such container", as the CLI says with --type container) or could not be inspected.
 */
function inspectContainers(ids: readonly string[]): Call {
  return async (api) => {
    const each = await Promise.all(
      ids.map((id) =>
        api.json('GET', `/containers/${enc(id)}/json`).then(
          (found: unknown) => ({ found, error: '' }),
          (error: unknown) => {
            if (!(error instanceof DaemonError)) throw error;
            const line = error.status === 404 ? `Error: No such container: ${id}\n` : daemonSaid(error).stderr;
            return { found: undefined, error: line ?? '' };
          },
        ),
      ),
    );
    const errors = each.map((e) => e.error).join('');
    return {
      exitCode: errors ? 1 : 0,
      stdout: `${JSON.stringify(
        each.filter((e) => !e.error).map((e) => e.found),
        null,
        4,
      )}\n`,
      stderr: errors,
    };
  };
}

function inspectImage(name: string): Call {
  return guarded(
    async (api) => ({
      exitCode: 0,
      stdout: `${JSON.stringify([await api.json('GET', `/images/${enc(name)}/json`)], null, 4)}\n`,
    }),
    (e) => (e.status === 404 ? { exitCode: 1, stderr: `Error: No such image: ${name}\n` } : daemonSaid(e)),
  );
}

/** `docker top`: ps's columns, padded as the CLI's table is (the PID and CMD columns are what callers read). */
function top(container: string): Call {
  return guarded(async (api) => {
    const r = await api.json<{ Titles?: string[]; Processes?: string[][] }>('GET', `/containers/${enc(container)}/top`);
    const rows = [r.Titles ?? [], ...(r.Processes ?? [])];
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
    const line = (row: string[]) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd();
    return { exitCode: 0, stdout: `${rows.map(line).join('\n')}\n` };
  });
}

/** How often, and how many times, the exit code of an exec whose output has ended is asked for. */
const EXEC_EXIT_POLL_MS = 5;
const EXEC_EXIT_POLLS = 200;

/** `docker exec container cmd...`: its stdout and stderr, and its exit code. */
function exec(container: string, cmd: readonly string[]): Call {
  return guarded(async (api) => {
    const { Id: id } = await api.json<{ Id: string }>('POST', `/containers/${enc(container)}/exec`, {
      AttachStdout: true,
      AttachStderr: true,
      Cmd: cmd,
    });
    const stream = await api.send('POST', `/exec/${enc(id)}/start`, { Detach: false, Tty: false });
    const { stdout, stderr } = demultiplex(stream.body);
    for (let poll = 0; poll < EXEC_EXIT_POLLS; poll++) {
      const state = await api.json<{ Running?: boolean; ExitCode?: number | null }>('GET', `/exec/${enc(id)}/json`);
      if (!state.Running && typeof state.ExitCode === 'number') return { exitCode: state.ExitCode, stdout, stderr };
      await new Promise((resolve) => setTimeout(resolve, EXEC_EXIT_POLL_MS));
    }
    const waited = (EXEC_EXIT_POLLS * EXEC_EXIT_POLL_MS) / 1000;
    return { exitCode: -1, stdout, stderr: `${stderr}the engine did not report the exit code within ${waited} s\n` };
  });
}

/** Docker's multiplexed stream: frames of [stream, 0, 0, 0, size (4 bytes, big-endian)] then size bytes. */
export function demultiplex(body: Buffer): { stdout: Buffer; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= body.length) {
    const kind = body[offset];
    const size = body.readUInt32BE(offset + 4);
    const frame = body.subarray(offset + 8, offset + 8 + size);
    (kind === 2 ? err : out).push(frame);
    offset += 8 + size;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

/** `docker cp - container:dir` (a tar on stdin) and `docker cp [-L] container:path -` (a tar on stdout). */
function copy(rest: readonly string[], options: RunOptions): Call | undefined {
  const follow = rest[0] === '-L';
  const [from = '', to = '', ...more] = follow ? rest.slice(1) : rest;
  if (more.length) return undefined;
  if (from === '-' && !follow && options.input instanceof Uint8Array) {
    const target = splitContainerPath(to);
    const archive = options.input;
    return (
      target &&
      guarded(async (api) => {
        const query = `path=${enc(target.path)}&noOverwriteDirNonDir=true`;
        await api.send('PUT', `/containers/${enc(target.container)}/archive?${query}`, archive);
        return { exitCode: 0 };
      })
    );
  }
  const source = splitContainerPath(from);
  if (to !== '-' || !source) return undefined;
  return guarded(async (api) => {
    const get = (p: string) => api.send('GET', `/containers/${enc(source.container)}/archive?path=${enc(p)}`);
    let r = await get(source.path);
    // With -L the CLI copies what a link points at: the engine names the link's target, resolved, in its stat.
    const target = follow ? linkTargetOf(r) : undefined;
    if (target) r = await get(target);
    return { exitCode: 0, stdout: r.body };
  });
}

function splitContainerPath(arg: string): { container: string; path: string } | undefined {
  const colon = arg.indexOf(':');
  if (colon <= 0 || colon === arg.length - 1) return undefined;
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** X-Docker-Container-Path-Stat: base64 JSON of the path's stat, whose linkTarget is set for a symbolic link. */
function linkTargetOf(r: ApiResponse): string | undefined {
  const header = r.headers['x-docker-container-path-stat'];
  if (typeof header !== 'string') return undefined;
  try {
    const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { linkTarget?: unknown };
    return typeof stat.linkTarget === 'string' && stat.linkTarget ? stat.linkTarget : undefined;
  } catch {
    return undefined;
  }
}

/** `docker create --name N [--label k=v]... [--pull never] image [cmd...]`, the form the lock and the journal use. */
function create(rest: readonly string[]): Call | undefined {
  let name: string | undefined;
  const labels: Record<string, string> = {};
  let i = 0;
  for (; i < rest.length && isFlag(rest[i] ?? ''); i += 2) {
    const value = rest[i + 1];
    if (value === undefined) return undefined;
    if (rest[i] === '--name') name = value;
    // The API never pulls: a missing image is its "No such image", as the CLI says with --pull never.
    else if (rest[i] === '--pull' && value === 'never') continue;
    else if (rest[i] === '--label') {
      const eq = value.indexOf('=');
      labels[eq < 0 ? value : value.slice(0, eq)] = eq < 0 ? '' : value.slice(eq + 1);
    } else return undefined;
  }
  const [image, ...cmd] = rest.slice(i);
  if (!name || !image) return undefined;
  const body = { Image: image, Labels: labels, ...(cmd.length ? { Cmd: cmd } : {}) };
  return guarded(async (api) => {
    const { Id } = await api.json<{ Id: string }>('POST', `/containers/create?name=${enc(name)}`, body);
    return { exitCode: 0, stdout: `${Id}\n` };
  });
}

/** `docker ps -a -q --no-trunc --filter label=...`: the ids of every container with those labels, one per line. */
function listIds(rest: readonly string[]): Call | undefined {
  const [a, q, full, ...filters] = rest;
  if (a !== '-a' || q !== '-q' || full !== '--no-trunc' || !filters.length || filters.length % 2) return undefined;
  const labels: string[] = [];
  for (let i = 0; i < filters.length; i += 2) {
    const value = filters[i + 1] ?? '';
    if (filters[i] !== '--filter' || !value.startsWith('label=')) return undefined;
    labels.push(value.slice('label='.length));
  }
  const query = `all=1&filters=${enc(JSON.stringify({ label: labels }))}`;
  return guarded(async (api) => {
    const list = await api.json<{ Id: string }[]>('GET', `/containers/json?${query}`);
    return { exitCode: 0, stdout: list.map((c) => `${c.Id}\n`).join('') };
  });
}

function remove(container: string): Call {
  return guarded(async (api) => {
    await api.send('DELETE', `/containers/${enc(container)}`);
    return { exitCode: 0, stdout: `${container}\n` };
  });
}
