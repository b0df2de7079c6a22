/**
 * A single-file tar, as `docker cp` reads from and writes to a pipe: it moves an include file into and out of a
 * proxy container without a temporary file on the runner and without needing `cat` or a shell in the image.
 */
const BLOCK = 512;

export function packFile(name: string, content: string, mtimeSeconds: number): Uint8Array {
  const data = Buffer.from(content, 'utf8');
  const header = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`file name too long for tar: ${name}`);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 8, 'ascii');
  header.write('0000000\0', 108, 8, 'ascii');
  header.write('0000000\0', 116, 8, 'ascii');
  header.write(octal(data.length, 12), 124, 12, 'ascii');
  header.write(octal(Math.floor(mtimeSeconds), 12), 136, 12, 'ascii');
  header.write('        ', 148, 8, 'ascii');
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  const padding = Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, data, padding, Buffer.alloc(BLOCK * 2)]);
}

/** The content of the first regular file in a tar stream (pax and GNU long-name records are skipped). */
export function unpackFirstFile(archive: Uint8Array): string {
  const bytes = Buffer.from(archive);
  for (let offset = 0; offset + BLOCK <= bytes.length;) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const start = offset + BLOCK;
    if (type === '0' || type === '\0') return bytes.subarray(start, start + size).toString('utf8');
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new Error('the tar stream holds no regular file');
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}
