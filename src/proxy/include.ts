import type { ProxyTarget } from '../config/config.js';
import { nginxTokens } from './nginx-config.js';

const MARKER = '# bluegreen-action: color=';

const SPLIT_MARKER = '# bluegreen-action: split ';

/** The include for one color: a marker line (the live color is read back from it) and the template filled in. */
export function renderInclude(target: ProxyTarget, color: string, port: number): string {
  return `${MARKER}${color} port=${port}\n${fill(target.template, target.host, color, port)}`;
}

function fill(template: string, host: string, color: string, port: number): string {
  const values: Record<string, string> = { color, port: String(port), host };
  // ${name} is an Nginx variable, not a placeholder (the same rule as the config check).
  const body = template.replace(/(?<!\$)\{(color|port|host)\}/g, (_, name: string) => values[name] ?? '');
  return body.endsWith('\n') ? body : `${body}\n`;
}

/** One color's part of a split: its port and its percent of the requests. */
export interface Share {
  color: string;
  port: number;
  percent: number;
}

/**
 * How a template can carry a split of the traffic, from what it renders to: an `upstream` block whose `server`
 * lines are given weights, or `set` directives (for `proxy_pass $var`) that a random share of requests sets to
 * the other color. Undefined: it can carry none (a canary is refused before anything changes).
 */
export function splitForm(template: string): 'upstream' | 'set' | undefined {
  const blue = fill(template, 'host', 'blue', 8000);
  const green = fill(template, 'host', 'green', 8001);
  if (upstreamsSplit(blue, green)) return 'upstream';
  // Only `set` may go inside the `if` that picks the share; a template of anything else cannot be split that way.
  const statements = nginxTokens(blue)
    .join(' ')
    .split(';')
    .map((st) => st.trim())
    .filter(Boolean);
  return statements.length && statements.every((st) => /^set \$\w+ \S/.test(st)) ? 'set' : undefined;
}

interface ServerLine {
  /** Where the line starts, after its indentation. */
  index: number;
  end: number;
  indent: string;
  /** Address and parameters. */
  args: string;
}

interface UpstreamBlock {
  start: number;
  end: number;
  servers: ServerLine[];
}

/** The `upstream name { ... }` blocks of a rendered template, with their `server` lines. */
function upstreamBlocks(text: string): UpstreamBlock[] {
  return [...text.matchAll(/\bupstream\s+[^\s{};]+\s*\{[^{}]*\}/g)].map((block) => {
    const servers = [...block[0].matchAll(/(?<=^|[{;])([ \t]*)server[ \t]+([^;#{}]+);/gm)].map((m) => {
      const index = block.index + m.index + (m[1] ?? '').length;
      return { index, end: block.index + m.index + m[0].length, indent: m[1] ?? '', args: (m[2] ?? '').trim() };
    });
    return { start: block.index, end: block.index + block[0].length, servers };
  });
}

/**
 * Both colors' renderings pair up block by block, every `server` line changes with the color (a server both colors
 * share would take part of either share), and nothing outside the blocks does: only then is a weighted split exact.
 */
function upstreamsSplit(a: string, b: string): [UpstreamBlock[], UpstreamBlock[]] | undefined {
  const [ba, bb] = [upstreamBlocks(a), upstreamBlocks(b)];
  if (!ba.length || ba.length !== bb.length) return undefined;
  const outside = (text: string, blocks: UpstreamBlock[]) =>
    nginxTokens(blocks.reduceRight((t, x) => t.slice(0, x.start) + t.slice(x.end), text)).join(' ');
  if (outside(a, ba) !== outside(b, bb)) return undefined;
  const paired = ba.every((x, i) => {
    const y = bb[i];
    return (
      x.servers.length && y?.servers.length && !x.servers.some((sa) => y.servers.some((sb) => sa.args === sb.args))
    );
  });
  return paired ? [ba, bb] : undefined;
}

/**
 * The include that splits the requests between two colors, with a marker line naming the split. The upstream form
 * weights each color's servers in each upstream block (Nginx's weighted round robin, per worker); the set form
 * sets the second color's values for the requests whose random $request_id falls in its share (to 1/256).
 */
export function renderSplit(target: ProxyTarget, from: Share, to: Share): string {
  const marker = `${SPLIT_MARKER}${from.color}=${from.percent} ${to.color}=${to.percent}\n`;
  const old = fill(target.template, target.host, from.color, from.port);
  const next = fill(target.template, target.host, to.color, to.port);
  const blocks = upstreamsSplit(old, next);
  if (blocks) {
    // The new color's servers are never taken out for failing (max_fails=0): Nginx would stop trying them for
    // fail_timeout after one refusal, and the step would see too few of their failures to judge it.
    const server = (line: ServerLine, weight: number, isNew = false) => {
      const own = isNew ? /\s*\b(weight|max_fails)=\d+/g : /\s*\bweight=\d+/g;
      return `server ${line.args.replace(own, '')} weight=${weight}${isNew ? ' max_fails=0' : ''};`;
    };
    let body = '';
    let at = 0;
    blocks[0].forEach((block, b) => {
      const olds = block.servers;
      const news = blocks[1][b]?.servers ?? [];
      // Each color's share spread over its servers: old servers weigh (100 - p) × n_new, new ones p × n_old.
      const [wOld, wNew] = reduce(from.percent * news.length, to.percent * olds.length);
      olds.forEach((line, i) => {
        body += old.slice(at, line.index) + server(line, wOld);
        if (i === olds.length - 1) {
          const ownLine = old[line.index - line.indent.length - 1] === '\n';
          const indent = ownLine ? `\n${line.indent}` : ' ';
          body += news.map((n) => `${indent}${server(n, wNew, true)}`).join('');
        }
        at = line.end;
      });
    });
    return `${marker}${body}${old.slice(at)}`;
  }
  const indented = next.trimEnd().replace(/^/gm, '    ');
  return `${marker}${old}if ($request_id ~ "^(?:${hexBelow(Math.round((to.percent * 256) / 100))})") {\n${indented}\n}\n`;
}

function reduce(a: number, b: number): [number, number] {
  const gcd = (x: number, y: number): number => (y ? gcd(y, x % y) : x);
  const g = gcd(a, b) || 1;
  return [a / g, b / g];
}

/** A regular expression for the two-digit hex numbers below n (1 to 255), e.g. n = 26: [01][0-9a-f]|1[0-9]. */
export function hexBelow(n: number): string {
  const hex = '0123456789abcdef';
  const k = Math.min(255, Math.max(1, n));
  const full = Math.floor(k / 16);
  const rest = k % 16;
  const parts: string[] = [];
  if (full) parts.push(`[${hex.slice(0, full)}][0-9a-f]`);
  if (rest) parts.push(`${hex[full]}[${hex.slice(0, rest)}]`);
  return parts.join('|');
}

/** What an include says: the color its content points at, and the color its marker line names. */
export interface IncludeReading {
  /** Decided by the content alone; undefined when the content points at no color, or at both. */
  color?: string;
  /** The marker this tool wrote, which a hand edit of the content may have left behind: shown, never trusted. */
  marker?: string;
  /**
   * A split written by a canary step: each color's percent, the color it split from first (its content names both
   * colors). `color` is then that first color.
   */
  split?: Record<string, number>;
}

/**
 * Which color an include points at, from its content as Nginx reads it: an include edited by hand in an emergency
 * (pointed back at blue) keeps the marker of the last deploy. Content points at a color when it holds every word of
 * that color's rendering and none of the words only the other color's rendering has (comments and spacing aside),
 * so an include written by hand before the first deploy (the seed's `server localhost:8000;`) is recognised too.
 * Failing that (another spelling of the host, a template changed since), when it names exactly one color's
 * distinguishing values: its `:port` or its color name as a word part.
 */
export function readInclude(
  content: string | null,
  target: ProxyTarget,
  colors: readonly string[],
  ports: readonly number[],
): IncludeReading {
  if (content === null) return {};
  const split = readSplit(content, target, colors, ports);
  // The color it split from: the one that keeps the requests should the canary go back, and the live one.
  if (split) return { color: Object.keys(split)[0], split };
  const found = new RegExp(`^${MARKER}([a-z0-9_-]+) `, 'm').exec(content)?.[1];
  const marker = found && colors.includes(found) ? found : undefined;
  const words = new Set(wordsOf(content));
  const rendered = colors.map((c, i) => new Set(wordsOf(renderInclude(target, c, ports[i] ?? 0))));
  const matching = colors.filter((_, i) => {
    const own = rendered[i] ?? new Set<string>();
    const others = rendered.filter((_, j) => j !== i).flatMap((r) => [...r].filter((w) => !own.has(w)));
    return [...own].every((w) => words.has(w)) && !others.some((w) => words.has(w));
  });
  if (matching.length === 1) return { color: matching[0], marker };
  const naming = colors.filter((color, i) => namesColor([...words], target.template, color, ports[i] ?? 0));
  return { color: naming.length === 1 ? naming[0] : undefined, marker };
}

/** The split of a canary step's include: its marker, when the content names both colors. */
function readSplit(
  content: string,
  target: ProxyTarget,
  colors: readonly string[],
  ports: readonly number[],
): Record<string, number> | undefined {
  const m = new RegExp(`^${SPLIT_MARKER}([a-z0-9_-]+)=(\\d+) ([a-z0-9_-]+)=(\\d+)$`, 'm').exec(content);
  if (!m || !colors.includes(m[1] ?? '') || !colors.includes(m[3] ?? '') || m[1] === m[3]) return undefined;
  const words = wordsOf(content);
  const both = colors.every((color, i) => namesColor(words, target.template, color, ports[i] ?? 0));
  return both ? { [m[1] ?? '']: Number(m[2]), [m[3] ?? '']: Number(m[4]) } : undefined;
}

/** Whether words name a color by what its template puts in: `:8001` (a host's port), or `green` as a word part. */
function namesColor(words: string[], template: string, color: string, port: number): boolean {
  const byPort = /(?<!\$)\{port\}/.test(template) && words.some((w) => new RegExp(`:${port}(/.*)?$`).test(w));
  const byName =
    /(?<!\$)\{color\}/.test(template) && words.some((w) => new RegExp(`(^|[^a-z0-9])${color}([^a-z0-9]|$)`).test(w));
  return byPort || byName;
}

/** The words of an include, as Nginx reads them (comments and punctuation aside). */
export function wordsOf(content: string): string[] {
  return nginxTokens(content).filter((t) => t !== ';' && t !== '{' && t !== '}');
}
