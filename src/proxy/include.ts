import type { ProxyTarget } from '../config/config.js';
import { nginxTokens } from './nginx-config.js';

const MARKER = '# bluegreen-action: color=';

/** The include for one color: a marker line (the live color is read back from it) and the template filled in. */
export function renderInclude(target: ProxyTarget, color: string, port: number): string {
  const values: Record<string, string> = { color, port: String(port), host: target.host };
  // ${name} is an Nginx variable, not a placeholder (the same rule as the config check).
  const body = target.template.replace(/(?<!\$)\{(color|port|host)\}/g, (_, name: string) => values[name] ?? '');
  return `${MARKER}${color} port=${port}\n${body.endsWith('\n') ? body : `${body}\n`}`;
}

/** What an include says: the color its content points at, and the color its marker line names. */
export interface IncludeReading {
  /** Decided by the content alone; undefined when the content points at no color, or at both. */
  color?: string;
  /** The marker this tool wrote, which a hand edit of the content may have left behind: shown, never trusted. */
  marker?: string;
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
