import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Files } from '../io.js';
import { renderInclude, splitForm, wordsOf } from '../proxy/include.js';
import { parseHosts, type HostEntry } from './hosts.js';
import { splitWords } from './words.js';

import { COMMAND_NAMES, defaultOf, isGiven, type Command, type InputName, type RawInputs } from '../inputs.js';

export type Cleanup = 'stop' | 'down' | 'keep';
export type ComposeSetting = 'auto' | 'docker compose' | 'docker-compose';
export type VerifyProxies = 'auto' | 'required' | 'off';

export interface StatusRange {
  from: number;
  to: number;
}

export interface ProxyTarget {
  container: string;
  /** Absolute path of an include on the runner's disk, bind-mounted into the container. */
  file?: string;
  /** Path of the include inside the container. */
  path?: string;
  template: string;
  host: string;
  /** Where to check this proxy after the switch, when it publishes no port the runner can reach. */
  verifyUrl?: string;
}

export interface Config {
  command: Command;
  workingDirectory: string;
  composeFiles: string[];
  colorFile: string;
  projectName: string;
  composeCommand: ComposeSetting;
  /** The engines one release goes to together; empty: the one of DOCKER_HOST / DOCKER_CONTEXT. */
  hosts: HostEntry[];
  /** With several hosts: how many bring up and health-check at once. */
  maxParallel: number;
  /** auto: the engine's API on a local socket for the frequent calls (docker/engine-api.ts); off: the CLI only. */
  dockerApi: 'auto' | 'off';
  colors: [string, string];
  ports: [number, number];
  build: boolean;
  pull: boolean;
  health: {
    path: string;
    host: string;
    headers: Record<string, string>;
    statuses: StatusRange[];
    body: string;
    timeoutMs: number;
    intervalMs: number;
  };
  /** Run once in a one-off container of the new color's image before it starts; no command: none. */
  preDeploy: { command: string[]; service: string; timeoutMs: number };
  /** Commands run on the runner at fixed points of a deploy or rollback; an empty list: none. */
  hooks: Hooks;
  targets: ProxyTarget[];
  verifyProxies: VerifyProxies;
  verifyUrl: string;
  verifyTimeoutMs: number;
  colorHeader: string;
  drainMs: number;
  /** The post-switch watch of real traffic: see engine/watch.ts. */
  watch: Watch;
  /** Canary steps before the switch: percents of the requests sent to the new color, each watched that long. */
  canary: { steps: number[]; intervalMs: number };
  cleanup: Cleanup;
  rollbackOnFailure: boolean;
  dryRun: boolean;
}

export interface Watch {
  /** How long after the switch the traffic is watched, at least (it lasts the drain too); undefined: the drain. */
  ms?: number;
  /** Percent of failed requests above which the new color is rolled back. */
  maxErrorRate: number;
  /** Fewer requests than this tell nothing: the watch passes and says so. */
  minRequests: number;
  /** The highest p95 request time allowed, when judged. */
  maxLatencyMs?: number;
}

export interface Hooks {
  preSwitch: string[];
  postSwitch: string[];
  onFailure: string[];
  timeoutMs: number;
  postSwitchRequired: boolean;
}

/** Inputs that hold a command line: split into words like a shell would, but never run by one. */
export const COMMAND_INPUTS = new Set<string>([
  'pre-deploy-command',
  'pre-switch-command',
  'post-switch-command',
  'on-failure-command',
]);

export interface ConfigIssue {
  input: string;
  /** Left out where it could hold anything (the value of an unknown key). */
  value?: string;
  message: string;
  /** Where the value came from (a flag, a variable, the config file), when known. */
  source?: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      'Invalid configuration; nothing was changed. Fix these inputs and run again:\n' +
        issues
          .map(
            (i) =>
              `  - ${i.input}${i.value === undefined ? '' : ` = ${JSON.stringify(masked(i.input, i.value))}`}` +
              `${i.source ? ` (from ${i.source})` : ''}: ${i.message}`,
          )
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

// Anything that reaches an Nginx config is held to these shapes, so a value cannot close a block or add a directive.
const COLOR = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const PROJECT = /^[a-z0-9][a-z0-9_-]*$/;
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?';
const HOST = new RegExp(`^(?:${HOST_LABEL})(?:\\.${HOST_LABEL})*$|^\\[[0-9A-Fa-f:.]+\\]$`);
// Two characters at least: docker cp on Windows reads `p:/etc/...` as a drive letter.
const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,127}$/;
const INCLUDE_PATH = /^\/[^\s;{}"'\\]*[^/\s]$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SERVICE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const PLACEHOLDER = /(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Header values can hold credentials: logs and errors show the header names only. */
export function maskHeaders(value: string): string {
  return value
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const name = line.slice(0, Math.max(0, line.indexOf(':'))).trim();
      return HEADER_NAME.test(name) ? `${name}: ***` : '***';
    })
    .join('\n');
}

/** A URL's user, password and query can hold credentials. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (!url.username && !url.password && !url.search) return value;
    if (url.username) url.username = '***';
    if (url.password) url.password = '***';
    if (url.search) url.search = '?***';
    return url.toString();
  } catch {
    return value.replace(/\/\/[^/\s]*@/g, '//***@');
  }
}

/** Every URL in a text (a command line) with its user, password and query masked. */
export function maskUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (url) => maskUrl(url));
}

/** What a log or an error may show of an input's value. */
export function masked(input: string, value: string): string {
  if (input === 'health-headers') return maskHeaders(value);
  if (input === 'verify-url') return maskUrl(value);
  if (COMMAND_INPUTS.has(input)) return maskUrls(value);
  if (input === 'nginx-targets') return value.replace(/\/\/[^/\s'"]*@/g, '//***@');
  return value;
}

/** Node's URL parser must take it too: it refuses what the shapes above let through, like 256.0.0.1 or port 99999. */
function parsesAsUrl(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** Splits a list given with newlines or commas. */
export function splitList(value: string): string[] {
  return value
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function fail(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

const text = (name: InputName) => z.string().default(defaultOf(name));

function choice<const T extends readonly string[]>(name: InputName, options: T) {
  return text(name).transform((v, ctx) =>
    (options as readonly string[]).includes(v) ? (v as T[number]) : fail(ctx, `allowed: ${options.join(', ')}`),
  );
}

function bool(name: InputName) {
  return text(name).transform((v, ctx) => {
    const lower = v.toLowerCase();
    if (lower === 'true' || lower === 'false') return lower === 'true';
    return fail(ctx, 'allowed: true or false');
  });
}

function seconds(name: InputName, range: { zero: boolean; max: number }) {
  return text(name).transform((v, ctx) => secondsOf(v, ctx, range));
}

function secondsOf(v: string, ctx: z.RefinementCtx, { zero, max }: { zero: boolean; max: number }): number {
  const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  const ms = Math.round(n * 1000);
  if (!(n <= max) || (!zero && ms === 0)) return fail(ctx, `seconds, from ${zero ? '0' : '0.001'} to ${max}`);
  return ms;
}

function whole(name: InputName, range: { min: number; max: number }) {
  return text(name).transform((v, ctx) => wholeOf(v, ctx, range));
}

function wholeOf(v: string, ctx: z.RefinementCtx, { min, max }: { min: number; max: number }): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  return n >= min && n <= max ? n : fail(ctx, `a whole number from ${min} to ${max}`);
}

function commandLine(name: InputName) {
  return text(name).transform((v, ctx) => {
    const split = splitWords(v);
    if ('problem' in split) return fail(ctx, split.problem);
    if (split.words.length && !split.words[0]) return fail(ctx, 'the program to run is empty');
    return split.words;
  });
}

/** Allows only the named placeholders, so a typo such as {prot} is caught before it reaches Nginx. */
function checkPlaceholders(template: string, allowed: readonly string[]): string | undefined {
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!allowed.includes(match[1] ?? '')) {
      return `unknown placeholder {${match[1]}}; allowed: ${allowed.map((a) => `{${a}}`).join(', ')}`;
    }
  }
  return undefined;
}

function withPlaceholders(name: InputName, allowed: readonly string[]) {
  return text(name).superRefine((v, ctx) => {
    const problem = checkPlaceholders(v, allowed);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

export function parseStatuses(value: string): StatusRange[] | undefined {
  const ranges: StatusRange[] = [];
  for (const part of splitList(value)) {
    const m = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(part);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = Number(m[2] ?? m[1]);
    if (from < 100 || to > 599 || from > to) return undefined;
    ranges.push({ from, to });
  }
  return ranges.length ? ranges : undefined;
}

function parseHeaders(value: string, ctx: z.RefinementCtx): Record<string, string> {
  const headers: Record<string, string> = {};
  const lines = value
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  for (const [index, line] of lines.entries()) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    // The line is not quoted: it may be a credential without its name.
    if (!HEADER_NAME.test(name)) return fail(ctx, `line ${index + 1} is not a header line; write "Name: value"`);
    const value = line.slice(colon + 1).trim();
    if (!/^[\t\x20-\x7e]*$/.test(value)) return fail(ctx, `the value of ${name} must be printable ASCII`);
    headers[name] = value;
  }
  return headers;
}

const targetEntry = z
  .object({
    container: z.string(),
    file: z.string().optional(),
    path: z.string().optional(),
    template: z.string().optional(),
    host: z.string().optional(),
    'verify-url': z.string().optional(),
  })
  .strict();

/** http(s) URLs that Node's parser takes too. */
function isHttpUrl(v: string): boolean {
  return /^https?:\/\/[^\s/]+(\/\S*)?$/.test(v) && parsesAsUrl(v);
}

const schema = z
  .object({
    command: choice('command', COMMAND_NAMES),
    // Read by sources.ts before this schema runs.
    config: text('config'),
    environment: text('environment'),
    'working-directory': text('working-directory'),
    'compose-files': z
      .string()
      .default(defaultOf('compose-files'))
      .transform((v) => splitList(v)),
    'color-file': withPlaceholders('color-file', ['color']),
    'project-name': withPlaceholders('project-name', ['color']).superRefine((v, ctx) => {
      if (v && !PROJECT.test(v.replace(/\{color\}/g, 'blue'))) {
        ctx.addIssue({
          code: 'custom',
          message: 'lower-case letters, digits, - and _, starting with a letter or digit',
        });
      }
    }),
    hosts: text('hosts').transform((v, ctx) => {
      const { hosts, issues } = parseHosts(v);
      return issues.length ? fail(ctx, issues.join('; ')) : hosts;
    }),
    'max-parallel': whole('max-parallel', { min: 1, max: 256 }),
    'compose-command': choice('compose-command', ['auto', 'docker compose', 'docker-compose'] as const),
    'docker-api': choice('docker-api', ['auto', 'off'] as const),
    colors: text('colors').transform((v, ctx) => {
      const colors = splitList(v);
      if (colors.length !== 2) return fail(ctx, `exactly two names, e.g. blue,green (got ${colors.length})`);
      const bad = colors.find((c) => !COLOR.test(c));
      if (bad) return fail(ctx, `"${bad}" is not allowed: lower-case letters, digits, - and _, at most 32`);
      if (colors[0] === colors[1]) return fail(ctx, 'the two colors must differ');
      return colors as [string, string];
    }),
    ports: text('ports').transform((v, ctx) => {
      const parts = splitList(v);
      if (parts.length !== 2) return fail(ctx, `exactly two ports, one per color (got ${parts.length})`);
      const ports = parts.map((p) => (/^\d{1,5}$/.test(p) ? Number(p) : NaN));
      const bad = parts.find((_, i) => !((ports[i] ?? NaN) >= 1 && (ports[i] ?? NaN) <= 65535));
      if (bad !== undefined) return fail(ctx, `"${bad}" is not a port: a whole number from 1 to 65535`);
      if (ports[0] === ports[1]) return fail(ctx, 'the two colors need different ports');
      return ports as [number, number];
    }),
    build: bool('build'),
    pull: bool('pull'),
    'pre-deploy-command': commandLine('pre-deploy-command'),
    'pre-deploy-service': withPlaceholders('pre-deploy-service', ['color']).superRefine((v, ctx) => {
      if (v && !SERVICE.test(v.replace(/\{color\}/g, 'blue'))) {
        ctx.addIssue({ code: 'custom', message: 'a compose service name, e.g. app or app-{color}' });
      }
    }),
    'pre-deploy-timeout': seconds('pre-deploy-timeout', { zero: false, max: 86_400 }),
    'health-path': text('health-path').superRefine((v, ctx) => {
      if (!/^\/[\x21-\x7e]*$/.test(v)) ctx.addIssue({ code: 'custom', message: 'a path starting with /, no spaces' });
    }),
    'health-host': text('health-host').superRefine((v, ctx) => {
      if (!HOST.test(v) || !parsesAsUrl(`http://${v}/`)) {
        ctx.addIssue({ code: 'custom', message: 'a host name or IP address ([...] for IPv6)' });
      }
    }),
    'health-headers': text('health-headers').transform((v, ctx) => parseHeaders(v, ctx)),
    'health-status': text('health-status').transform(
      (v, ctx) => parseStatuses(v) ?? fail(ctx, 'status codes 100-599 as a list of codes and ranges, e.g. 200-299,301'),
    ),
    'health-body': text('health-body'),
    'health-timeout': seconds('health-timeout', { zero: false, max: 3600 }),
    'health-interval': seconds('health-interval', { zero: false, max: 300 }),
    'nginx-container': text('nginx-container').transform((v) => splitList(v)),
    'upstream-file': text('upstream-file'),
    'upstream-path': text('upstream-path').superRefine((v, ctx) => {
      if (v && !INCLUDE_PATH.test(v))
        ctx.addIssue({ code: 'custom', message: 'an absolute file path inside the container' });
    }),
    'upstream-template': withPlaceholders('upstream-template', ['color', 'port', 'host']),
    'upstream-host': text('upstream-host').superRefine((v, ctx) => {
      if (!HOST.test(v)) ctx.addIssue({ code: 'custom', message: 'a host name or IP address ([...] for IPv6)' });
    }),
    'nginx-targets': text('nginx-targets').transform((v, ctx) => {
      if (!v.trim()) return [];
      let doc: unknown;
      try {
        doc = parseYaml(v);
      } catch (error) {
        return fail(ctx, `not valid YAML: ${(error as Error).message.split('\n')[0]?.replace(/:\s*$/, '')}`);
      }
      const parsed = z.array(targetEntry).min(1).safeParse(doc);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
        return fail(
          ctx,
          `a YAML list of {container, file or path, template, host, verify-url}${where}: ${issue?.message}`,
        );
      }
      return parsed.data;
    }),
    'verify-proxies': choice('verify-proxies', ['auto', 'required', 'off'] as const),
    'verify-url': text('verify-url').superRefine((v, ctx) => {
      if (v && !isHttpUrl(v)) ctx.addIssue({ code: 'custom', message: 'an http:// or https:// URL' });
    }),
    'verify-timeout': seconds('verify-timeout', { zero: false, max: 3600 }),
    'color-header': text('color-header').superRefine((v, ctx) => {
      if (v && !HEADER_NAME.test(v)) ctx.addIssue({ code: 'custom', message: 'a header name, e.g. X-Color' });
    }),
    'pre-switch-command': commandLine('pre-switch-command'),
    'post-switch-command': commandLine('post-switch-command'),
    'post-switch-required': bool('post-switch-required'),
    'on-failure-command': commandLine('on-failure-command'),
    'hook-timeout': seconds('hook-timeout', { zero: false, max: 86_400 }),
    'drain-seconds': seconds('drain-seconds', { zero: true, max: 3600 }),
    'watch-seconds': text('watch-seconds').transform((v, ctx) =>
      v === '' ? undefined : secondsOf(v, ctx, { zero: true, max: 3600 }),
    ),
    'max-error-rate': text('max-error-rate').transform((v, ctx) => {
      const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
      return n <= 100 ? n : fail(ctx, 'a percentage from 0 to 100, e.g. 5 or 0.5');
    }),
    'min-requests': whole('min-requests', { min: 1, max: 1_000_000 }),
    'canary-steps': text('canary-steps').transform((v, ctx) => {
      const steps = splitList(v).map((x) => (/^\d+$/.test(x) ? Number(x) : NaN));
      const rising = steps.every((n, i) => n >= 1 && n <= 99 && (i === 0 || n > (steps[i - 1] ?? 0)));
      return rising ? steps : fail(ctx, 'whole percents from 1 to 99, rising, e.g. 10,50');
    }),
    'canary-interval': seconds('canary-interval', { zero: false, max: 3600 }),
    'max-latency-ms': text('max-latency-ms').transform((v, ctx) =>
      v === '' ? undefined : wholeOf(v, ctx, { min: 1, max: 3_600_000 }),
    ),
    cleanup: choice('cleanup', ['stop', 'down', 'keep'] as const),
    'rollback-on-failure': bool('rollback-on-failure'),
    'dry-run': bool('dry-run'),
  })
  .strict();

type Parsed = z.output<typeof schema>;

/**
 * Validates every input before anything is touched. Throws ConfigError listing each bad input with its value,
 * where it came from (when `sources` says) and what is allowed.
 */
export async function loadConfig(
  raw: RawInputs,
  files: Files,
  sources?: Partial<Record<string, { kind: string; label: string }>>,
): Promise<Config> {
  // A flag or an input cannot hold a newline easily: in their template, a literal \n stands for one. A YAML file
  // writes newlines as they are, so there a \n is Nginx's (return 200 "ok\n").
  const fromFile = ['file', 'environment'].includes(sources?.['upstream-template']?.kind ?? '');
  try {
    return await validate(raw, files, !fromFile);
  } catch (error) {
    if (!(error instanceof ConfigError) || !sources) throw error;
    throw new ConfigError(
      error.issues.map((issue) => ({ ...issue, source: issue.source ?? sources[issue.input]?.label ?? 'default' })),
    );
  }
}

async function validate(raw: RawInputs, files: Files, escapedNewlines: boolean): Promise<Config> {
  const given: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (isGiven(key, value)) given[key] = value;
  }
  const valueOf = (name: string) => given[name] ?? defaultOf(name as InputName);

  const result = schema.safeParse(given);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const input = String(issue.path[0] ?? '(inputs)');
        if (issue.code === 'unrecognized_keys') {
          return {
            input: issue.keys.join(', '),
            value: issue.keys.map((k) => given[k] ?? '').join(', '),
            message: 'unknown input(s); see the list of inputs',
          };
        }
        return { input, value: valueOf(input), message: issue.message };
      }),
    );
  }
  const p = result.data;
  if (escapedNewlines) p['upstream-template'] = p['upstream-template'].replace(/\\n/g, '\n');
  const issues: ConfigIssue[] = [];
  const problem = (input: InputName, message: string, value = valueOf(input)) => issues.push({ input, value, message });

  const workingDirectory = path.resolve(p['working-directory']);
  const targets = buildTargets(p, workingDirectory, problem);

  if (p['canary-steps'].length) {
    if (!targets.length)
      problem('canary-steps', 'a canary splits the traffic at the proxies: give nginx-container or nginx-targets');
    for (const t of targets.filter((x) => !splitForm(x.template))) {
      problem(
        'canary-steps',
        `proxy ${t.container}: its template can carry no split; a canary needs an upstream block with server lines, ` +
          'or set directives only (for proxy_pass $var)',
      );
    }
  }
  if (p['health-interval'] > p['health-timeout']) {
    problem('health-interval', `must not exceed health-timeout (${p['health-timeout'] / 1000} s)`);
  }
  if (p['pre-deploy-service'] && !p['pre-deploy-command'].length) {
    problem('pre-deploy-service', 'names the service of pre-deploy-command, which is not given');
  }
  if (p['project-name'] && !p['project-name'].includes('{color}') && !p['color-file'].includes('{color}')) {
    problem('color-file', 'without {color} both colors would share one file; add {color} here or to project-name');
  }

  if ((await files.kind(workingDirectory)) !== 'directory') {
    problem('working-directory', `no such directory: ${workingDirectory}`);
  } else {
    for (const file of p['compose-files']) {
      if ((await files.kind(path.resolve(workingDirectory, file))) !== 'file') {
        problem('compose-files', `no such file: ${path.resolve(workingDirectory, file)}`);
      }
    }
    for (const color of p.colors) {
      const file = path.resolve(workingDirectory, p['color-file'].replace(/\{color\}/g, color));
      if ((await files.kind(file)) !== 'file') problem('color-file', `no such file for color ${color}: ${file}`);
    }
    for (const target of targets) {
      if (target.file && (await files.kind(path.dirname(target.file))) !== 'directory') {
        problem(targetInput(p), `no such directory for the include: ${path.dirname(target.file)}`, target.file);
      }
    }
  }
  if (issues.length) throw new ConfigError(issues);

  return {
    command: p.command,
    workingDirectory,
    composeFiles: p['compose-files'],
    colorFile: p['color-file'],
    projectName: p['project-name'],
    composeCommand: p['compose-command'],
    hosts: p.hosts,
    maxParallel: p['max-parallel'],
    dockerApi: p['docker-api'],
    colors: p.colors,
    ports: p.ports,
    build: p.build,
    pull: p.pull,
    health: {
      path: p['health-path'],
      host: p['health-host'],
      headers: p['health-headers'],
      statuses: p['health-status'],
      body: p['health-body'],
      timeoutMs: p['health-timeout'],
      intervalMs: p['health-interval'],
    },
    preDeploy: {
      command: p['pre-deploy-command'],
      service: p['pre-deploy-service'],
      timeoutMs: p['pre-deploy-timeout'],
    },
    hooks: {
      preSwitch: p['pre-switch-command'],
      postSwitch: p['post-switch-command'],
      onFailure: p['on-failure-command'],
      timeoutMs: p['hook-timeout'],
      postSwitchRequired: p['post-switch-required'],
    },
    targets,
    verifyProxies: p['verify-proxies'],
    verifyUrl: p['verify-url'],
    verifyTimeoutMs: p['verify-timeout'],
    colorHeader: p['color-header'],
    drainMs: p['drain-seconds'],
    watch: {
      ms: p['watch-seconds'],
      maxErrorRate: p['max-error-rate'],
      minRequests: p['min-requests'],
      maxLatencyMs: p['max-latency-ms'],
    },
    canary: { steps: p['canary-steps'], intervalMs: p['canary-interval'] },
    cleanup: p.cleanup,
    rollbackOnFailure: p['rollback-on-failure'],
    dryRun: p['dry-run'],
  };
}

function targetInput(p: Parsed): InputName {
  return p['nginx-targets'].length ? 'nginx-targets' : p['upstream-file'] ? 'upstream-file' : 'upstream-path';
}

/** One proxy target per container, from nginx-targets or from the four single-proxy inputs. */
function buildTargets(
  p: Parsed,
  workingDirectory: string,
  problem: (input: InputName, message: string, value?: string) => void,
): ProxyTarget[] {
  const single = p['nginx-container'].length > 0 || p['upstream-file'] !== '' || p['upstream-path'] !== '';
  if (p['nginx-targets'].length && single) {
    problem('nginx-targets', 'set either nginx-targets or nginx-container with upstream-file/upstream-path, not both');
    return [];
  }
  const entries = p['nginx-targets'].length
    ? p['nginx-targets']
    : p['nginx-container'].map((container) => ({
        container,
        file: p['upstream-file'] || undefined,
        path: p['upstream-path'] || undefined,
        template: undefined,
        host: undefined,
        'verify-url': undefined,
      }));
  if (!p['nginx-targets'].length && !p['nginx-container'].length && single) {
    problem('nginx-container', 'an include needs the proxy container that reads it');
  }
  const input: InputName = p['nginx-targets'].length ? 'nginx-targets' : 'nginx-container';
  const targets: ProxyTarget[] = [];
  for (const entry of entries) {
    const where = `proxy ${entry.container}`;
    if (!CONTAINER.test(entry.container)) {
      problem(input, `"${entry.container}" is not a container name`, entry.container);
    }
    if (Boolean(entry.file) === Boolean(entry.path)) {
      const which = p['nginx-targets'].length ? 'nginx-targets' : entry.file ? 'upstream-path' : 'upstream-file';
      problem(which, `${where}: give exactly one of upstream-file (on the runner) or upstream-path (in the container)`);
    }
    // The single-proxy inputs were checked by the schema; entries of nginx-targets are checked here.
    if (entry.path !== undefined && !INCLUDE_PATH.test(entry.path)) {
      problem(input, `${where}: path must be an absolute file path inside the container`, entry.path);
    }
    const host = entry.host ?? p['upstream-host'];
    if (entry['verify-url'] !== undefined && !isHttpUrl(entry['verify-url'])) {
      problem(input, `${where}: verify-url must be an http:// or https:// URL`, entry['verify-url']);
    }
    if (entry.host !== undefined && !HOST.test(host)) {
      problem(input, `${where}: host must be a host name or IP address ([...] for IPv6)`, host);
    }
    const tmpl = entry.template?.replace(/\\n/g, '\n') ?? p['upstream-template'];
    const bad = entry.template !== undefined ? checkPlaceholders(tmpl, ['color', 'port', 'host']) : undefined;
    if (bad) problem(input, `${where}: template has an ${bad}`, tmpl);
    // Compared as Nginx reads them: a {color} inside a comment changes nothing Nginx does.
    const rendered = p.colors.map((c, i) =>
      wordsOf(renderInclude({ container: '', template: tmpl, host }, c, p.ports[i] ?? 0)),
    );
    if (!bad && rendered[0]?.join(' ') === rendered[1]?.join(' ')) {
      problem(
        entry.template !== undefined ? input : 'upstream-template',
        `${where}: the template must contain {color} or {port} where Nginx reads it (not only in a comment); ` +
          'otherwise both colors render the same include and a switch would change nothing (then the live color ' +
          'would be stopped)',
        tmpl,
      );
    }
    targets.push({
      container: entry.container,
      file: entry.file ? path.resolve(workingDirectory, entry.file) : undefined,
      path: entry.path,
      template: tmpl,
      host,
      verifyUrl: entry['verify-url'],
    });
  }
  return targets;
}
