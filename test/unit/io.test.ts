// The real side-effect implementations, on this machine (no Docker needed).
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFiles, nodeHttp, systemClock } from '../../src/io.js';
import { createExecaRunner, ensureOk } from '../../src/runner.js';

describe('nodeHttp', () => {
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/hang') return;
      if (req.url === '/drip') {
        const drip = setInterval(() => res.write('.'), 100);
        res.on('close', () => clearInterval(drip));
        return;
      }
      if (req.url === '/big') {
        res.end('x'.repeat(200_000));
        return;
      }
      res.statusCode = req.url === '/teapot' ? 418 : 200;
      res.end(`host=${req.headers.host} x=${req.headers['x-probe'] ?? ''}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('a cancel ends a request under way at once, and one not yet sent never goes', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const hanging = nodeHttp.get(`${base}/hang`, { headers: {}, timeoutMs: 30_000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('SIGTERM')), 50);
    await expect(hanging).rejects.toThrow(/cancelled/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(
      nodeHttp.get(`${base}/`, { headers: {}, timeoutMs: 2_000, signal: controller.signal }),
    ).rejects.toThrow(/cancelled/);
  });

  it('sends a custom Host header as given (fetch would replace it)', async () => {
    const r = await nodeHttp.get(`${base}/`, {
      headers: { Host: 'api.example.com', 'X-Probe': '1' },
      timeoutMs: 2_000,
    });
    expect(r).toMatchObject({ status: 200, body: 'host=api.example.com x=1' });
    expect(r.headers['content-length']).toBe('24');
  });

  it('resolves any status, caps the body, and rejects on a timeout or a refused connection', async () => {
    expect((await nodeHttp.get(`${base}/teapot`, { headers: {}, timeoutMs: 2_000 })).status).toBe(418);
    expect((await nodeHttp.get(`${base}/big`, { headers: {}, timeoutMs: 2_000 })).body.length).toBeLessThan(200_000);
    await expect(nodeHttp.get(`${base}/hang`, { headers: {}, timeoutMs: 200 })).rejects.toThrow(
      /no answer within 200 ms/,
    );
    // A server that keeps sending a byte now and then still meets the deadline.
    const started = Date.now();
    await expect(nodeHttp.get(`${base}/drip`, { headers: {}, timeoutMs: 500 })).rejects.toThrow(
      /no answer within 500 ms/,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(nodeHttp.get('http://127.0.0.1:9/', { headers: {}, timeoutMs: 1_000 })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('rejects a URL that Node refuses, and nothing fires after its deadline (the timer is never left behind)', async () => {
    for (const url of ['http://proxy:99999/', 'http://256.0.0.1/']) {
      await expect(nodeHttp.get(url, { headers: {}, timeoutMs: 50 })).rejects.toThrow(/invalid/i);
    }
    // Before the fix, the timer fired here and threw in a callback: vitest fails the run on that uncaught error.
    await new Promise((resolve) => setTimeout(resolve, 150));
  });
});

describe('nodeFiles', () => {
  it('rewrites a file in place, keeping its inode (what a single-file bind mount sees)', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-files-')), 'service-url.inc');
    writeFileSync(file, 'upstream app { server app-blue:8000; }\n');
    const inode = statSync(file).ino;
    await nodeFiles.write(file, 'upstream app { server app-green:8000; }\n');
    expect(statSync(file).ino).toBe(inode);
    expect(await nodeFiles.read(file)).toBe('upstream app { server app-green:8000; }\n');
  });

  it('reads a missing file as null and tells files from directories', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-files-'));
    expect(await nodeFiles.read(path.join(dir, 'none'))).toBeNull();
    expect(await nodeFiles.kind(dir)).toBe('directory');
    expect(await nodeFiles.kind(path.join(dir, 'none'))).toBe('missing');
  });
});

describe('createExecaRunner', () => {
  const runner = createExecaRunner();
  const node = process.execPath;

  it('returns output and exit code without throwing, and ensureOk names what failed', async () => {
    const r = await runner.run(node, ['-e', 'console.log("out"); console.error("err"); process.exit(3)'], {
      timeoutMs: 10_000,
    });
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    expect(() => ensureOk(r, 'the probe')).toThrow(/the probe failed \(exit code 3\): .*node -e[\s\S]*err/);
  });

  it('kills a command at its timeout', async () => {
    const started = Date.now();
    const r = await runner.run(node, ['-e', 'setTimeout(() => {}, 30000)'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(() => ensureOk(r, 'sleeping')).toThrow(/sleeping failed \(timed out\)/);
  });

  it('reports a missing binary as a failure with the reason', async () => {
    const r = await runner.run('no-such-binary-bluegreen', ['x'], { timeoutMs: 5_000 });
    expect(r.exitCode).toBe(-1);
    expect(r.stderr).toMatch(/ENOENT/);
  });

  it('feeds stdin, keeps binary output byte for byte with latin1, and streams lines as they come', async () => {
    const echo = await runner.run(node, ['-e', 'process.stdin.pipe(process.stdout)'], {
      timeoutMs: 10_000,
      input: 'in',
    });
    expect(echo.stdout).toBe('in');
    const bytes = await runner.run(node, ['-e', 'process.stdout.write(Buffer.from([0, 200, 255, 10]))'], {
      timeoutMs: 10_000,
      encoding: 'latin1',
    });
    expect([...Buffer.from(bytes.stdout, 'latin1')]).toEqual([0, 200, 255, 10]);
    const lines: string[] = [];
    await runner.run(node, ['-e', 'console.log("a"); console.error("b"); process.stdout.write("c")'], {
      timeoutMs: 10_000,
      onLine: (l) => lines.push(l),
    });
    expect(lines.sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('systemClock', () => {
  it('a cancel ends a sleep at once; an aborted signal does not sleep at all', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const sleeping = systemClock.sleep(30_000, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await sleeping;
    await systemClock.sleep(30_000, controller.signal);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
