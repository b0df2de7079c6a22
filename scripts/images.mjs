// Builds the two local images the e2e tests, the demo and the benchmark run.
// There is no registry to pull from, so both are FROM scratch and assembled
// from binaries installed on this machine (nginx-light, busybox-static, node)
// plus the shared libraries `ldd` reports for them.
//
//   node scripts/images.mjs   -> builds what is missing/outdated, prints names
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const NGINX_IMAGE = 'bluegreen-test-nginx:local';
export const APP_IMAGE = 'bluegreen-test-app:local';
export const CONTENT_HASH_LABEL = 'bluegreen.content-hash';

const APP_SERVER = fileURLToPath(new URL('../test/fixtures/app/server.mjs', import.meta.url));
const BUSYBOX_APPLETS = [
  'sh',
  'cat',
  'wget',
  'sleep',
  'ls',
  'echo',
  'printf',
  'env',
  'ps',
  'kill',
  'grep',
  'test',
  'mkdir',
  'rm',
  'cp',
  'mv',
  'head',
  'tail',
  'nslookup',
];

const NGINX_CONF = `# Minimal config of the bluegreen test proxy. "daemon off" comes from the
# CMD so that \`nginx -t\` / \`nginx -s reload\` via docker exec work unchanged.
error_log /dev/stderr;
pid /run/nginx.pid;

events {}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    include /etc/nginx/conf.d/*.conf;
}
`;

// nginx runs its workers as nobody:nogroup (its compiled-in default).
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';
// glibc >= 2.34 has the files/dns NSS modules built in, so this file is all a
// scratch image needs for getaddrinfo to use /etc/hosts and Docker's DNS
// (/etc/hosts and /etc/resolv.conf are mounted by Docker).
const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\n';

const NGINX_DOCKERFILE = `FROM scratch
COPY rootfs/ /
EXPOSE 80
# Like the official nginx image: SIGQUIT = graceful shutdown.
STOPSIGNAL SIGQUIT
CMD ["/usr/sbin/nginx", "-g", "daemon off;"]
`;

// No \`wget -T\`: Debian's busybox 1.35 segfaults with it; HEALTHCHECK --timeout bounds the check.
const APP_DOCKERFILE = `FROM scratch
COPY rootfs/ /
EXPOSE 8000
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null "http://127.0.0.1:\${PORT:-8000}\${HEALTH_PATH:-/health}" || exit 1
CMD ["/usr/bin/node", "/app/server.mjs"]
`;

/**
 * Builds bluegreen-test-nginx:local and bluegreen-test-app:local unless an
 * image with the same content hash (label bluegreen.content-hash) exists.
 * @param {{ log?: (message: string) => void }} [options]
 * @returns {Promise<{ nginx: string, app: string }>}
 */
export async function ensureTestImages({ log = () => {} } = {}) {
  const [nginxSpec, appSpec] = await Promise.all([nginxImageSpec(), appImageSpec()]);
  // Sequential builds: two parallel context uploads only slow each other down.
  await ensureImage(nginxSpec, log);
  await ensureImage(appSpec, log);
  return { nginx: nginxSpec.name, app: appSpec.name };
}

/**
 * An image is described as a Dockerfile plus rootfs entries:
 *   { type: 'file', dest, src, mode } | { type: 'text', dest, content, mode }
 *   { type: 'symlink', dest, target } | { type: 'dir', dest, mode }
 */
async function nginxImageSpec() {
  const nginxDirs = await compiledNginxDirs();
  return {
    name: NGINX_IMAGE,
    dockerfile: NGINX_DOCKERFILE,
    entries: [
      ...(await binaryWithLibs('/usr/sbin/nginx')),
      ...busybox(),
      text('/etc/nginx/nginx.conf', NGINX_CONF),
      await copy('/etc/nginx/mime.types'),
      dir('/etc/nginx/conf.d'),
      text('/etc/passwd', PASSWD),
      text('/etc/group', GROUP),
      text('/etc/nsswitch.conf', NSSWITCH),
      ...nginxDirs.map((d) => dir(d)),
      dir('/var/log/nginx'),
      dir('/run'),
      dir('/tmp', 0o1777),
    ],
  };
}

async function appImageSpec() {
  return {
    name: APP_IMAGE,
    dockerfile: APP_DOCKERFILE,
    entries: [
      ...(await binaryWithLibs('/usr/bin/node')),
      ...busybox(),
      { ...(await copy(APP_SERVER)), dest: '/app/server.mjs' },
      text('/etc/nsswitch.conf', NSSWITCH),
      dir('/tmp', 0o1777),
    ],
  };
}

/** The *-temp-path (and lock file) directories Debian's nginx was compiled with (nginx -V). */
async function compiledNginxDirs() {
  const { stderr } = await execFileAsync('/usr/sbin/nginx', ['-V'], { timeout: 10_000 });
  const dirs = [...stderr.matchAll(/--http-[a-z]+-temp-path=(\S+)/g)].map((m) => m[1]);
  if (dirs.length === 0) throw new Error('nginx -V reported no temp paths');
  // The lock file lives here (--lock-path); create its directory as well.
  const lock = /--lock-path=(\S+)/.exec(stderr);
  if (lock) dirs.push(path.posix.dirname(lock[1]));
  return dirs;
}

/** The binary and every shared library `ldd` resolves, at the paths ldd prints. */
async function binaryWithLibs(binary) {
  const { stdout } = await execFileAsync('ldd', [binary], { timeout: 10_000 });
  const libs = [];
  for (const line of stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m) libs.push(m[1]);
    else if (line.includes('not found')) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return Promise.all([binary, ...libs].map((p) => copy(p)));
}

function busybox() {
  return [
    { type: 'file', dest: '/bin/busybox', src: '/bin/busybox', mode: 0o755 },
    ...BUSYBOX_APPLETS.map((applet) => ({ type: 'symlink', dest: `/bin/${applet}`, target: 'busybox' })),
  ];
}

/** Copies a host file (following symlinks) to the same path in the image. */
async function copy(src) {
  const stat = await fs.stat(src);
  return { type: 'file', dest: src, src, mode: stat.mode & 0o7777 };
}

function text(dest, content, mode = 0o644) {
  return { type: 'text', dest, content, mode };
}

function dir(dest, mode = 0o755) {
  return { type: 'dir', dest, mode };
}

/** sha256 over the Dockerfile, every entry's metadata and every file's bytes. */
async function contentHash(spec) {
  const hash = createHash('sha256');
  hash.update(spec.dockerfile);
  for (const entry of [...spec.entries].sort((a, b) => a.dest.localeCompare(b.dest))) {
    const { src: _src, ...meta } = entry; // the host path is irrelevant, the bytes are not
    hash.update(JSON.stringify(meta));
    if (entry.type === 'file') {
      for await (const chunk of createReadStream(entry.src)) hash.update(chunk);
    }
  }
  return hash.digest('hex');
}

async function ensureImage(spec, log) {
  const hash = await contentHash(spec);
  const existing = await inspectImage(spec.name);
  if (existing?.hash === hash) {
    log(`${spec.name} is up to date (${hash.slice(0, 12)})`);
    return;
  }
  log(`building ${spec.name} (${hash.slice(0, 12)})...`);
  const started = Date.now();
  const context = await fs.mkdtemp(path.join(os.tmpdir(), 'bluegreen-image-'));
  try {
    await writeContext(context, spec);
    await execFileAsync(
      'docker',
      ['build', '--quiet', '--force-rm', '--tag', spec.name, '--label', `${CONTENT_HASH_LABEL}=${hash}`, context],
      // The docker 28 client needs buildx for BuildKit; there is none, so use the classic builder.
      { timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
    );
  } finally {
    await fs.rm(context, { recursive: true, force: true });
  }
  // The previous build lost its tag; drop it unless a container still uses it.
  if (existing) await execFileAsync('docker', ['image', 'rm', existing.id], { timeout: 60_000 }).catch(() => {});
  log(`built ${spec.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function inspectImage(name) {
  try {
    const { stdout } = await execFileAsync(
      'docker',
      ['image', 'inspect', '--format', `{{.Id}} {{index .Config.Labels "${CONTENT_HASH_LABEL}"}}`, name],
      { timeout: 30_000 },
    );
    const [id, hash] = stdout.trim().split(' ');
    return { id, hash };
  } catch {
    return undefined; // no such image
  }
}

async function writeContext(context, spec) {
  await fs.writeFile(path.join(context, 'Dockerfile'), spec.dockerfile);
  const rootfs = path.join(context, 'rootfs');
  for (const entry of spec.entries) {
    const dest = path.join(rootfs, entry.dest);
    await fs.mkdir(entry.type === 'dir' ? dest : path.dirname(dest), { recursive: true });
    switch (entry.type) {
      case 'file':
        await fs.copyFile(entry.src, dest);
        break;
      case 'text':
        await fs.writeFile(dest, entry.content);
        break;
      case 'symlink':
        await fs.symlink(entry.target, dest);
        break;
      // 'dir': created by the mkdir above
    }
    // The build context's permissions become the image's (umask would drop the sticky bit).
    if (entry.type !== 'symlink') await fs.chmod(dest, entry.mode);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = await ensureTestImages({ log: (message) => console.error(message) });
  console.log(`${names.nginx}\n${names.app}`);
}
