// Minimal HTTP GET on node:http: fetch() silently drops a custom Host header,
// which tests need to address Nginx server blocks.
import http from 'node:http';

export interface HttpResponse {
  status: number;
  body: string;
  /** X-Color header of the test app, if the response came from it. */
  color: string | undefined;
  headers: http.IncomingHttpHeaders;
}

export interface GetOptions {
  headers?: Record<string, string>;
  /** Whole-request timeout (default 5 s). */
  timeoutMs?: number;
}

/** One GET on its own TCP connection (no agent, so no keep-alive reuse). */
export function get(url: string, opts: GetOptions = {}): Promise<HttpResponse> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const color = res.headers['x-color'];
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          color: Array.isArray(color) ? color[0] : color,
          headers: res.headers,
        });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
