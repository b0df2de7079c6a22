import type { Result } from './engine/result.js';

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
  };
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
  if (result.proxies.length) {
    lines.push('', '| proxy | include | pointed at (before) | checked after the switch |', '|---|---|---|---|');
    for (const p of result.proxies) {
      lines.push(`| ${p.container} | \`${p.include}\` | ${p.color ?? '?'} | ${cell(p.verified ?? '—')} |`);
    }
  }
  if (result.verifyUrl) lines.push('', `verify-url: ${cell(result.verifyUrl)}`);
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

/** The closing lines of the human log; the action leaves the error out, as its failure annotation shows it. */
export function summaryText(result: Result, { withError = true } = {}): string {
  const o = outputsOf(result);
  const lines = [
    `Result: ${headline(result)}`,
    `  status=${o.status} color=${o.color || '-'} port=${o.port || '-'} previous=${o['previous-color'] || '-'} ` +
      `rolled-back=${o['rolled-back']} duration=${o.duration}s exit=${result.exitCode}`,
  ];
  if (result.phases.length) {
    lines.push(
      `  phases: ${result.phases.map((p) => `${p.name} ${(p.ms / 1000).toFixed(1)}s${p.ok ? '' : ' FAILED'}`).join(', ')}`,
    );
  }
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
