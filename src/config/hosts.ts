// `hosts`: the Docker engines one release goes to together, each with the inputs it sets for itself.
import { parse as parseYaml, stringify } from 'yaml';
import type { InputName, RawInputs } from '../inputs.js';

/** One engine of the fleet. */
export interface HostEntry {
  /** How logs and reports name it: `name:`, else the host of its URL, its socket path or its context. */
  name: string;
  /** DOCKER_HOST or DOCKER_CONTEXT, as docker/docker.ts pins them. */
  endpoint: { host?: string; context?: string };
  /** Its engine is reached over the network: a file on the runner's disk is not on its disk. */
  remote: boolean;
  /** The inputs this host sets for itself. */
  overrides: RawInputs;
  /** The machine's name or address in its URL: where the runner reaches its ports unless health-host says. */
  address?: string;
}

/** What a host's entry may set for itself: how the runner reaches it, and its proxies. */
const PROXY_KEYS = [
  'nginx-container',
  'nginx-targets',
  'upstream-file',
  'upstream-path',
  'upstream-template',
  'upstream-host',
] as const satisfies readonly InputName[];
const OVERRIDES = ['health-host', 'verify-url', ...PROXY_KEYS] as const satisfies readonly InputName[];
const ENTRY_KEYS = ['docker', 'name', ...OVERRIDES];
/** What a host's own proxy input replaces of the shared ones: the inputs that would contradict it. */
export const REPLACES: Readonly<Record<string, readonly string[]>> = {
  'nginx-targets': ['nginx-container', 'upstream-file', 'upstream-path'],
  'nginx-container': ['nginx-targets'],
  'upstream-file': ['upstream-path', 'nginx-targets'],
  'upstream-path': ['upstream-file', 'nginx-targets'],
};

const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?';
const NET_HOST = `(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9A-Fa-f:.]+\\])`;
const SSH = new RegExp(`^ssh://(?:[A-Za-z0-9._-]+@)?(${NET_HOST})(?::(\\d{1,5}))?$`);
const TCP = new RegExp(`^tcp://(${NET_HOST})(?::(\\d{1,5}))?$`);
const SOCKET = /^unix:\/\/(\/[^\s]+)$/;
const PIPE = /^npipe:\/\/(\/\/\S+)$/;
/** As the docker CLI allows context names. */
const CONTEXT = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** The entries of `hosts`: a YAML list (the config file's, or an input holding one), else a comma or line list. */
function itemsOf(text: string): unknown[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch {
    doc = undefined;
  }
  return Array.isArray(doc)
    ? doc
    : text
        .split(/[\n,]/)
        .map((x) => x.trim())
        .filter(Boolean);
}

interface Endpoint {
  endpoint: HostEntry['endpoint'];
  name: string;
  remote: boolean;
  /** The machine's name or address in its URL: where the runner reaches its published ports by default. */
  address?: string;
}

function endpointOf(docker: string): Endpoint | undefined {
  let m = SSH.exec(docker) ?? TCP.exec(docker);
  if (m?.[1]) {
    const port = m[2] === undefined ? undefined : Number(m[2]);
    if (port !== undefined && !(port >= 1 && port <= 65535)) return undefined;
    const name = docker.startsWith('tcp:') && m[2] ? `${m[1]}:${m[2]}` : m[1];
    return { endpoint: { host: docker }, name, remote: true, address: m[1] };
  }
  m = SOCKET.exec(docker) ?? PIPE.exec(docker);
  if (m?.[1]) return { endpoint: { host: docker }, name: m[1], remote: false };
  if (CONTEXT.test(docker)) return { endpoint: { context: docker }, name: docker, remote: true };
  return undefined;
}

/** An override's value as the input's text (a list in YAML, as the config file gives it). */
function overrideText(key: string, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (key === 'nginx-targets' && Array.isArray(value)) return stringify(value);
  if (key === 'nginx-container' && Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return value.join(',');
  }
  return undefined;
}

/** Reads `hosts` into entries; every problem is an issue of the input `hosts`. */
export function parseHosts(text: string): { hosts: HostEntry[]; issues: string[] } {
  const issues: string[] = [];
  const hosts: HostEntry[] = [];
  if (!text.trim()) return { hosts, issues };
  for (const [index, item] of itemsOf(text).entries()) {
    const at = `hosts[${index}]`;
    const map: Record<string, unknown> | undefined =
      typeof item === 'string'
        ? { docker: item }
        : typeof item === 'object' && item !== null && !Array.isArray(item)
          ? (item as Record<string, unknown>)
          : undefined;
    if (!map) {
      issues.push(`${at}: a Docker endpoint or context, or a map with docker: and what the host sets for itself`);
      continue;
    }
    const unknown = Object.keys(map).filter((k) => !ENTRY_KEYS.includes(k));
    if (unknown.length) {
      issues.push(`${at}: unknown key(s) ${unknown.join(', ')}; a host may set ${ENTRY_KEYS.join(', ')}`);
      continue;
    }
    const docker = typeof map.docker === 'string' ? map.docker.trim() : '';
    const found = endpointOf(docker);
    if (!found) {
      issues.push(
        `${at}: "${docker}" is not a Docker endpoint: ssh://[user@]host[:port], tcp://host[:port], ` +
          'unix:///path/to/docker.sock, npipe:////./pipe/name, or a docker context name',
      );
      continue;
    }
    const name = map.name === undefined ? found.name : typeof map.name === 'string' ? map.name : '';
    if (map.name !== undefined && !NAME.test(name)) {
      issues.push(`${at}: name "${name}" must be letters, digits, _ . : -, at most 64`);
      continue;
    }
    const overrides: RawInputs = {};
    for (const key of OVERRIDES) {
      if (map[key] === undefined) continue;
      const value = overrideText(key, map[key]);
      if (value === undefined)
        issues.push(`${at}.${key}: ${key === 'nginx-targets' ? 'a YAML list of proxies' : 'one value'}`);
      else overrides[key] = value;
    }
    hosts.push({ name, endpoint: found.endpoint, remote: found.remote, overrides, address: found.address });
  }
  for (const [i, h] of hosts.entries()) {
    if (hosts.findIndex((o) => o.name === h.name) !== i) issues.push(`two hosts are named ${h.name}: give each a name`);
    const same = hosts.findIndex((o) => JSON.stringify(o.endpoint) === JSON.stringify(h.endpoint));
    if (same !== i) issues.push(`${hosts[same]?.name} and ${h.name} are the same engine`);
  }
  return { hosts, issues };
}
