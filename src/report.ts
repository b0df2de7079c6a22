import type { ColorTraffic, HostResult, Result, TrafficView } from './engine/result.js';
import { describeSplit } from './engine/detect.js';
import { percent } from './engine/watch.js';

/** The outputs of the action, as strings, with the names action.yml declares. */
export function outputsOf(result: Result): Record<string, string> {
  return {
    color: result.color ?? '',
    port: result.port === undefined ? '' : String(result.port),
    'previous-color': result.previousColor ?? '',
    'previous-port': result.previousPort === undefined ? '' : String(result.previousPort),
    status: result.status,
    'rolled-back': String(result.rolledBack),
    duration: (result.durationMs / 1000).toFixed(1),
    'requests-observed': watched(result) ? String(result.traffic?.requests) : '',
    'error-rate': watched(result) ? (result.traffic?.errorRate?.toFixed(1) ?? '') : '',
  };
}

function watched(result: Result): boolean {
  return result.traffic !== undefined && !['skipped', 'not watched'].includes(result.traffic.verdict);
}

const ICON: Record<Result['status'], string> = {
  deployed: '✅',
  'rolled-back': '↩️',
  unchanged: 'ℹ️',
  planned: '📝',
  failed: '❌',
};

function headline(result: Result): string {
  const target = result.targetColor ? ` ${result.targetColor}` : '';
  switch (result.status) {
    case 'deployed':
      return `deployed${target} (port ${result.port})`;
    case 'rolled-back':
      return result.exitCode === 0
        ? `rolled back to${target}`
        : `${result.command} of${target} failed and was rolled back`;
    case 'unchanged':
      return `live color: ${result.color ?? 'none'}`;
    case 'planned':
      return `dry run of ${result.command}${target}: nothing changed`;
    case 'failed':
      return result.exitCode === 3 ? `${result.command} failed and could NOT be restored` : `${result.command} failed`;
  }
}

/** The job summary: result, colors, phases with timings, and on failure the reason and the log tail. */
export function summaryMarkdown(result: Result): string {
  const o = outputsOf(result);
  const lines = [
    `## ${ICON[result.status]} Blue-green: ${headline(result)}`,
    '',
    '| | |',
    '|---|---|',
    `| status | \`${o.status}\` (exit code ${result.exitCode}) |`,
    `| live color now | ${o.color || '—'}${o.port ? ` (port ${o.port})` : ''} |`,
    `| live color before | ${o['previous-color'] || '—'}${o['previous-port'] ? ` (port ${o['previous-port']})` : ''} |`,
    `| duration | ${o.duration} s |`,
  ];
  if (result.phases.length) {
    lines.push('', '| phase | time | result |', '|---|---:|---|');
    for (const p of result.phases)
      lines.push(`| ${p.name} | ${(p.ms / 1000).toFixed(1)} s | ${p.ok ? 'ok' : '**failed**'} |`);
  }
  if (result.hosts?.length) lines.push('', ...hostsMarkdown(result.hosts));
  if (result.proxies.length) {
    const onHosts = result.proxies.some((p) => p.host !== undefined);
    lines.push(
      '',
      `| ${onHosts ? 'host | ' : ''}proxy | include | pointed at (before) | checked after the switch |`,
      `|${onHosts ? '---|' : ''}---|---|---|---|`,
    );
    for (const p of result.proxies) {
      const pointed = p.split ? `split: ${describeSplit(p.split)}` : (p.color ?? '?');
      const host = onHosts ? `${p.host ?? ''} | ` : '';
      lines.push(`| ${host}${p.container} | \`${p.include}\` | ${pointed} | ${cell(p.verified ?? '—')} |`);
    }
  }
  if (result.verifyUrl) lines.push('', `verify-url: ${cell(result.verifyUrl)}`);
  if (result.drain) lines.push('', `Drain of ${result.previousColor ?? 'the old color'}: ${cell(result.drain.why)}.`);
  if (result.traffic) lines.push('', ...trafficMarkdown(result.traffic));
  if (result.hooks.length) {
    lines.push('', '| command | ran | time | result |', '|---|---|---:|---|');
    for (const h of result.hooks) {
      const outcome = h.ok
        ? 'ok'
        : `**${h.timedOut ? 'timed out' : h.exitCode === undefined ? 'did not finish' : `exit code ${h.exitCode}`}**`;
      lines.push(`| ${h.name} | \`${cell(h.command)}\` | ${(h.ms / 1000).toFixed(1)} s | ${outcome} |`);
    }
    for (const h of result.hooks.filter((x) => !x.ok && x.output)) {
      lines.push('', ...details(`Last output lines of ${h.name}`, h.output ?? ''));
    }
  }
  if (result.locks?.length) {
    lines.push('', '| deploy lock | held by | user | host | since |', '|---|---|---|---|---|');
    for (const l of result.locks) {
      lines.push(`| \`${l.key}\` | ${l.command} (pid ${l.pid}) | ${l.user} | ${l.host} | ${l.since} |`);
    }
  }
  const u = result.interrupted;
  if (u) {
    // status and dry runs leave an unfinished run as it is (only they tell whether it may be under way): they tell
    // what the proxies load now.
    const readOnly = u.underWay !== undefined;
    lines.push(
      '',
      u.underWay
        ? `### ⏳ A ${u.command} is under way, or ended without finishing`
        : `### ⚠️ An unfinished ${u.command} was found`,
      '',
      '| | |',
      '|---|---|',
      `| by | process ${u.pid} of user ${u.user} on host ${u.host}, started ${u.since} |`,
      `| it was at | \`${u.phase}\` (${u.from ?? 'nothing'} → ${u.to}), recorded ${u.at} |`,
      readOnly
        ? `| the proxies load now | ${u.serving ?? 'not known'} |`
        : `| serving once dealt with | ${u.serving ?? 'not known'} |`,
      `| child processes ended | ${u.orphans.join(', ') || 'none'} |`,
      `| done about it | ${cell(u.action)} |`,
    );
  }
  if (result.plan.length)
    lines.push('', '### Plan', '', ...result.plan.map((p, i) => `${i + 1}. ${codeIfMultiline(p)}`));
  if (result.error) lines.push('', '### What went wrong', '', fence(result.error));
  if (result.logTail) {
    lines.push('', ...details(`Last log lines of ${result.targetColor ?? 'the new color'}`, result.logTail));
  }
  return `${lines.join('\n')}\n`;
}

/** Each host's outcome, what it serves, its phases with their times, its drain and its traffic's verdict. */
function hostsMarkdown(hosts: HostResult[]): string[] {
  const lines = [
    '| host | engine | result | serving | phases | traffic after the switch |',
    '|---|---|---|---|---|---|',
  ];
  for (const h of hosts) {
    const result = `${ICON[h.status]} \`${h.status}\` (exit code ${h.exitCode})`;
    const traffic = h.traffic ? `${VERDICT_ICON[h.traffic.verdict]} ${cell(h.traffic.detail)}` : '—';
    lines.push(
      `| ${h.host} | ${cell(h.docker)} | ${result} | ${h.color ?? '—'} | ${cell(phasesText(h)) || '—'} | ${traffic} |`,
    );
  }
  return lines;
}

function phasesText(result: Result): string {
  return result.phases.map((p) => `${p.name} ${(p.ms / 1000).toFixed(1)}s${p.ok ? '' : ' FAILED'}`).join(', ');
}

const VERDICT_ICON: Record<TrafficView['verdict'], string> = {
  passed: '✅',
  failed: '❌',
  'too few requests': 'ℹ️',
  'not watched': '⚠️',
  skipped: 'ℹ️',
};

/** What the watch read of the real traffic: each step's figures per color, and each proxy's log. */
function trafficMarkdown(t: TrafficView): string[] {
  const lines = [`**Traffic after the switch** ${VERDICT_ICON[t.verdict]} ${t.verdict}: ${cell(t.detail)}`];
  if (t.verdict === 'skipped') return lines;
  const rows = t.steps.flatMap((step) =>
    Object.entries(step.colors)
      .filter(([color, f]) => color === t.color || f.requests > 0)
      .sort(([a]) => (a === t.color ? -1 : 1))
      .map(([color, f]) => {
        const who = color === t.color ? `${color} (new)` : color;
        const p95 = f.p95Ms === null ? '—' : `${f.p95Ms} ms`;
        return `| ${step.name} (${step.percent}%, ${(step.ms / 1000).toFixed(1)} s) | ${who} | ${f.requests} | ${f.errors} | ${percent(f.errorRate)} | ${p95} |`;
      }),
  );
  lines.push('', '| step | color | requests | failed | error rate | p95 |', '|---|---|---:|---:|---:|---:|', ...rows);
  if (t.steps.length > 1) lines.push('', ...trafficChart(t));
  lines.push('', '| proxy | access log |', '|---|---|');
  for (const p of t.proxies) lines.push(`| ${p.container} | ${p.watched ? '' : '**not watched**: '}${cell(p.note)} |`);
  return lines;
}

/** Requests (bars) and failed requests (line) of the new color per step: a Mermaid chart, drawn by GitHub. */
function trafficChart(t: TrafficView): string[] {
  const of = (f: (c: ColorTraffic) => number) => t.steps.map((s) => f(s.colors[t.color] ?? EMPTY)).join(', ');
  return [
    '```mermaid',
    'xychart-beta',
    `    title "${t.color}: requests (bars) and failed requests (line) per step"`,
    `    x-axis [${t.steps.map((s) => `"${s.name}"`).join(', ')}]`,
    '    y-axis "requests"',
    `    bar [${of((c) => c.requests)}]`,
    `    line [${of((c) => c.errors)}]`,
    '```',
  ];
}

const EMPTY: ColorTraffic = { requests: 0, errors: 0, errorRate: null, p95Ms: null };

/** The closing lines of the human log; the action leaves the error out, as its failure annotation shows it. */
export function summaryText(result: Result, { withError = true } = {}): string {
  const o = outputsOf(result);
  const lines = [
    `Result: ${headline(result)}`,
    `  status=${o.status} color=${o.color || '-'} port=${o.port || '-'} previous=${o['previous-color'] || '-'} ` +
      `rolled-back=${o['rolled-back']} duration=${o.duration}s exit=${result.exitCode}`,
  ];
  if (result.phases.length) lines.push(`  phases: ${phasesText(result)}`);
  for (const h of result.hosts ?? []) {
    lines.push(
      `  host ${h.host} (${h.docker}): ${h.status}, exit ${h.exitCode}, serving ${h.color ?? '-'}` +
        `${h.phases.length ? `; phases: ${phasesText(h)}` : ''}${h.drain ? `; drain: ${h.drain.why}` : ''}` +
        `${h.traffic ? `; traffic: ${h.traffic.verdict}` : ''}`,
    );
  }
  if (result.drain) lines.push(`  drain: ${result.drain.why}`);
  if (result.traffic) lines.push(`  traffic after the switch: ${result.traffic.verdict}: ${result.traffic.detail}`);
  const u = result.interrupted;
  if (u) lines.push(`  unfinished ${u.command} of ${u.to} (pid ${u.pid} on ${u.host}, at ${u.phase}): ${u.action}`);
  if (withError && result.error) lines.push('', result.error);
  return lines.join('\n');
}

/** Text inside a table cell: a pipe would end the cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A folded block: its summary line, and the text fenced. */
function details(summary: string, text: string): string[] {
  return [`<details><summary>${summary}</summary>`, '', fence(text), '', '</details>'];
}

function fence(text: string): string {
  return `\`\`\`\n${text.replace(/```/g, "'''")}\n\`\`\``;
}

function codeIfMultiline(text: string): string {
  const [first, ...rest] = text.split('\n');
  return rest.length ? `${first}\n\n   ${fence(rest.join('\n')).split('\n').join('\n   ')}` : `\`${text}\``;
}
