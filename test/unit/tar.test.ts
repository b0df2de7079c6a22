import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { packFile, unpackFirstFile } from '../../src/docker/tar.js';

const BLOCK = 512;
const MTIME = 1_700_000_000;

/** A header block of the given type and size, with a valid checksum. */
function header(name: string, type: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'ascii');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  h.write(`${MTIME.toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);
}

/** A pax extended header record: "<len> key=value\n", the length counting itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return `${length}${rest}`;
}

const hasTar = spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout?.includes('GNU tar') ?? false;

const TEXTS: [string, string][] = [
  ['ASCII', 'upstream app {\n    server localhost:8001;\n}\n'],
  ['UTF-8', '# Grüße, 颜色 🟦\nset $service_url http://10.0.0.5:8001;\n'],
  ['exactly 512 bytes', 'x'.repeat(511) + '\n'],
  ['exactly 1024 bytes of UTF-8', 'é'.repeat(512)],
  ['513 bytes', 'y'.repeat(513)],
  ['empty', ''],
];

describe('packFile and unpackFirstFile', () => {
  it.each(TEXTS)('round-trip %s text', (_, text) => {
    const archive = packFile('service-url.inc', text, MTIME);
    expect(unpackFirstFile(archive)).toBe(text);
  });

  it.each(TEXTS)('make an archive of whole blocks (%s)', (_, text) => {
    const archive = packFile('service-url.inc', text, MTIME);
    const size = Buffer.byteLength(text);
    expect(archive.length % BLOCK).toBe(0);
    // Header, data padded to whole blocks, two zero blocks at the end.
    expect(archive.length).toBe(BLOCK + Math.ceil(size / BLOCK) * BLOCK + 2 * BLOCK);
    expect(Buffer.from(archive.subarray(archive.length - 2 * BLOCK)).every((b) => b === 0)).toBe(true);
  });

  it('writes the name, size, mode, mtime, type and a valid checksum', () => {
    const archive = Buffer.from(packFile('up.inc', 'abc', MTIME));
    const field = (at: number, len: number) =>
      archive
        .subarray(at, at + len)
        .toString('ascii')
        .replace(/\0.*$/s, '');
    expect(field(0, 100)).toBe('up.inc');
    expect(field(100, 8)).toBe('0000644');
    expect(parseInt(field(124, 12), 8)).toBe(3);
    expect(parseInt(field(136, 12), 8)).toBe(MTIME);
    expect(field(156, 1)).toBe('0');
    expect(field(257, 6)).toBe('ustar');
    const stored = parseInt(field(148, 8).trim(), 8);
    const copy = Buffer.from(archive.subarray(0, BLOCK));
    copy.fill(' ', 148, 156);
    expect(stored).toBe(copy.reduce((sum, b) => sum + b, 0));
  });

  it('floors a fractional mtime', () => {
    const archive = Buffer.from(packFile('a', 'b', 1234.9));
    expect(parseInt(archive.subarray(136, 147).toString('ascii'), 8)).toBe(1234);
  });

  it('refuses a name longer than 100 bytes', () => {
    expect(() => packFile('n'.repeat(101), 'x', MTIME)).toThrow(/too long/);
    expect(() => packFile('n'.repeat(100), 'x', MTIME)).not.toThrow();
  });

  it('unpackFirstFile skips a pax header record', () => {
    const pax = Buffer.from(paxRecord('path', 'etc/nginx/conf.d/service-url.inc') + paxRecord('mtime', '1700000000.5'));
    const content = Buffer.from('set $service_url http://10.0.0.5:8000;\n');
    const archive = Buffer.concat([
      header('PaxHeaders.0/service-url.inc', 'x', pax.length),
      padded(pax),
      header('service-url.inc', '0', content.length),
      padded(content),
      Buffer.alloc(2 * BLOCK),
    ]);
    expect(unpackFirstFile(archive)).toBe(content.toString());
  });

  it('unpackFirstFile skips a directory entry and takes a file with the old type NUL', () => {
    const content = Buffer.from('x'.repeat(600));
    const archive = Buffer.concat([
      header('conf.d/', '5', 0),
      header('conf.d/a.inc', '\0', content.length),
      padded(content),
      header('conf.d/b.inc', '0', 1),
      padded(Buffer.from('b')),
      Buffer.alloc(2 * BLOCK),
    ]);
    expect(unpackFirstFile(archive)).toBe(content.toString());
  });

  it('unpackFirstFile throws on an empty archive', () => {
    expect(() => unpackFirstFile(new Uint8Array(0))).toThrow(/no regular file/);
    expect(() => unpackFirstFile(new Uint8Array(2 * BLOCK))).toThrow(/no regular file/);
  });

  it('unpackFirstFile throws on an archive of a directory only', () => {
    expect(() => unpackFirstFile(Buffer.concat([header('d/', '5', 0), Buffer.alloc(2 * BLOCK)]))).toThrow(
      /no regular file/,
    );
  });

  it.runIf(hasTar).each(TEXTS)('GNU tar reads what packFile wrote (%s)', (_, text) => {
    const archive = packFile('service-url.inc', text, MTIME);
    const out = execFileSync('tar', ['-xO'], { input: archive });
    expect(out.toString('utf8')).toBe(text);
    const list = execFileSync('tar', ['-tv', '--utc'], { input: archive }).toString('utf8');
    expect(list).toMatch(/^-rw-r--r-- .* service-url\.inc\n$/);
    expect(list).toContain('2023-11-14 22:13');
  });

  it.runIf(hasTar)('unpackFirstFile reads what GNU tar wrote in pax format', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'bluegreen-tar-'));
    try {
      const text = '# Grüße\nupstream app { server localhost:8000; }\n';
      writeFileSync(path.join(dir, 'service-url.inc'), text);
      // A long attribute value forces a pax header record in front of the file.
      const archive = execFileSync('tar', [
        '--format=pax',
        '--pax-option=comment:=' + 'c'.repeat(200),
        '-C',
        dir,
        '-cf',
        '-',
        'service-url.inc',
      ]);
      expect(String.fromCharCode(archive[156] ?? 0)).toBe('x');
      expect(unpackFirstFile(archive)).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
