// Helpers shared by the scenario files (traffic-truth, first-deploy, overlapping proxies, cancel): a CLI run whose
// log lines are timed as they arrive, stacks laid out for one scenario, and checks that a proxy serves a color.
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { ensureTestImages } from '../../../scripts/images.mjs';
import { acceptingWorkerPids } from '../../../src/proxy/nginx.js';
import { CLI_BUNDLE } from './action.js';
import { COMPOSE } from './compose.js';
import { compose, docker, waitFor } from './docker.js';
import { get } from './http.js';
import type { LoadReport } from './load.js';
import { createProject, freePorts, type TempProject } from './project.js';
import { createSeedStack, createStack, type Stack } from './stack.js';

export type SeedStack = Awaited<ReturnType<typeof createSeedStack>>;

/** The action inputs as CLI flags. */
export function cliFlags(inputs: Record<string, string>): string[] {
  return Object.entries(inputs).flatMap(([k, v]) => [`--${k}`, v]);
}

export interface TimedLine {
  /** Epoch ms at which the line reached the test. */
  at: number;
  text: string;
}

export interface LiveCli {
  /** The stderr (human log) lines so far, each with its arrival time. */
  lines: TimedLine[];
  /** Resolves with the arrival time of the first line matching re (already seen or to come). */
  seen(re: RegExp, timeoutMs?: number): Promise<number>;
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  done: Promise<{ exitCode: number; stdout: string; stderr: string; exitedAt: number }>;
}

/**
 * Starts `node dist/cli/index.js <args>` (with the Compose of E2E_COMPOSE unless args name one) and times every
 * line of its log as it arrives, so that a test can say when a phase began.
 */
export function startCli(args: string[], cwd: string): LiveCli {
  const given = args.some((a) => a === '--compose-command' || a.startsWith('--compose-command='));
  const proc = execa(
    process.execPath,
    [CLI_BUNDLE, ...args, ...(given ? [] : ['--compose-command', COMPOSE.command])],
    {
      cwd,
      reject: false,
      timeout: 240_000,
    },
  );
  const lines: TimedLine[] = [];
  const waiters: { re: RegExp; resolve: (at: number) => void }[] = [];
  let partial = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    const at = Date.now();
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      lines.push({ at, text });
      for (const w of waiters.filter((x) => x.re.test(text))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(at);
      }
    }
  });
  const done = proc.then((r) => ({
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    exitedAt: Date.now(),
  }));
  return {
    lines,
    seen(re, timeoutMs = 120_000) {
      const line = lines.find((l) => re.test(l.text));
      if (line) return Promise.resolve(line.at);
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no log line matching ${re} within ${timeoutMs} ms:\n${lines.map((l) => l.text).join('\n')}`),
            ),
          timeoutMs,
        );
        const w = {
          re,
          resolve: (at: number) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
        waiters.push(w);
        // The process may end without ever printing it.
        void done.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            reject(
              new Error(`the CLI exited without a log line matching ${re}:\n${lines.map((l) => l.text).join('\n')}`),
            );
          }
        });
      });
    },
    kill(signal) {
      proc.kill(signal);
    },
    done,
  };
}

/** When each phase (`== name ==` group of the CLI log) began and ended (the next group, or the process's exit). */
export function phaseSpans(cli: { lines: TimedLine[] }, exitedAt: number): Map<string, { start: number; end: number }> {
  const spans = new Map<string, { start: number; end: number }>();
  const headers = cli.lines
    .map((l) => ({ at: l.at, name: /^== (\S+) ==$/.exec(l.text)?.[1] }))
    .filter((h): h is { at: number; name: string } => h.name !== undefined);
  headers.forEach((h, i) => spans.set(h.name, { start: h.at, end: headers[i + 1]?.at ?? exitedAt }));
  return spans;
}

/** Each log line after `since`, with its time since then: where the time of a step went. */
export function timeline(lines: TimedLine[], since: number): string {
  return lines
    .filter((l) => l.at >= since)
    .map((l) => `+${String(l.at - since).padStart(5)} ms  ${l.text}`)
    .join('\n');
}

/** Several fresh requests through a proxy all come from `color` (X-Color of the test app) with 200. */
export async function expectServes(url: string, color: string, times = 3): Promise<void> {
  for (let i = 0; i < times; i++) {
    const answer = await get(`${url}/`);
    expect(answer.status, `${url} answer ${i + 1}: ${answer.body}`).toBe(200);
    expect(answer.color, `${url} answer ${i + 1}`).toBe(color);
  }
}

/**
 * `nginx -s reload` by hand, as an operator does, then waits (as the tool does, from `docker top`) until none of
 * the workers from before still accepts connections: until then they answer with the old configuration.
 */
export async function reloadByHand(container: string): Promise<void> {
  const accepting = async () => acceptingWorkerPids((await docker(['top', container])).stdout);
  const before = await accepting();
  await docker(['exec', container, 'nginx', '-s', 'reload']);
  const replaced = async () => {
    const now = await accepting();
    return now.length > 0 && now.every((pid) => !before.includes(pid));
  };
  await waitFor(replaced, 15_000, { description: `the workers of ${container} to be replaced after its reload` });
}

export async function containerState(
  name: string,
): Promise<{ id: string; running: boolean; restarting: boolean; restarts: number } | undefined> {
  const r = await docker(
    ['container', 'inspect', '--format', '{{.Id}} {{.State.Running}} {{.State.Restarting}} {{.RestartCount}}', name],
    {
      reject: false,
    },
  );
  if (r.exitCode !== 0) return undefined;
  const [id = '', running, restarting, restarts] = r.stdout.trim().split(' ');
  return { id, running: running === 'true', restarting: restarting === 'true', restarts: Number(restarts) };
}

export function describeLoad(label: string, r: LoadReport): string {
  const colors = Object.entries(r.byColor)
    .map(([c, s]) => `${c}=${s.count}`)
    .join(' ');
  return (
    `${label}: ${r.sent} requests in ${(r.durationMs / 1000).toFixed(1)} s (${Math.round(r.responsesPerSec)}/s), ` +
    `${r.responses} answered, statuses ${JSON.stringify(r.byStatus)}, connection errors ${r.connErrors}, ` +
    `timeouts ${r.timeouts}, dropped ${r.dropped}; by color: ${colors}`
  );
}

/**
 * The seed layout as a repository commits it before its first deploy: nginx/service-url.inc names blue's
 * container (no marker line, no placeholder) and nothing runs. `proxyRestart` gives ts-proxy a restart policy
 * (then, started by hand, it crash-loops: its upstream host does not exist yet).
 */
export async function createCommittedSeedStack(options: { proxyRestart?: string } = {}): Promise<SeedStack> {
  const stack = await createSeedStack();
  const include = `upstream app {\n    server ${stack.name}-dev-blue:${stack.ports.blue};\n}\n`;
  await fs.writeFile(path.join(stack.dir, 'nginx/service-url.inc'), include);
  if (options.proxyRestart) {
    const file = path.join(stack.dir, 'docker-compose.yml');
    const text = await fs.readFile(file, 'utf8');
    const anchor = `    container_name: ${stack.name}-proxy\n`;
    if (!text.includes(anchor)) throw new Error(`no ${anchor.trim()} in ${file}`);
    await fs.writeFile(file, text.replace(anchor, `${anchor}    restart: ${options.proxyRestart}\n`));
  }
  return stack;
}

/** The seed's inputs with ts-proxy as the only proxy (its mounted include), in place of nginx-targets. */
export function seedProxyOnlyInputs(stack: SeedStack): Record<string, string> {
  const { 'nginx-targets': _targets, ...rest } = stack.inputs;
  return {
    ...rest,
    'nginx-container': stack.proxyContainer,
    'upstream-file': 'nginx/service-url.inc',
    'upstream-template': `upstream app {\n    server ${stack.name}-dev-{color}:{port};\n}\n`,
  };
}

export interface NamedAppStack extends Stack {
  /** The network compose created for the stack (its proxy and colors are on it). */
  network: string;
  /** The container name of a color's app: reachable by that name from any container on the stack's network. */
  appContainer(color: 'blue' | 'green'): string;
}

/**
 * createStack() whose color services have container names (<project>-app-<color>), so that a proxy attached to the
 * networks of several stacks can name one app without ambiguity (both stacks have a service app-blue).
 */
export async function createNamedAppStack(): Promise<NamedAppStack> {
  const stack = await createStack();
  for (const color of ['blue', 'green'] as const) {
    const file = path.join(stack.dir, `docker-compose.${color}.yml`);
    const text = await fs.readFile(file, 'utf8');
    const anchor = `  app-${color}:\n`;
    if (!text.includes(anchor)) throw new Error(`no service app-${color} in ${file}`);
    await fs.writeFile(file, text.replace(anchor, `${anchor}    container_name: ${stack.name}-app-${color}\n`));
  }
  return Object.assign(stack, {
    network: `${stack.name}_default`,
    appContainer: (color: 'blue' | 'green') => `${stack.name}-app-${color}`,
  });
}

export interface SharedEdge extends TempProject {
  container: string;
  /** The include directory on the host, mounted as the edge's conf.d. */
  confDir: string;
  /** URL of each app's server block (one published port each). */
  urls: string[];
  /** The include file (relative to confDir's parent, the project dir) and upstream name of each app. */
  includes: { file: string; upstream: string }[];
}

/**
 * One Nginx in front of several app stacks: one include and one server block per app, each on its own published
 * port, attached to every stack's network. Its includes start as placeholders.
 */
export async function createSharedEdge(apps: { network: string }[]): Promise<SharedEdge> {
  const images = await ensureTestImages();
  const ports = await freePorts(apps.length);
  const includes = apps.map((_, i) => ({ file: `conf/app${i}.inc`, upstream: `edge_app${i}` }));
  const placeholder = (upstream: string) => `upstream ${upstream} {\n    server 127.0.0.1:9;\n}\n`;
  const conf = [
    ...includes.map((inc) => `include /etc/nginx/conf.d/${path.posix.basename(inc.file)};`),
    ...includes.map(
      (inc, i) => `server {
    listen ${8080 + i};
    location / {
        proxy_pass http://${inc.upstream};
        add_header X-Bluegreen-Upstream $upstream_addr always;
    }
}`,
    ),
  ].join('\n');
  const project = await createProject(({ name }) => ({
    'compose.yaml': `services:
  edge:
    image: ${images.nginx}
    container_name: ${name}-edge
    ports: [${ports.map((p, i) => `"127.0.0.1:${p}:${8080 + i}"`).join(', ')}]
    volumes: ["./conf:/etc/nginx/conf.d"]
    networks: [${apps.map((_, i) => `app${i}`).join(', ')}]
networks:
${apps.map((a, i) => `  app${i}:\n    external: true\n    name: ${a.network}`).join('\n')}
`,
    'conf/edge.conf': `${conf}\n`,
    ...Object.fromEntries(includes.map((inc) => [inc.file, placeholder(inc.upstream)])),
  }));
  await compose(project.dir, ['up', '-d'], { projectName: project.name, files: ['compose.yaml'] });
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  for (const url of urls) {
    await waitFor(async () => (await get(`${url}/`).catch(() => ({ status: 0 }))).status >= 500, 30_000, {
      description: `the shared edge at ${url} (502 while it points at the placeholder)`,
    });
  }
  return { ...project, container: `${project.name}-edge`, confDir: path.join(project.dir, 'conf'), urls, includes };
}
