/**
 * Nginx's access log as `docker logs --timestamps` shows it: Docker's receive time, then the line Nginx wrote when
 * the request ended. Two formats are read: Nginx's default `combined`, and `combined` followed by the fields the
 * README recommends (`upstream="$upstream_addr" upstream_status="$upstream_status" request_time=$request_time`),
 * which tell the color that answered and how long it took.
 */

/** The User-Agent of the requests this tool sends through a proxy: they are not the users' traffic. */
export const OWN_AGENT = 'bluegreen-action';

export type LogFormat = 'combined' | 'bluegreen';

export interface AccessRecord {
  /** When Docker received the line, in ms since the epoch. */
  at: number;
  status: number;
  format: LogFormat;
  /** $upstream_addr as logged (after retries, every address tried); absent without the recommended format. */
  upstream?: string;
  /** The last upstream's status, when logged. */
  upstreamStatus?: number;
  /** $request_time, in ms. */
  requestMs?: number;
  /** Sent by this tool (its checks through the proxy). */
  own: boolean;
  /** The proxy answered 5xx, or the upstream that answered did (a 5xx the proxy replaced with a page of its own). */
  failed: boolean;
}

export interface AccessLogPage {
  records: AccessRecord[];
  /** Lines that are not access-log lines (the error log, a line cut short, another format). */
  otherLines: number;
  /** Docker's timestamp of the last line read, to read on from; undefined when no line came. */
  cursor?: string;
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z /;
// The combined format: $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
// "$http_referer" "$http_user_agent". Nginx escapes a quote inside a value (\x22), so a quoted field has none.
const COMBINED = /^\S+ - \S+ \[[^\]]+\] "[^"]*" (\d{3}) (?:\d+|-) "[^"]*" "([^"]*)"(.*)$/;
const FIELD = /(\w+)=("[^"]*"|\S*)/g;

/**
 * Reads the output of `docker logs --timestamps`. Lines at or before `after` (a cursor returned before) were read
 * already: `docker logs --since` includes the line at that very instant.
 */
export function parseAccessLog(output: string, after?: string): AccessLogPage {
  const page: AccessLogPage = { records: [], otherLines: 0 };
  for (const line of output.split('\n')) {
    const stamp = TIMESTAMP.exec(line);
    if (!stamp) {
      if (line.trim()) page.otherLines++;
      continue;
    }
    const [prefix, seconds = '', fraction = ''] = stamp;
    const cursor = `${seconds}${fraction.padEnd(10, '0')}Z`;
    if (after !== undefined && cursor <= after) continue;
    page.cursor = cursor;
    const record = parseLine(line.slice(prefix.length), Date.parse(`${seconds}${fraction.slice(0, 4)}Z`));
    if (record) page.records.push(record);
    else page.otherLines++;
  }
  return page;
}

/** One access-log line; undefined when it is none (an error-log line, a line cut short). */
export function parseLine(text: string, at: number): AccessRecord | undefined {
  const m = COMBINED.exec(text.trimEnd());
  if (!m) return undefined;
  const [, status = '', agent = '', rest = ''] = m;
  const fields = new Map<string, string>();
  for (const f of rest.matchAll(FIELD)) fields.set(f[1] ?? '', (f[2] ?? '').replace(/^"|"$/g, ''));
  const code = Number(status);
  const own = agent.startsWith(OWN_AGENT);
  const record: AccessRecord = { at, status: code, format: 'combined', own, failed: code >= 500 };
  const upstream = fields.get('upstream');
  if (upstream === undefined) return record;
  record.format = 'bluegreen';
  if (upstream !== '-' && upstream !== '') record.upstream = upstream;
  // After retries: "502, 200" (and " : " between upstream groups); the last one answered.
  const upstreamStatus = Number(lastOf(fields.get('upstream_status') ?? ''));
  if (Number.isInteger(upstreamStatus) && upstreamStatus >= 100) {
    record.upstreamStatus = upstreamStatus;
    record.failed ||= upstreamStatus >= 500;
  }
  const seconds = Number(fields.get('request_time') ?? NaN);
  if (Number.isFinite(seconds)) record.requestMs = Math.round(seconds * 1000);
  return record;
}

/** The last of the values Nginx lists after retries ("a, b : c"). */
export function lastOf(list: string): string {
  return (list.split(/\s*[,:]\s+/).pop() ?? '').trim();
}
