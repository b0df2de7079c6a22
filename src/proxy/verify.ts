import type { HttpResponse } from '../io.js';
import { lastOf } from './access-log.js';
import type { ProxyState } from './proxy.js';

/**
 * The header the README asks Nginx to add (`add_header X-Bluegreen-Upstream $upstream_addr always;`): the address
 * Nginx sent the request to, which tells the color without the app's help.
 */
export const UPSTREAM_HEADER = 'x-bluegreen-upstream';

/** Where the runner reaches a proxy: the host port its Nginx listen port is published on. */
export function proxyUrl(
  state: ProxyState | undefined,
  listen: number[],
  healthHost: string,
  healthPath: string,
): string | undefined {
  if (!state) return undefined;
  const port = listen.find((p) => state.published.has(p));
  const binding = port === undefined ? undefined : state.published.get(port);
  if (!binding) return undefined;
  // A wildcard binding is reached the way the colors are; a specific address is used as it is.
  const host = ['', '0.0.0.0', '::'].includes(binding.hostIp) ? healthHost : hostForUrl(binding.hostIp);
  return `http://${host}:${binding.hostPort}${healthPath}`;
}

function hostForUrl(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** What is known of a color: its published port, and its containers' addresses and own ports. */
export interface ColorAddresses {
  color: string;
  port: number;
  addresses: string[];
  containerPorts: number[];
}

/** Which color answered, and how that was told; color undefined when nothing in the answer tells. */
export interface Attribution {
  color?: string;
  how?: string;
}

/**
 * Tells which color answered a request through a proxy: from a header naming the color (color-header, e.g. an
 * X-Color the app sends), else from X-Bluegreen-Upstream, the upstream address Nginx used, compared with each
 * color's container addresses and published port.
 */
export function attribute(response: HttpResponse, colorHeader: string, colors: ColorAddresses[]): Attribution {
  if (colorHeader) {
    const value = response.headers[colorHeader.toLowerCase()];
    if (value === undefined) return { how: `no ${colorHeader} header in the answer` };
    const named = colors.find((c) => c.color === value.trim().toLowerCase());
    return named ? { color: named.color, how: colorHeader } : { how: `${colorHeader}: ${value.trim()} names no color` };
  }
  const upstream = response.headers[UPSTREAM_HEADER];
  if (upstream === undefined) return {};
  const told = colorOfUpstream(upstream, colors);
  return 'address' in told
    ? { color: told.color, how: `X-Bluegreen-Upstream ${told.address}` }
    : { how: `X-Bluegreen-Upstream ${told.problem}` };
}

/**
 * The color of an upstream address as Nginx's $upstream_addr shows it, compared with each color's container
 * addresses and published port. After retries Nginx lists every address it tried ("a, b : c"): the last answered.
 */
export function colorOfUpstream(
  upstream: string,
  colors: ColorAddresses[],
): { color: string; address: string } | { problem: string } {
  const last = lastOf(upstream);
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(last);
  if (!m) return { problem: `${upstream} is not an address` };
  const [ip = '', port = ''] = [m[1], m[2]];
  // A container address is certain. A published port tells only for an upstream reached through the host's ports,
  // and only when no container of either color listens on that port itself (then it is some other container).
  const byAddress = colors.filter((c) => c.addresses.includes(ip));
  const containerPort = colors.some((c) => c.containerPorts.includes(Number(port)));
  const matches = byAddress.length || containerPort ? byAddress : colors.filter((c) => String(c.port) === port);
  const [only] = matches;
  return matches.length === 1 && only
    ? { color: only.color, address: last }
    : { problem: `${last} is not an address of ${matches.length ? 'one color' : 'either color'}` };
}
