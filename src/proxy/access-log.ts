/**
 * Nginx's access log as `docker logs --timestamps` shows it: Docker's receive time, then the line Nginx wrote when
 * the request ended. Two formats are read: Nginx's default `combined`, and `combined` followed by the fields the
 * README recommends (`upstream="$upstream_addr" upstream_status="$upstream_status" request_time=$request_time`),
 * which tell the color that answered, every upstream tried before it, and how long the request took.
 */

export type LogFormat = 'combined' | 'bluegreen';

/** One upstream tried for a request: its address, and the status it gave (none when it could not be asked). */
export interface Attempt {
  address: string;
  status?: number;
}

export interface AccessRecord {
  /** When Docker received the line, in ms since the epoch. */
  at: number;
  status: number;
  format: LogFormat;
  /** $http_user_agent ("-" when none was sent). */
  agent: string;
  /**
   * Each upstream tried, in order (the last one answered): a color that refused or timed out before another
   * answered shows here only. Empty when the proxy answered itself, or in the combined format.
   */
  attempts: Attempt[];
  /** $request_time, in ms. */
  requestMs?: number;
  /** The proxy answered 5xx, or the upstream that answered did (a 5xx the proxy replaced with a page of its own). */
  failed: boolean;
}

// Docker's stamp, in UTC (Z) or with an offset (some logging drivers and older engines).
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d) /;
// The combined format: $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
// "$http_referer" "$http_user_agent". Nginx escapes a quote inside a value (\x22), so a quoted field has none.
const COMBINED = /^\S+ - \S+ \[[^\]]+\] "[^"]*" (\d{3}) (?:\d+|-) "[^"]*" "([^"]*)"(.*)$/;
const FIELD = /(\w+)=("[^"]*"|\S*)/g;

/**
 * One line of `docker logs --timestamps`: the request it logs, or undefined for any other line (the error log, a
 * line cut short, another format).
 */
export function parseLogLine(line: string): AccessRecord | undefined {
  const stamp = TIMESTAMP.exec(line);
  if (!stamp) return undefined;
  const [prefix, seconds = '', fraction = '', zone = ''] = stamp;
  return parseLine(line.slice(prefix.length), Date.parse(`${seconds}${fraction.slice(0, 4)}${zone}`));
}

/** One access-log line without Docker's stamp; undefined when it is none. */
export function parseLine(text: string, at: number): AccessRecord | undefined {
  const m = COMBINED.exec(text.trimEnd());
  if (!m) return undefined;
  const [, status = '', agent = '', rest = ''] = m;
  const fields = new Map<string, string>();
  for (const f of rest.matchAll(FIELD)) fields.set(f[1] ?? '', (f[2] ?? '').replace(/^"|"$/g, ''));
  const code = Number(status);
  const record: AccessRecord = { at, status: code, format: 'combined', agent, attempts: [], failed: code >= 500 };
  const upstream = fields.get('upstream');
  if (upstream === undefined) return record;
  record.format = 'bluegreen';
  // After retries: "a:1, b:1" and "502, 200" (" : " between the upstream groups of an internal redirect).
  const addresses = listOf(upstream).filter((a) => a !== '-');
  const statuses = listOf(fields.get('upstream_status') ?? '');
  record.attempts = addresses.map((address, i) => {
    const s = Number(
      addresses.length === statuses.length ? statuses[i] : i === addresses.length - 1 ? statuses.at(-1) : NaN,
    );
    return Number.isInteger(s) && s >= 100 ? { address, status: s } : { address };
  });
  record.failed ||= (record.attempts.at(-1)?.status ?? 0) >= 500;
  const seconds = Number(fields.get('request_time') ?? NaN);
  if (Number.isFinite(seconds)) record.requestMs = Math.round(seconds * 1000);
  return record;
}

/** The values Nginx lists after retries ("a, b : c"), in order. */
export function listOf(list: string): string[] {
  return list
    .split(/\s*[,:]\s+/)
    .map((v) => v.trim())
    .filter(Boolean);
}

/** The last of them: the one that answered. */
export function lastOf(list: string): string {
  return listOf(list).at(-1) ?? '';
}
