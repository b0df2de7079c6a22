import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

/** Time, injectable so that tests of a 60 s health deadline do not sleep. */
export interface Clock {
  now(): number;
  /** Resolves after ms, or at once when the signal aborts (a cancel ends every wait). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** A Docker engine's own clock, when it is another machine's (undefined: it could not be read). */
export interface EngineClock {
  now(): Promise<number | undefined>;
}

export interface HttpResponse {
  status: number;
  body: string;
  /** Response headers, names in lower case. */
  headers: Record<string, string>;
}

export interface Http {
  /** Rejects on a network error, when timeoutMs passes or when the signal aborts; any HTTP status resolves. */
  get(
    url: string,
    options: { headers: Record<string, string>; timeoutMs: number; signal?: AbortSignal },
  ): Promise<HttpResponse>;
}

const MAX_BODY = 64 * 1024;

/**
 * node:http rather than fetch: fetch silently replaces a custom Host header, and a health check often
 * needs the Host the app accepts (Django's ALLOWED_HOSTS). A fresh connection per probe, no keep-alive.
 */
export const nodeHttp: Http = {
  get(url, { headers, timeoutMs, signal }) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('cancelled'));
      const client = url.startsWith('https:') ? https : http;
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          if (onAbort) signal?.removeEventListener('abort', onAbort);
          fn(value);
        };
      const onResponse = (response: http.IncomingMessage) => {
        let body = '';
        const done = settle(resolve);
        const headers = Object.fromEntries(
          Object.entries(response.headers).map(([name, value]) => [
            name,
            Array.isArray(value) ? value.join(', ') : (value ?? ''),
          ]),
        );
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
          if (body.length >= MAX_BODY) {
            done({ status: response.statusCode ?? 0, body: body.slice(0, MAX_BODY), headers });
            response.destroy();
          }
        });
        response.on('end', () => done({ status: response.statusCode ?? 0, body, headers }));
        response.on('error', settle(reject));
      };
      let request: http.ClientRequest;
      try {
        request = client.get(url, { headers, agent: false }, onResponse);
      } catch (error) {
        // A URL that Node refuses (a bad port or IP address) throws here instead of emitting 'error'.
        reject(error);
        return;
      }
      request.on('error', settle(reject));
      // A deadline for the whole exchange: a socket timeout alone restarts with every byte a slow server sends.
      timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      onAbort = () => request.destroy(new Error('cancelled'));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

export interface Files {
  /** The file's text, or null when it does not exist. */
  read(path: string): Promise<string | null>;
  /** Rewrites the file in place, keeping its inode: a file bind-mounted on its own into a container
   *  keeps pointing at the old inode when replaced by rename, so the container would not see it. */
  write(path: string, content: string): Promise<void>;
  kind(path: string): Promise<'file' | 'directory' | 'missing'>;
}

export const nodeFiles: Files = {
  async read(path) {
    try {
      return await fs.readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  },
  async write(path, content) {
    // Windows reports EBUSY/EPERM while another process (an editor, Docker Desktop's file sharing) holds the file.
    for (let attempt = 1; ; attempt++) {
      try {
        await fs.writeFile(path, content, { encoding: 'utf8', flag: 'w' });
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (attempt >= 5 || (code !== 'EBUSY' && code !== 'EPERM')) throw error;
        await systemClock.sleep(100 * attempt);
      }
    }
  },
  async kind(path) {
    try {
      return (await fs.stat(path)).isDirectory() ? 'directory' : 'file';
    } catch {
      return 'missing';
    }
  },
};

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Runs fn inside a foldable section of the log. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * One host's log among several that run at once: each line names its host, and a group is a line of its own (the
 * hosts' sections would otherwise nest into each other).
 */
export function hostLogger(log: Logger, host: string): Logger {
  const named = (message: string) =>
    message
      .split('\n')
      .map((line) => `[${host}] ${line}`)
      .join('\n');
  return {
    info: (m) => log.info(named(m)),
    warn: (m) => log.warn(named(m)),
    error: (m) => log.error(named(m)),
    group: async (name, fn) => {
      log.info(named(`── ${name}`));
      return fn();
    },
  };
}
