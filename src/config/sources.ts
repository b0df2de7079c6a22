import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { defaultOf, INPUTS, isGiven, TOOL_ENV, type InputName, type RawInputs } from '../inputs.js';
import type { Files } from '../io.js';
import { COMMAND_INPUTS, ConfigError, masked, type ConfigIssue } from './config.js';
import { quoteWords } from './words.js';

/** Where a value came from, from the strongest to the weakest. */
export type SourceKind = 'flag' | 'input' | 'env' | 'environment' | 'file' | 'default';

export interface Source {
  kind: SourceKind;
  /** As the user would look for it: `flag --ports`, `env BLUEGREEN_PORTS`, `bluegreen.yml (environments.prod)`. */
  label: string;
}

/** The inputs once every layer is laid over the others, with where each value came from. */
export interface Layered {
  /** The values given somewhere (an input missing here takes its default). */
  raw: RawInputs;
  sources: Partial<Record<InputName, Source>>;
  /** The config file read, as given or found (absolute). */
  file?: string;
  environment?: string;
}

export interface SourceOptions {
  /** CLI flags or action inputs. */
  given: RawInputs;
  givenAs: 'flag' | 'input';
  env: Partial<Record<string, string>>;
  cwd: string;
  files: Files;
}

/** Looked for in the working directory when no config file is named. */
export const DEFAULT_FILES = ['bluegreen.yml', 'bluegreen.yaml'];
export const ENV_PREFIX = 'BLUEGREEN_';
/** Set by the tool itself on the commands it runs (compose, hooks); not inputs. */
const RESERVED_ENV = new Set<string>(TOOL_ENV);
/** Chosen outside the file: the command by the caller, the file and the overlay before the file is read. */
const NOT_IN_FILE: Partial<Record<InputName, string>> = {
  command: "the command is the CLI's first argument or the action's command input",
  config: 'the file cannot name another file: use the config input, --config or BLUEGREEN_CONFIG',
  environment: 'choose the overlay with the environment input, --environment or BLUEGREEN_ENVIRONMENT',
};
const LIST_INPUTS = new Set<InputName>(['compose-files', 'colors', 'ports', 'nginx-container', 'health-status']);
const NAMES = INPUTS.map((i) => i.name);
const FILE_KEYS: string[] = NAMES.filter((n) => NOT_IN_FILE[n] === undefined);

export function envName(input: InputName): string {
  return ENV_PREFIX + input.toUpperCase().replace(/-/g, '_');
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        (row[j] ?? 0) + 1,
        (next[j - 1] ?? 0) + 1,
        (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

export function closest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const ranked = known.map((k) => ({ k, d: distance(lower, k.toLowerCase()) })).sort((x, y) => x.d - y.d);
  const best = ranked[0];
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.k : undefined;
}

function didYouMean(name: string, known: readonly string[]): string {
  const near = closest(name, known);
  return near ? `; did you mean "${near}"?` : `; known: ${known.join(', ')}`;
}

/** How a file names itself in messages: relative to where the tool runs when it is below it. */
function fileLabel(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/**
 * A YAML value as the string an action input would hold. The file is read with YAML's failsafe schema, so every
 * scalar is the text as written (1.10 stays 1.10, 0123 stays 0123); lists are joined by commas, health-headers
 * become `Name: value` lines, nginx-targets YAML again (its own parser checks its entries).
 */
function asInputText(name: InputName, value: unknown): string | { problem: string } {
  if (typeof value === 'string') return value;
  if (name === 'nginx-targets') return Array.isArray(value) ? stringify(value) : { problem: 'a YAML list of proxies' };
  if (name === 'hosts') return Array.isArray(value) ? stringify(value) : { problem: 'a YAML list of hosts' };
  if (name === 'health-headers') {
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join('\n');
    if (isPlainMap(value) && Object.values(value).every((v) => typeof v === 'string')) {
      return Object.entries(value)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join('\n');
    }
    return { problem: 'a map of header: value, or a list of "Name: value" lines' };
  }
  if (COMMAND_INPUTS.has(name)) {
    // Each item is one word, exactly: quoted so that splitting the text gives the list back.
    if (Array.isArray(value) && value.length && value.every((v) => typeof v === 'string')) return quoteWords(value);
    return { problem: 'a command line, or a list of its words' };
  }
  if (Array.isArray(value)) {
    if (!LIST_INPUTS.has(name)) return { problem: 'one value, not a list' };
    return value.every((v) => typeof v === 'string') ? value.join(',') : { problem: 'a list of plain values' };
  }
  return { problem: LIST_INPUTS.has(name) ? 'a value or a list of values, not a map' : 'one value, not a map' };
}

/** Keys that YAML anchors live under, as in Compose files: `x-defaults: &defaults`. */
const EXTENSION = /^x-/;

/** Reads one map of the file (its top level or one environment), refusing what is not an input. */
function readKeys(
  map: Record<string, unknown>,
  prefix: string,
  label: string,
  issues: ConfigIssue[],
  allowEnvironments: boolean,
): RawInputs {
  const values: RawInputs = {};
  for (const [key, value] of Object.entries(map)) {
    const at = prefix + key;
    if ((key === 'environments' && allowEnvironments) || EXTENSION.test(key)) continue;
    if (Object.hasOwn(NOT_IN_FILE, key)) {
      issues.push({ input: at, source: label, message: `not a key of the file: ${NOT_IN_FILE[key as InputName]}` });
      continue;
    }
    if (!FILE_KEYS.includes(key)) {
      const known = allowEnvironments ? [...FILE_KEYS, 'environments'] : FILE_KEYS;
      issues.push({ input: at, source: label, message: `unknown key${didYouMean(key, known)}` });
      continue;
    }
    const name = key as InputName;
    const text = asInputText(name, value);
    if (typeof text !== 'string') {
      issues.push({ input: at, value: shown(value), source: label, message: text.problem });
      continue;
    }
    values[name] = text;
  }
  return values;
}

function shown(value: unknown): string {
  // Quotes inside would be escaped again when the message quotes the value.
  return typeof value === 'string' ? value : (JSON.stringify(value)?.replace(/"/g, '') ?? String(value));
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface FileLayers {
  top: RawInputs;
  overlay?: RawInputs;
}

/** Reads the file and picks the environment; every problem is collected, none thrown half-way. */
async function readFileLayers(
  file: string,
  label: string,
  environment: { name: string; source: string } | undefined,
  files: Files,
  issues: ConfigIssue[],
): Promise<FileLayers> {
  const doc = parseDocument((await files.read(file)) ?? '', {
    schema: 'failsafe',
    merge: true,
    uniqueKeys: true,
    prettyErrors: true,
  });
  if (doc.errors.length) {
    const first = doc.errors[0];
    issues.push({
      input: 'config',
      value: label,
      message: `not valid YAML: ${first?.message.split('\n')[0]?.replace(/:\s*$/, '')}`,
    });
    return { top: {} };
  }
  const data: unknown = doc.toJS() ?? {};
  if (!isPlainMap(data)) {
    issues.push({ input: 'config', value: label, message: 'the file must be a map of input names to values' });
    return { top: {} };
  }
  const top = readKeys(data, '', label, issues, true);
  const environments = data.environments ?? {};
  if (!isPlainMap(environments)) {
    issues.push({
      input: 'environments',
      value: shown(environments),
      source: label,
      message: 'a map of environment names, each a map of input names to values',
    });
    return { top };
  }
  // Every environment is checked, not only the chosen one: a typo in staging is found by a production deploy.
  const overlays = new Map<string, RawInputs>();
  for (const [name, entries] of Object.entries(environments)) {
    if (!isPlainMap(entries)) {
      issues.push({
        input: `environments.${name}`,
        value: shown(entries),
        source: label,
        message: 'a map of input names to values',
      });
      continue;
    }
    overlays.set(name, readKeys(entries, `environments.${name}.`, label, issues, false));
  }
  if (environment === undefined) return { top };
  const names = Object.keys(environments);
  if (!names.includes(environment.name)) {
    issues.push({
      input: 'environment',
      value: environment.name,
      source: environment.source,
      message: `${label} has ${names.length ? `the environments ${names.join(', ')}` : 'no environments'}`,
    });
  }
  return { top, overlay: overlays.get(environment.name) };
}

/** BLUEGREEN_<INPUT> variables; an unknown BLUEGREEN_ variable is refused, as a typo would otherwise be ignored. */
function readEnv(env: Partial<Record<string, string>>, issues: ConfigIssue[]): RawInputs {
  const values: RawInputs = {};
  const known = NAMES.filter((n) => n !== 'command').map(envName);
  for (const [key, value] of Object.entries(env)) {
    const upper = key.toUpperCase();
    if (!upper.startsWith(ENV_PREFIX) || RESERVED_ENV.has(upper)) continue;
    const name = NAMES.find((n) => n !== 'command' && envName(n) === upper);
    if (name === undefined) {
      const message =
        upper === envName('command')
          ? `not read from the environment: ${NOT_IN_FILE.command}`
          : `unknown variable${didYouMean(upper, known)}`;
      issues.push({ input: key, source: 'the environment', message });
      continue;
    }
    if (key !== upper) {
      issues.push({ input: key, source: 'the environment', message: `write it in upper case: ${upper}` });
      continue;
    }
    // An empty variable is one that a job left unset (Windows cannot even hold one), except compose-files.
    if (isGiven(name, value)) values[name] = value;
  }
  return values;
}

/**
 * Lays the sources over each other: flags or action inputs, then BLUEGREEN_ variables, then the file's chosen
 * environment, then the file, then the defaults. Throws ConfigError listing every problem, naming each key and
 * where it came from; nothing has been touched then.
 */
export async function resolveInputs(options: SourceOptions): Promise<Layered> {
  const { givenAs, cwd, files } = options;
  const issues: ConfigIssue[] = [];
  const flags: RawInputs = {};
  for (const [name, value] of Object.entries(options.given)) if (isGiven(name, value)) flags[name] = value;
  const env = readEnv(options.env, issues);
  const origin = (name: InputName) => (givenAs === 'flag' ? `flag --${name}` : `input ${name}`);
  /** The value of an input read before the file (which cannot set it), and where it came from. */
  const before = (name: InputName) =>
    flags[name] !== undefined
      ? { value: flags[name], source: origin(name) }
      : env[name] !== undefined
        ? { value: env[name], source: `env ${envName(name)}` }
        : undefined;

  const named = before('config');
  const directory = path.resolve(cwd, before('working-directory')?.value ?? '.');
  let file: string | undefined;
  if (named !== undefined) {
    file = path.resolve(cwd, named.value);
    const kind = await files.kind(file);
    if (kind !== 'file') {
      issues.push({
        input: 'config',
        value: named.value,
        source: named.source,
        message: kind === 'directory' ? `${file} is a directory; name the file` : `no such file: ${file}`,
      });
    }
  } else {
    const found: string[] = [];
    for (const name of DEFAULT_FILES) {
      if ((await files.kind(path.join(directory, name))) === 'file') found.push(path.join(directory, name));
    }
    if (found.length > 1) {
      issues.push({ input: 'config', message: `both ${found.join(' and ')} exist; keep one, or name one with config` });
    }
    file = found[0];
  }
  const environment = before('environment');
  const label = file ? fileLabel(file, cwd) : '';
  let layers: FileLayers = { top: {} };
  if (file && !issues.some((i) => i.input === 'config')) {
    layers = await readFileLayers(
      file,
      label,
      environment && { name: environment.value, source: environment.source },
      files,
      issues,
    );
  } else if (!file && environment !== undefined) {
    issues.push({
      input: 'environment',
      value: environment.value,
      source: environment.source,
      message: `there is no config file to take it from (no ${DEFAULT_FILES.join(' or ')} in ${directory})`,
    });
  }
  if (issues.length) throw new ConfigError(issues);

  const raw: RawInputs = {};
  const sources: Partial<Record<InputName, Source>> = {};
  for (const name of NAMES) {
    const overlaid = isGiven(name, layers.overlay?.[name]);
    const fromFile = overlaid ? layers.overlay?.[name] : layers.top[name];
    if (isGiven(name, flags[name])) {
      raw[name] = flags[name];
      sources[name] = { kind: givenAs, label: origin(name) };
    } else if (env[name] !== undefined) {
      raw[name] = env[name];
      sources[name] = { kind: 'env', label: `env ${envName(name)}` };
    } else if (isGiven(name, fromFile)) {
      raw[name] = fromFile;
      sources[name] = overlaid
        ? { kind: 'environment', label: `${label}, environments.${environment?.value}` }
        : { kind: 'file', label };
    }
  }
  if (file) {
    // The file's paths are the file's: its working-directory is read from where the file is, and the file's
    // directory is the working directory when nothing names another.
    const fileDir = path.dirname(file);
    const wdSource = sources['working-directory'];
    if (wdSource === undefined && fileDir !== path.resolve(cwd)) {
      raw['working-directory'] = fileDir;
      sources['working-directory'] = { kind: 'file', label: `the directory of ${label}` };
    } else if ((wdSource?.kind === 'file' || wdSource?.kind === 'environment') && raw['working-directory']) {
      raw['working-directory'] = path.resolve(fileDir, raw['working-directory']);
    }
  }
  return { raw, sources, file, environment: environment?.value };
}

export interface ShownInput {
  name: InputName;
  value: string;
  source: string;
}

/**
 * The effective value of every input, and where it came from; what may hold a credential is masked. The command is the
 * caller's, and the file and the environment are shown on their own.
 */
export function effectiveInputs(layered: Layered): ShownInput[] {
  return NAMES.filter((n) => NOT_IN_FILE[n] === undefined).map((name) => {
    const value = masked(name, layered.raw[name] ?? defaultOf(name));
    return { name, value, source: layered.sources[name]?.label ?? 'default' };
  });
}

/** A table of effective inputs for a log: one line each, multi-line values on one line with \n. */
export function configTable(layered: Layered): string[] {
  const rows = effectiveInputs(layered).map((i) => ({
    ...i,
    value: i.value === '' ? '(empty)' : i.value.replace(/\n/g, '\\n'),
  }));
  const width = Math.max(...rows.map((r) => r.name.length));
  const valueWidth = Math.min(48, Math.max(...rows.map((r) => r.value.length)));
  return [
    `config file: ${layered.file ?? `none (no ${DEFAULT_FILES.join(' or ')} found)`}`,
    `environment: ${layered.environment ?? '(none)'}`,
    '',
    `${'input'.padEnd(width)}  ${'value'.padEnd(valueWidth)}  source`,
    ...rows.map((r) => `${r.name.padEnd(width)}  ${r.value.padEnd(valueWidth)}  ${r.source}`),
  ];
}
