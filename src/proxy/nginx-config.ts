/**
 * Just enough of an `nginx -T` dump to tell where a proxy serves what an include feeds: its `server` blocks, the
 * ports they listen on for plain HTTP, the files they include and the upstreams they pass requests to.
 */

interface ServerBlock {
  /** Plain-HTTP ports. */
  listens: number[];
  /** Whether it has any listen directive at all (one without listens on 80; one with TLS only has no HTTP port). */
  listensAtAll: boolean;
  includes: string[];
  passes: string[];
}

/** Splits `nginx -T` output into file path → content. */
export function dumpSections(dump: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (current !== undefined) sections.set(current, lines.join('\n'));
  };
  for (const line of dump.split('\n')) {
    const header = /^# configuration file (.+):$/.exec(line);
    if (header) {
      flush();
      current = header[1];
      lines = [];
    } else {
      lines.push(line);
    }
  }
  flush();
  return sections;
}

/**
 * Nginx's tokens of a text: quoted strings (quotes taken off), words, and the punctuation ; { }. A `#` where a token
 * would start begins a comment to the end of the line (`server a:1;#server b:2;` is one server), as Nginx reads it.
 */
export function nginxTokens(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|#[^\n]*|[{};]|[^\s{};"'#][^\s{};]*/g)) {
    if (m[0].startsWith('#')) continue;
    out.push(m[1] ?? m[2] ?? m[0]);
  }
  return out;
}

/** The server blocks of every file of a dump (those of `stream` and `mail` aside: they serve no HTTP). */
function serverBlocks(dump: string): ServerBlock[] {
  const servers: ServerBlock[] = [];
  for (const text of dumpSections(dump).values()) {
    const blocks: string[] = [];
    let words: string[] = [];
    let server: ServerBlock | undefined;
    let depth = 0;
    for (const token of nginxTokens(text)) {
      if (token === '{') {
        if (!server && words[0] === 'server' && !blocks.some((b) => b === 'stream' || b === 'mail')) {
          server = { listens: [], listensAtAll: false, includes: [], passes: [] };
          servers.push(server);
          depth = blocks.length + 1;
        }
        blocks.push(words[0] ?? '');
        words = [];
      } else if (token === '}') {
        if (server && blocks.length === depth) server = undefined;
        blocks.pop();
        words = [];
      } else if (token === ';') {
        if (server) record(server, words);
        words = [];
      } else {
        words.push(token);
      }
    }
  }
  return servers;
}

function record(server: ServerBlock, [name = '', first = '', ...rest]: string[]): void {
  if (name === 'listen') {
    server.listensAtAll = true;
    const port = /(?:^|:)(\d+)$/.exec(first)?.[1];
    const tls = rest.includes('ssl') || rest.includes('quic') || first.startsWith('unix:');
    if (port && !tls) server.listens.push(Number(port));
  } else if (name === 'include') {
    server.includes.push(first);
  } else if (/_pass$/.test(name)) {
    server.passes.push(first);
  }
}

/**
 * The ports Nginx listens on for plain HTTP in the server blocks that serve what an include feeds: those that
 * include the file, else those that pass requests to an upstream the include defines, else every server block.
 * `listen 80;`, `listen 0.0.0.0:8080 default_server;`, `listen [::]:80;` count; TLS listeners and Unix sockets do
 * not (a block that listens on TLS only has no port here). A server block without listen directives listens on 80.
 */
export function listenPorts(dump: string, includePath?: string, includeContent = ''): number[] {
  const servers = serverBlocks(dump);
  const upstreams = [...includeContent.matchAll(/(?:^|[\s;}])upstream\s+([^\s{]+)\s*\{/g)].map((m) => m[1]);
  const including = servers.filter((s) => includePath && s.includes.some((p) => includeMatches(p, includePath)));
  const passing = servers.filter((s) => s.passes.some((p) => upstreams.includes(upstreamName(p))));
  const chosen = including.length ? including : passing.length ? passing : servers;
  return [...new Set(chosen.flatMap((s) => (s.listensAtAll ? s.listens : [80])))];
}

/** `http://app/x` → app: the upstream a pass directive names (a variable names none). */
function upstreamName(target: string): string {
  return /^(?:[a-z]+:\/\/)?([^/$:]+)/.exec(target)?.[1] ?? '';
}

/** An include directive's pattern (globs, relative to /etc/nginx when not absolute) against a file's path. */
function includeMatches(pattern: string, file: string): boolean {
  const full = pattern.startsWith('/') ? pattern : `/etc/nginx/${pattern}`;
  const re = new RegExp(
    `^${full
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  return re.test(file);
}
