/**
 * Just enough of an `nginx -T` dump to tell where a proxy serves what an include feeds: its `server` blocks, the
 * ports they listen on for plain HTTP, the files they include and the upstreams they pass requests to.
 */

interface ServerBlock {
  listens: number[];
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

/** The words of each statement of a text (comments aside): what Nginx reads of it. */
function statements(code: string): string[][] {
  const out: string[][] = [];
  let words: string[] = [];
  for (const token of code.match(/"[^"]*"|'[^']*'|[{};]|[^\s{};]+/g) ?? []) {
    if (token === ';' || token === '{' || token === '}') {
      if (token === ';' && words.length) out.push(words);
      words = [];
    } else {
      words.push(token.replace(/^["']|["']$/g, ''));
    }
  }
  return out;
}

function serverBlocks(dump: string): ServerBlock[] {
  const servers: ServerBlock[] = [];
  for (const text of dumpSections(dump).values()) {
    for (const block of serverTexts(text)) {
      const server: ServerBlock = { listens: [], includes: [], passes: [] };
      for (const [name = '', first = '', ...rest] of statements(block)) {
        if (name === 'listen') {
          const port = /(?:^|:)(\d+)$/.exec(first)?.[1];
          const tls = rest.includes('ssl') || rest.includes('quic') || first.startsWith('unix:');
          if (port && !tls) server.listens.push(Number(port));
        } else if (name === 'include') {
          server.includes.push(first);
        } else if (/_pass$/.test(name)) {
          server.passes.push(first);
        }
      }
      servers.push(server);
    }
  }
  return servers;
}

/**
 * The ports Nginx listens on for plain HTTP in the server blocks that serve what an include feeds: those that
 * include the file, else those that pass requests to an upstream the include defines, else every server block.
 * `listen 80;`, `listen 0.0.0.0:8080 default_server;`, `listen [::]:80;` count; TLS listeners and Unix sockets do
 * not. A server block without listen directives listens on 80.
 */
export function listenPorts(dump: string, includePath?: string, includeContent = ''): number[] {
  const servers = serverBlocks(dump);
  const upstreams = [...includeContent.matchAll(/(?:^|[\s;}])upstream\s+([^\s{]+)\s*\{/g)].map((m) => m[1]);
  const including = servers.filter((s) => includePath && s.includes.some((p) => includeMatches(p, includePath)));
  const passing = servers.filter((s) => s.passes.some((p) => upstreams.includes(upstreamName(p))));
  const chosen = including.length ? including : passing.length ? passing : servers;
  return [...new Set(chosen.flatMap((s) => (s.listens.length ? s.listens : [80])))];
}

/** The text of each `server { ... }` block of a file, comments left out (braces counted). */
function serverTexts(text: string): string[] {
  const code = text
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, ''))
    .join('\n');
  const found: string[] = [];
  const re = /(^|[\s;{}])server\s*\{/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    let depth = 0;
    let end = m.index + m[0].length - 1;
    for (; end < code.length; end++) {
      if (code[end] === '{') depth++;
      else if (code[end] === '}' && --depth === 0) break;
    }
    found.push(code.slice(m.index + m[1].length, end + 1));
    re.lastIndex = end + 1;
  }
  return found;
}

/** `http://app/x` → app: the upstream a pass directive names (a variable names none). */
function upstreamName(target: string): string {
  return /^(?:[a-z]+:\/\/)?([^/$:]+)/.exec(target)?.[1] ?? '';
}

/** An include directive's pattern (globs, relative to /etc/nginx when not absolute) against a file's path. */
function includeMatches(pattern: string, file: string): boolean {
  const full = pattern.startsWith('/') ? pattern : `/etc/nginx/${pattern}`;
  const re = new RegExp(`^${full.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  return re.test(file);
}
