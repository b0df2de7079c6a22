// The part of autocannon@8 (which ships no types) that load.ts uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      /** Per-request timeout, seconds. */
      timeout?: number;
      headers?: Record<string, string>;
      /** Reconnect after this many requests on a connection. */
      reconnectRate?: number;
      /** Milliseconds between samples; stop() takes effect at the next one. */
      sampleInt?: number;
      setupClient?: (client: Client) => void;
    }

    /** Parser info passed with a client's 'headers' event. */
    interface ResponseHead {
      statusCode: number;
      /** Flat [name, value, name, value, ...] as received. */
      headers: string[];
    }

    /** One connection's request loop. */
    interface Client extends EventEmitter {
      /** The current socket; replaced on every reconnect. */
      conn: Socket;
      on(event: 'request' | 'timeout', listener: () => void): this;
      on(event: 'headers', listener: (head: ResponseHead) => void): this;
      on(event: 'connError', listener: (error: Error) => void): this;
    }

    interface Instance extends EventEmitter, PromiseLike<unknown> {
      stop(): void;
    }
  }

  function autocannon(options: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
