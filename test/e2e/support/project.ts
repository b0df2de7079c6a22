// Throw-away docker-compose projects in temp dirs, and free local ports.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { compose, docker } from './docker.js';

export interface TempProject {
  /** Temp directory holding the project's files. */
  dir: string;
  /** Unique compose project name (lowercase: compose v1 lowercases it anyway). */
  name: string;
  /** Tears down containers, networks, volumes and the directory; never throws. */
  cleanup(): Promise<void>;
}

/** Relative path -> file content. */
export type ProjectFiles = Record<string, string>;

/**
 * Writes the files into a fresh temp dir. `files` may be a function to let the
 * content depend on the project's name or directory.
 */
export async function createProject(
  files: ProjectFiles | ((project: { dir: string; name: string }) => ProjectFiles),
  opts: { prefix?: string } = {},
): Promise<TempProject> {
  const name = `${opts.prefix ?? 'bgtest'}-${randomBytes(4).toString('hex')}`;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${name}-`));
  const contents = typeof files === 'function' ? files({ dir, name }) : files;
  for (const [relative, content] of Object.entries(contents)) {
    const file = path.join(dir, relative);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
  let cleaning: Promise<void> | undefined;
  return { dir, name, cleanup: () => (cleaning ??= cleanupProject(dir, name)) };
}

async function cleanupProject(dir: string, name: string): Promise<void> {
  const ymls = (await fs.readdir(dir).catch(() => [])).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (ymls.length > 0) {
    await compose(dir, ['down', '-v', '--remove-orphans', '-t', '1'], {
      projectName: name,
      files: ymls,
      reject: false,
    }).catch(() => {});
  }
  // Whatever compose missed (broken yml, containers the engine created itself).
  const label = `label=com.docker.compose.project=${name}`;
  const leftovers: Array<[list: string[], remove: string[]]> = [
    [
      ['ps', '-aq', '--filter', label],
      ['rm', '-f', '-v'],
    ],
    [
      ['network', 'ls', '-q', '--filter', label],
      ['network', 'rm'],
    ],
    [
      ['volume', 'ls', '-q', '--filter', label],
      ['volume', 'rm', '-f'],
    ],
  ];
  for (const [list, remove] of leftovers) {
    const ids = await docker(list, { reject: false }).then(
      (r) => r.stdout.split(/\s+/).filter(Boolean),
      () => [],
    );
    if (ids.length > 0) await docker([...remove, ...ids], { reject: false }).catch(() => {});
  }
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
}

/**
 * Asks the OS for `count` distinct free TCP ports on 127.0.0.1 (all sockets
 * stay open until every port is known, so they differ). Another process may
 * still grab one before it is used.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}
