// Switches that need no reload of the proxy, tried by bench:reload on Nginx 1.22.1 (whose upstream servers cannot
// `resolve`: that parameter came with Nginx 1.27.3). Each has its own server block in the same proxy, beside the
// include-based one on port 80, so that the same Nginx and the same workers serve every variant:
//
//   dns   port 81: `resolver 127.0.0.11 valid=1s` and `proxy_pass http://$live:8000` with $live = app-live, a name
//         Docker's embedded DNS resolves on a network of its own (<project>-live). The switch moves that name from
//         one color to the other: `docker network connect --alias app-live` of the new color, then `docker network
//         disconnect` of the old one (a container's aliases on a network can only be changed by leaving it).
//         overlapMs between the two: 0 (move: no split, but the old address stays in each worker's cache for up
//         to `valid`), or more (overlap: both colors hold the name meanwhile, and Nginx spreads requests over both).
//   dnat  port 82: `proxy_pass http://192.0.2.10:8000`, an address that exists nowhere (TEST-NET-1), which a
//         netfilter rule in the proxy's network namespace rewrites to the live color's address (DNAT in nat/OUTPUT,
//         in a chain of its own). The switch replaces that one rule: new connections go to the new color, and the
//         connections already made keep their translation (conntrack), so the requests in flight finish on the old
//         color. The rule is set from the host with `nsenter -t <proxy pid> -n iptables ...` (root on the Docker
//         host; a helper container with NET_ADMIN sharing the proxy's network would do the same through the API).
import { run, runOk } from './proc.mjs';

export const DNS_PORT = 81;
export const DNAT_PORT = 82;
export const LIVE_ALIAS = 'app-live';
export const VIP = '192.0.2.10';
const APP_PORT = 8000;
const CHAIN = 'BLUEGREEN_LIVE';

const HEADERS = `        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        add_header X-Bluegreen-Upstream $upstream_addr always;`;

/**
 * The two server blocks, as files for the stack's nginx/ directory (conf.d), written before the proxy starts so
 * that no reload is needed to add them. Both log as the include-based server does (the `bluegreen` format that
 * default.conf defines), so that every variant costs the proxy the same per request.
 */
export function noReloadConfs() {
  return {
    'nginx/zz-live-dns.conf': `# bench:reload, switch without reload (1): a name that Docker's DNS resolves, moved between the colors.
server {
    listen ${DNS_PORT};
    access_log /dev/stdout bluegreen;
    # Docker's embedded DNS; each worker keeps an answer for valid=1s, then asks again at its next request.
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 2s;
    # An address that left the network does not refuse: it stays silent. Bounded, so that a request sent to it is
    # tried on the other address (if the answer had two) or fails within 1 s instead of 60.
    proxy_connect_timeout 1s;
    proxy_read_timeout 5s;
    location / {
        set $live ${LIVE_ALIAS};
        proxy_pass http://$live:${APP_PORT};
${HEADERS}
    }
}
`,
    'nginx/zz-live-dnat.conf': `# bench:reload, switch without reload (2): a fixed address that a netfilter rule in the proxy's network
# namespace translates to the live color's.
server {
    listen ${DNAT_PORT};
    access_log /dev/stdout bluegreen;
    location / {
        proxy_pass http://${VIP}:${APP_PORT};
${HEADERS}
    }
}
`,
  };
}

/** The container's address on the network, or throws. */
export async function addressOn(container, network) {
  const r = await runOk('docker', [
    'inspect',
    '--format',
    `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}}{{end}}`,
    container,
  ]);
  const ip = r.stdout.trim();
  if (!ip) throw new Error(`${container} has no address on ${network}`);
  return ip;
}

// ---- dns ----

export const liveNetwork = (stack) => `${stack.name}-live`;

/** Creates the network of the name, connects the proxy to it, and gives the name to `color`. */
export async function dnsSetup(stack, color) {
  const network = liveNetwork(stack);
  await runOk('docker', ['network', 'create', '--label', `bgbench.reload=${stack.name}`, network]);
  await runOk('docker', ['network', 'connect', network, stack.proxyContainer]);
  await runOk('docker', ['network', 'connect', '--alias', LIVE_ALIAS, network, stack.appContainer(color)]);
}

/**
 * Moves the name from `from` to `to`: connect `to` with the alias, wait overlapMs (both hold it meanwhile), then
 * disconnect `from`. Returns the times (epoch ms, proc.mjs's clock) each command ended.
 */
export async function dnsSwitch(stack, from, to, { overlapMs, sleep }) {
  const network = liveNetwork(stack);
  const connect = await runOk('docker', ['network', 'connect', '--alias', LIVE_ALIAS, network, stack.appContainer(to)]);
  if (overlapMs > 0) await sleep(overlapMs);
  const disconnect = await runOk('docker', ['network', 'disconnect', network, stack.appContainer(from)]);
  return { connectedAt: connect.endedAt, disconnectedAt: disconnect.endedAt };
}

/** Removes the network (its containers disconnected first); never throws. */
export async function dnsTeardown(stack) {
  const network = liveNetwork(stack);
  const opts = { duringAbort: true };
  const inspect = await run(
    'docker',
    ['network', 'inspect', '--format', '{{range .Containers}}{{.Name}} {{end}}', network],
    opts,
  );
  if (inspect.code !== 0) return;
  for (const name of inspect.stdout.split(/\s+/).filter(Boolean)) {
    await run('docker', ['network', 'disconnect', '--force', network, name], opts);
  }
  await run('docker', ['network', 'rm', network], opts);
}

// ---- dnat ----

/** Why the DNAT switch cannot run here (not root, no nsenter or iptables on the host), or undefined. */
export async function dnatUnavailable() {
  if (process.getuid?.() !== 0) return "it needs root on the Docker host (nsenter into the proxy's network namespace)";
  for (const tool of ['nsenter', 'iptables', 'ip']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) return `\`${tool}\` is missing on the host`;
  }
  return undefined;
}

/** A command in the proxy's network namespace. */
const inProxyNet = (pid, args) => runOk('nsenter', ['-t', pid, '-n', ...args]);

const dnatRule = (ip) => [
  '-d',
  `${VIP}/32`,
  '-p',
  'tcp',
  '--dport',
  String(APP_PORT),
  '-j',
  'DNAT',
  '--to-destination',
  `${ip}:${APP_PORT}`,
];

/**
 * In the proxy's network namespace: a chain of its own hooked first in nat/OUTPUT, one DNAT rule VIP → `color`,
 * and a route to the VIP through the interface of the stack's network (so that the connection's source address is
 * the one the colors can answer; without it the default route, which may be another network's, picks it).
 * Returns { pid, ips } for dnatSwitch.
 */
export async function dnatSetup(stack, color) {
  const pid = (await runOk('docker', ['inspect', '--format', '{{.State.Pid}}', stack.proxyContainer])).stdout.trim();
  const network = `${stack.name}-net`;
  const ips = {};
  for (const c of ['blue', 'green']) ips[c] = await addressOn(stack.appContainer(c), network);
  const route = await inProxyNet(pid, ['ip', '-o', 'route', 'get', ips[color]]);
  const dev = /\bdev (\S+)/.exec(route.stdout)?.[1];
  if (!dev) throw new Error(`no route from ${stack.proxyContainer} to ${ips[color]}: ${route.stdout}`);
  await inProxyNet(pid, ['iptables', '-w', '-t', 'nat', '-N', CHAIN]);
  await inProxyNet(pid, ['iptables', '-w', '-t', 'nat', '-I', 'OUTPUT', '1', '-j', CHAIN]);
  await inProxyNet(pid, ['iptables', '-w', '-t', 'nat', '-A', CHAIN, ...dnatRule(ips[color])]);
  await inProxyNet(pid, ['ip', 'route', 'add', `${VIP}/32`, 'dev', dev]);
  return { pid, ips };
}

/** Replaces the one rule: new connections to the VIP go to `to`. Returns the time the command ended. */
export async function dnatSwitch(dnat, to) {
  const r = await inProxyNet(dnat.pid, ['iptables', '-w', '-t', 'nat', '-R', CHAIN, '1', ...dnatRule(dnat.ips[to])]);
  return { switchedAt: r.endedAt };
}
