// The report formats what the engine produces: every Result here comes from running execute() (or main.ts's
// runCommand, for invalid inputs) on the fake Docker host, for one scenario each (see results.ts). A time that
// the fake clock fixes through the configuration (the drain, a health or verify deadline) is asserted exactly; the
// instants a phase takes on the fake host only by their format.
import os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../src/engine/result.js';
import { outputsOf, summaryMarkdown, summaryText } from '../../src/report.js';
import { STOP_BLUE, UP_GREEN } from './deploy-setup.js';
import {
  cleanupFailedResult,
  deployedResult,
  dryRunResult,
  firstDeployResult,
  firstDryRunResult,
  healthRolledBackResult,
  hooksRolledBackResult,
  invalidInputsResult,
  LOCK_HOLDER,
  lockRefusedResult,
  notVerifiedResult,
  recoveredResult,
  recoveryFailedResult,
  rollbackResult,
  sharedServiceResult,
  statusLockedResult,
  statusResult,
  statusUnderWayResult,
  TEST_NGINX_INCLUDE,
  twoProxiesResult,
  UNFINISHED,
  verifyRolledBackResult,
} from './results.js';

/** The include of the project's proxy, as the engine describes it. */
const PROXY_INCLUDE = '`/srv/app/nginx/service-url.inc (mounted in proxy)`';
/** A time the fake host does not fix (a few fake instants): only its format. */
const T = String.raw`\d+\.\d`;

/** The rows of the Markdown table whose header line is `header`, without the header and its rule. */
function table(md: string, header: string): string[] {
  const lines = md.split('\n');
  const at = lines.indexOf(header);
  if (at < 0) return [];
  const rows: string[] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line);
  }
  return rows;
}

const PHASES = '| phase | time | result |';
const PROXIES = '| proxy | include | pointed at (before) | checked after the switch |';
const LOCKS = '| deploy lock | held by | user | host | since |';

/** A phase row: `time` in seconds as shown (a string, exact; a RegExp, its pattern), else any time. */
function phaseRow(name: string, ok: boolean, time: string | RegExp = new RegExp(T)) {
  const shown = ok ? 'ok' : String.raw`\*\*failed\*\*`;
  const t = typeof time === 'string' ? time.replace('.', '\\.') : time.source;
  return expect.stringMatching(new RegExp(`^\\| ${name} \\| ${t} s \\| ${shown} \\|$`));
}

/** The text inside the fenced block of the section `### title`. */
function fenced(md: string, title: string): string | undefined {
  return new RegExp(`### ${title}\\n\\n\`\`\`\\n([\\s\\S]*?)\\n\`\`\`(?:\\n|$)`).exec(md)?.[1];
}

/** The fenced log tail in the details block, and the color its summary names. */
function logTail(md: string): { color?: string; text?: string } {
  const m = /<details><summary>Last log lines of (\S+)<\/summary>\n\n```\n([\s\S]*?)\n```\n\n<\/details>\n/.exec(md);
  return { color: m?.[1], text: m?.[2] };
}

/** The rows of the unfinished-deploy section, by their first cell. */
function unfinished(md: string): Record<string, string> {
  const section =
    md.split(
      /### (?:⚠️ An unfinished deploy was found|⏳ A deploy is under way, or ended without finishing)\n\n\| \| \|\n\|---\|---\|\n/,
    )[1] ?? '';
  const rows = section.split('\n\n')[0]?.split('\n') ?? [];
  return Object.fromEntries(
    rows
      .map((r) => /^\| ([^|]+) \| (.*) \|$/.exec(r))
      .filter((m) => m !== null)
      .map((m) => [m[1], m[2]]),
  );
}

/** Each numbered step of the plan section, as rendered (a multi-line step with its code block). */
function planSteps(md: string): string[] {
  const section = md.split('\n### Plan\n\n')[1]?.split('\n### ')[0]?.trimEnd() ?? '';
  return section.split(/\n(?=\d+\. )/);
}

describe('a deploy from blue to green', () => {
  let result: Result;
  let md: string;
  beforeAll(async () => {
    result = await deployedResult();
    md = summaryMarkdown(result);
  });

  it('gives the outputs: the new color and port, the previous ones, and the duration in seconds (drain 10 s)', () => {
    expect(outputsOf(result)).toEqual({
      color: 'green',
      port: '8001',
      'previous-color': 'blue',
      'previous-port': '8000',
      status: 'deployed',
      'rolled-back': 'false',
      duration: expect.stringMatching(/^10\.\d$/),
      'requests-observed': '300',
      'error-rate': '3.3',
    });
  });

  it("shows the traffic the watch read: the new color's figures, the old color's stragglers, the proxy's log", () => {
    expect(md).toContain(
      '**Traffic after the switch** ✅ passed: 300 requests to green, 10 failed (3.3%), p95 29 ms\n',
    );
    expect(table(md, '| step | color | requests | failed | error rate | p95 |')).toEqual([
      '| after the switch (100%, 10.0 s) | green (new) | 300 | 10 | 3.3% | 29 ms |',
      '| after the switch (100%, 10.0 s) | blue | 2 | 0 | 0.0% | 900 ms |',
    ]);
    // 300 users' requests, 2 to blue, and the tool's own checks through the proxy: its first answer, which does not
    // tell its color, came before the old workers were seen to stop accepting, so it was asked once more.
    expect(table(md, '| proxy | access log |')).toEqual(['| proxy | 304 access-log lines (bluegreen format) |']);
  });

  it('shows the status, the colors and the duration', () => {
    expect(md).toMatch(/^## ✅ Blue-green: deployed green \(port 8001\)\n\n/);
    expect(table(md, '| | |')).toEqual([
      '| status | `deployed` (exit code 0) |',
      '| live color now | green (port 8001) |',
      '| live color before | blue (port 8000) |',
      expect.stringMatching(/^\| duration \| 10\.\d s \|$/),
    ]);
    expect(md.endsWith('\n')).toBe(true);
  });

  it('shows every phase the engine ran, in order, with its time; the drain takes its 10 s', () => {
    expect(table(md, PHASES)).toEqual([
      phaseRow('detect', true),
      phaseRow('up', true),
      phaseRow('health', true),
      phaseRow('switch', true),
      phaseRow('verify', true),
      phaseRow('drain', true, '10.0'),
      phaseRow('cleanup', true),
    ]);
  });

  it('shows the proxy, its include, the color it pointed at before, and how it was checked after the switch', () => {
    // The fake proxy answers 200 and tells no color: the check passed on the answer alone, and says so.
    expect(table(md, PROXIES)).toEqual([`| proxy | ${PROXY_INCLUDE} | blue | HTTP 200 (color not told) |`]);
  });

  it('shows nothing of a failure, a plan, a lock, an unfinished deploy or a verify-url', () => {
    for (const absent of ['What went wrong', '<details>', '### Plan', 'deploy lock', 'unfinished', 'verify-url:']) {
      expect(md).not.toContain(absent);
    }
  });

  it('sums up the deploy in the text, with the exit code and the phases', () => {
    expect(summaryText(result).split('\n')).toEqual([
      'Result: deployed green (port 8001)',
      expect.stringMatching(
        /^ {2}status=deployed color=green port=8001 previous=blue rolled-back=false duration=10\.\ds exit=0$/,
      ),
      expect.stringMatching(
        new RegExp(
          `^  phases: detect ${T}s, up ${T}s, health ${T}s, switch ${T}s, verify ${T}s, drain 10\\.0s, cleanup ${T}s$`,
        ),
      ),
      '  drain: drain-seconds (10.0 s) reached: proxy still had 1 old worker busy',
      '  traffic after the switch: passed: 300 requests to green, 10 failed (3.3%), p95 29 ms',
    ]);
  });
});

describe('a deploy behind two proxies that tell the color, with a verify-url', () => {
  it('shows each proxy with its own include and the color that answered through it, then the verify-url', async () => {
    const md = summaryMarkdown(await twoProxiesResult());
    expect(table(md, PROXIES)).toEqual([
      `| proxy | ${PROXY_INCLUDE} | blue | HTTP 200 from green (X-Color) |`,
      `| test-nginx | \`test-nginx:${TEST_NGINX_INCLUDE}\` | blue | HTTP 200 from green (X-Color) |`,
    ]);
    expect(md).toContain('|\n\nverify-url: HTTP 200 from green (X-Color)\n');
  });
});

describe('a proxy that cannot be checked', () => {
  it('says NOT VERIFIED, and why, in the proxy table; no verify phase is shown', async () => {
    const md = summaryMarkdown(await notVerifiedResult());
    expect(md).toMatch(/^## ✅ Blue-green: deployed green/);
    expect(table(md, PROXIES)).toEqual([
      `| proxy | ${PROXY_INCLUDE} | blue | NOT VERIFIED: publishes no port for 80 |`,
    ]);
    expect(table(md, PHASES).join('\n')).not.toContain('| verify |');
  });
});

describe('a first deploy', () => {
  let result: Result;
  beforeAll(async () => {
    result = await firstDeployResult();
  });

  it('gives empty previous outputs, as nothing served before', () => {
    expect(outputsOf(result)).toMatchObject({ color: 'blue', port: '8000', 'previous-color': '', 'previous-port': '' });
  });

  it('shows no color before, the placeholder include as ?, and no drain or cleanup', () => {
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ✅ Blue-green: deployed blue \(port 8000\)\n/);
    expect(md).toContain('| live color before | — |');
    expect(table(md, PROXIES)).toEqual([`| proxy | ${PROXY_INCLUDE} | ? | HTTP 200 (color not told) |`]);
    expect(table(md, PHASES)).toEqual(['detect', 'up', 'health', 'switch', 'verify'].map((p) => phaseRow(p, true)));
    expect(summaryText(result)).toContain('  status=deployed color=blue port=8000 previous=- rolled-back=false');
  });
});

describe('a deploy whose new color never became healthy, rolled back', () => {
  let result: Result;
  let md: string;
  beforeAll(async () => {
    result = await healthRolledBackResult();
    md = summaryMarkdown(result);
  });

  it('gives the outputs: the old color serves, rolled back, after the 30 s health deadline', () => {
    expect(outputsOf(result)).toEqual({
      color: 'blue',
      port: '8000',
      'previous-color': 'blue',
      'previous-port': '8000',
      status: 'rolled-back',
      'rolled-back': 'true',
      duration: expect.stringMatching(/^30\.\d$/),
      'requests-observed': '',
      'error-rate': '',
    });
  });

  it('says what failed and what was rolled back', () => {
    expect(md).toMatch(/^## ↩️ Blue-green: deploy of green failed and was rolled back\n/);
    expect(md).toContain('| status | `rolled-back` (exit code 1) |');
    expect(md).toContain('| live color now | blue (port 8000) |');
  });

  it('shows the health phase failed after its deadline, then the restore', () => {
    expect(table(md, PHASES)).toEqual([
      phaseRow('detect', true),
      phaseRow('up', true),
      phaseRow('health', false, '30.0'),
      phaseRow('restore', true),
    ]);
    // The proxy was never switched, so never checked.
    expect(table(md, PROXIES)).toEqual([`| proxy | ${PROXY_INCLUDE} | blue | — |`]);
  });

  it('shows the error in a fenced block: the last answer, then how it was rolled back', () => {
    expect(fenced(md, 'What went wrong')?.split('\n')).toEqual([
      'green did not become healthy within 30 s at http://127.0.0.1:8001/health (31 probes; last: HTTP 502, expected 200-399)',
      "Rolled back: traffic is on blue as before, green was stopped. Fix the cause (see green's log) and run again.",
    ]);
  });

  it("shows green's log tail in a details block after the error; a fence in the log cannot close the block", () => {
    const tail = logTail(md);
    expect(tail.color).toBe('green');
    const lines = tail.text?.split('\n') ?? [];
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\S*app-green\S* \| Traceback \(most recent call last\):$/);
    expect(lines[1]).toMatch(/^\S*app-green\S* \| '''KeyError: DATABASE_URL'''$/);
    expect(md.indexOf('### What went wrong')).toBeLessThan(md.indexOf('<details>'));
  });

  it('mentions the exit code, the failed phase and then the error in the text', () => {
    const text = summaryText(result);
    expect(text.split('\n').slice(0, 3)).toEqual([
      'Result: deploy of green failed and was rolled back',
      expect.stringMatching(
        /^ {2}status=rolled-back color=blue port=8000 previous=blue rolled-back=true duration=30\.\ds exit=1$/,
      ),
      expect.stringMatching(new RegExp(`^  phases: detect ${T}s, up ${T}s, health 30\\.0s FAILED, restore ${T}s$`)),
    ]);
    expect(text).toMatch(
      /\n\ngreen did not become healthy within 30 s [^\n]*\nRolled back: traffic is on blue as before[^\n]*$/,
    );
  });

  it('leaves the error out of the text when asked (the action shows it as its failure annotation)', () => {
    const text = summaryText(result, { withError: false });
    expect(text).toContain('health 30.0s FAILED');
    expect(text).not.toContain('did not become healthy');
    expect(text).not.toContain('Rolled back:');
  });
});

describe('a deploy whose check through the proxy failed, rolled back', () => {
  it('shows the verify phase failed after its 5 s deadline and the answer the proxy gave', async () => {
    const result = await verifyRolledBackResult();
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ↩️ Blue-green: deploy of green failed and was rolled back\n/);
    expect(table(md, PHASES)).toEqual([
      phaseRow('detect', true),
      phaseRow('up', true),
      phaseRow('health', true),
      phaseRow('switch', true),
      phaseRow('verify', false, '5.0'),
      phaseRow('restore', true),
    ]);
    expect(table(md, PROXIES)).toEqual([`| proxy | ${PROXY_INCLUDE} | blue | failed: HTTP 502, expected 200-399 |`]);
    expect(fenced(md, 'What went wrong')).toMatch(
      /^proxy did not answer as expected from green at http:\/\/127\.0\.0\.1:8080\/health within 5 s: HTTP 502, expected 200-399\nRolled back: traffic is on blue as before, green was stopped\./,
    );
    expect(logTail(md).color).toBe('green');
  });
});

describe('rollback', () => {
  it('says it rolled back to the previous color, with exit code 0 and the phases of a rollback', async () => {
    const result = await rollbackResult();
    expect(outputsOf(result)).toMatchObject({
      color: 'blue',
      'previous-color': 'green',
      status: 'rolled-back',
      'rolled-back': 'true',
    });
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ↩️ Blue-green: rolled back to blue\n/);
    expect(md).toContain('| status | `rolled-back` (exit code 0) |');
    expect(md).toContain('| live color now | blue (port 8000) |');
    expect(md).toContain('| live color before | green (port 8001) |');
    // The old color's containers are started again, not brought up.
    expect(table(md, PHASES)).toEqual([
      phaseRow('detect', true),
      phaseRow('start', true),
      phaseRow('health', true),
      phaseRow('switch', true),
      phaseRow('verify', true),
      phaseRow('drain', true, '10.0'),
      phaseRow('cleanup', true),
    ]);
    expect(md).not.toContain('What went wrong');
    expect(summaryText(result).split('\n')[0]).toBe('Result: rolled back to blue');
  });
});

describe('dry-run', () => {
  let result: Result;
  let md: string;
  beforeAll(async () => {
    result = await dryRunResult();
    md = summaryMarkdown(result);
  });

  it('gives the live color as it is, and says nothing changed', () => {
    expect(outputsOf(result)).toMatchObject({ color: 'blue', port: '8000', status: 'planned', 'rolled-back': 'false' });
    expect(md).toMatch(/^## 📝 Blue-green: dry run of deploy green: nothing changed\n/);
    expect(md).toContain('| status | `planned` (exit code 0) |');
    expect(table(md, PHASES)).toEqual([phaseRow('detect', true)]);
    expect(table(md, PROXIES)).toEqual([`| proxy | ${PROXY_INCLUDE} | blue | — |`]);
    expect(summaryText(result).split('\n')[0]).toBe('Result: dry run of deploy green: nothing changed');
  });

  it('shows each step of the plan numbered; the commands a deploy runs as code, the include as a code block', () => {
    const steps = planSteps(md);
    expect(steps).toHaveLength(result.plan.length);
    steps.forEach((step, i) => expect(step.startsWith(`${i + 1}. `)).toBe(true));
    expect(steps[0]).toBe('1. `live color blue (port 8000); deploy green (port 8001), services app-green`');
    expect(steps).toContain(`2. \`${UP_GREEN}\``);
    expect(steps).toContain(
      [
        '4. write /srv/app/nginx/service-url.inc (mounted in proxy):',
        '',
        '   ```',
        '   # bluegreen-action: color=green port=8001',
        '   upstream app {',
        '       server app-green:8001;',
        '   }',
        '   ```',
      ].join('\n'),
    );
    expect(steps.slice(-3)).toEqual([
      "7. `watch green's requests in each proxy's access log while blue drains until every proxy's old workers are " +
        'done with its requests (at most 10 s): above max-error-rate 5% over at least 20 requests, back to blue`',
      '8. `cleanup: stop`',
      `9. \`${STOP_BLUE}\``,
    ]);
    // Every single-line step is inline code.
    for (const step of steps.filter((s) => !s.includes('\n'))) expect(step).toMatch(/^\d+\. `[^`]+`$/);
  });

  it('on an empty host: empty strings where nothing is known, and a plan with no drain or cleanup', async () => {
    const first = await firstDryRunResult();
    expect(outputsOf(first)).toEqual({
      color: '',
      port: '',
      'previous-color': '',
      'previous-port': '',
      status: 'planned',
      'rolled-back': 'false',
      duration: '0.0',
      'requests-observed': '',
      'error-rate': '',
    });
    const fmd = summaryMarkdown(first);
    expect(fmd).toMatch(/^## 📝 Blue-green: dry run of deploy blue: nothing changed\n/);
    expect(fmd).toContain('| live color now | — |\n| live color before | — |');
    expect(planSteps(fmd)[0]).toBe('1. `no live color; deploy blue (port 8000), services app-blue`');
    expect(fmd).not.toContain('cleanup');
  });
});

describe('status', () => {
  it('gives the live color, and shows no lock table when no deploy holds one', async () => {
    const result = await statusResult();
    expect(outputsOf(result)).toMatchObject({
      color: 'green',
      port: '8001',
      status: 'unchanged',
      'rolled-back': 'false',
    });
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ℹ️ Blue-green: live color: green\n/);
    expect(md).toContain('| status | `unchanged` (exit code 0) |');
    expect(md).toContain('| live color now | green (port 8001) |');
    expect(table(md, PROXIES)).toEqual([`| proxy | ${PROXY_INCLUDE} | green | — |`]);
    for (const absent of ['deploy lock', 'unfinished', 'What went wrong', '### Plan']) expect(md).not.toContain(absent);
    expect(summaryText(result).split('\n')[0]).toBe('Result: live color: green');
  });

  it('shows who holds a deploy lock', async () => {
    const md = summaryMarkdown(await statusLockedResult());
    const { pid, user, host, since } = LOCK_HOLDER;
    expect(md).toContain(`\n\n${LOCKS}\n|---|---|---|---|---|\n`);
    expect(table(md, LOCKS)).toEqual([`| \`proxy:proxy\` | deploy (pid ${pid}) | ${user} | ${host} | ${since} |`]);
  });

  it('tells of a deploy of another runner that may still be under way, and what the proxies load', async () => {
    const result = await statusUnderWayResult();
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ℹ️ Blue-green: live color: blue\n/);
    expect(md).toContain('\n### ⏳ A deploy is under way, or ended without finishing\n');
    expect(unfinished(md)).toMatchObject({
      'the proxies load now': 'blue',
      by: `process 4242 of user ci on host runner-1, started ${UNFINISHED.since}`,
      'it was at': `\`switch\` (blue → green), recorded ${UNFINISHED.at}`,
      'child processes ended': 'none',
      'done about it': 'it may still be under way on runner-1 (its process cannot be seen from here)',
    });
    expect(summaryText(result).split('\n')).toContain(
      '  unfinished deploy of green (pid 4242 on runner-1, at switch): it may still be under way on runner-1 (its process cannot be seen from here)',
    );
  });
});

describe('a deploy that finds an unfinished deploy', () => {
  let result: Result;
  beforeAll(async () => {
    result = await recoveredResult();
  });

  it('tells of it: who, where it was, what serves, the child processes it ended and what it did', () => {
    const md = summaryMarkdown(result);
    expect(unfinished(md)).toEqual({
      by: `process 4194303 of user ci on host ${os.hostname()}, started ${UNFINISHED.since}`,
      'it was at': `\`switch\` (blue → green), recorded ${UNFINISHED.at}`,
      'serving once dealt with': 'green',
      'child processes ended': '4250, 4251',
      'done about it': 'the switch to green was completed and checked through the proxies',
    });
    expect(summaryText(result).split('\n')).toContain(
      `  unfinished deploy of green (pid 4194303 on ${os.hostname()}, at switch): the switch to green was completed and checked through the proxies`,
    );
  });

  it('then reports its own deploy: from green, which the recovery left serving, to blue; the recover phase first', () => {
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ✅ Blue-green: deployed blue \(port 8000\)\n/);
    expect(md).toContain('| live color before | green (port 8001) |');
    // The recovery let blue drain 10 s before the deploy proper, which drains green 10 s.
    expect(table(md, PHASES)).toEqual([
      phaseRow('recover', true, /10\.\d/),
      phaseRow('detect', true),
      phaseRow('up', true),
      phaseRow('health', true),
      phaseRow('switch', true),
      phaseRow('verify', true),
      phaseRow('drain', true, '10.0'),
      phaseRow('cleanup', true),
    ]);
    expect(md.indexOf('### ⚠️ An unfinished deploy was found')).toBeGreaterThan(md.indexOf(PROXIES));
  });
});

describe('failures that could not be restored (exit code 3)', () => {
  it('a recovery that failed: nothing is known of the colors, the error says how to go on', async () => {
    const result = await recoveryFailedResult();
    const outputs = outputsOf(result);
    expect(outputs).toMatchObject({ color: '', port: '', 'previous-color': '', 'previous-port': '', status: 'failed' });
    for (const value of Object.values(outputs)) expect(value).not.toContain('undefined');
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ❌ Blue-green: deploy failed and could NOT be restored\n/);
    expect(md).toContain('| status | `failed` (exit code 3) |');
    expect(md).toContain('| live color now | — |\n| live color before | — |');
    expect(table(md, PHASES)).toEqual([phaseRow('recover', false)]);
    expect(table(md, PROXIES)).toEqual([]);
    expect(unfinished(md)).toMatchObject({
      'it was at': `\`up\` (blue → green), recorded ${UNFINISHED.at}`,
      'serving once dealt with': 'not known',
      'done about it': 'recovery failed; its journal is kept for the next run',
    });
    const error = fenced(md, 'What went wrong');
    expect(error).toMatch(
      /^recovering the unfinished deploy failed: could not end process\(es\) 4242; end them by hand/,
    );
    expect(error).toMatch(
      /remove its containers \(docker ps -a -q --filter "label=bluegreen-action\.journal=project:\S+" lists them\) with docker rm\.$/,
    );
    const text = summaryText(result);
    expect(text).toContain('Result: deploy failed and could NOT be restored');
    expect(text).toContain('  status=failed color=- port=- previous=- rolled-back=false');
    expect(text).toContain('exit=3');
    expect(text).toMatch(new RegExp(`\\n  phases: recover ${T}s FAILED\\n`));
  });

  it('a cleanup that failed after the switch: traffic stays on the new color, which the summary shows', async () => {
    const result = await cleanupFailedResult();
    expect(outputsOf(result)).toMatchObject({
      color: 'green',
      'previous-color': 'blue',
      status: 'failed',
      'rolled-back': 'false',
    });
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ❌ Blue-green: deploy failed and could NOT be restored\n/);
    expect(md).toContain('| live color now | green (port 8001) |');
    expect(table(md, PHASES).at(-1)).toEqual(phaseRow('cleanup', false));
    expect(table(md, PHASES)).toHaveLength(7);
    expect(fenced(md, 'What went wrong')?.split('\n')).toEqual([
      `cleanup failed: stopping blue failed (exit code 1): ${STOP_BLUE}`,
      'timeout stopping app-blue',
      "Not rolled back: traffic is on green, which passed its checks, and blue may be stopping, so the proxies stay on green. Check blue's containers by hand and stop them.",
    ]);
    // Green was not stopped, so no log of it was read.
    expect(md).not.toContain('<details>');
    expect(summaryText(result)).toMatch(/, cleanup \d+\.\ds FAILED\n/);
  });
});

describe('runs refused before anything was known', () => {
  it('a lock held by another deploy: no phases, no proxies, the reason, and empty outputs', async () => {
    const result = await lockRefusedResult();
    expect(outputsOf(result)).toEqual({
      color: '',
      port: '',
      'previous-color': '',
      'previous-port': '',
      status: 'failed',
      'rolled-back': 'false',
      duration: '0.0',
      'requests-observed': '',
      'error-rate': '',
    });
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ❌ Blue-green: deploy failed\n/);
    expect(md).toContain('| status | `failed` (exit code 1) |');
    expect(md).toContain('| live color now | — |');
    expect(md).not.toContain(PHASES);
    expect(md).not.toContain(PROXIES);
    expect(fenced(md, 'What went wrong')).toBe(
      'another deploy to the same proxies is running (process 42)\nNothing was changed.',
    );
    const text = summaryText(result);
    expect(text.split('\n').slice(0, 2)).toEqual([
      'Result: deploy failed',
      '  status=failed color=- port=- previous=- rolled-back=false duration=0.0s exit=1',
    ]);
    expect(text).not.toContain('phases:');
  });

  it('invalid inputs (main.ts, exit 2): refused before docker is used; the inputs to fix', async () => {
    const { result, log } = await invalidInputsResult();
    expect(log.text).not.toContain('Docker engine');
    expect(outputsOf(result)).toMatchObject({
      color: '',
      port: '',
      'previous-color': '',
      status: 'failed',
      'rolled-back': 'false',
    });
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ❌ Blue-green: deploy failed\n/);
    expect(md).toContain('| status | `failed` (exit code 2) |');
    expect(md).not.toContain(PHASES);
    expect(fenced(md, 'What went wrong')?.split('\n')).toEqual([
      'Invalid configuration; nothing was changed. Fix these inputs and run again:',
      '  - health-timeout = "soon" (from flag --health-timeout): seconds, from 0.001 to 3600',
    ]);
    expect(summaryText(result)).toContain('exit=2');
    expect(summaryMarkdown((await invalidInputsResult('status')).result)).toMatch(/^## ❌ Blue-green: status failed\n/);
  });

  it('a compose setup the engine refuses at detection (exit 2): the detect phase failed, and why', async () => {
    const result = await sharedServiceResult();
    const md = summaryMarkdown(result);
    expect(md).toMatch(/^## ❌ Blue-green: deploy failed\n/);
    expect(md).toContain('| status | `failed` (exit code 2) |');
    expect(table(md, PHASES)).toEqual([phaseRow('detect', false)]);
    expect(fenced(md, 'What went wrong')).toMatch(
      /both color files define the service\(s\) app-blue in one compose project/,
    );
    expect(summaryText(result)).toMatch(new RegExp(`\\n  phases: detect ${T}s FAILED\\n`));
  });
});

describe('report of a deploy with pre-deploy-command and hooks, whose post-switch hook failed', () => {
  let result: Result;
  beforeAll(async () => {
    result = await hooksRolledBackResult();
  });

  it('lists each command in the order it ran, with its time and outcome; the failed one with its output', () => {
    const md = summaryMarkdown(result);
    expect(table(md, '| command | ran | time | result |')).toEqual([
      expect.stringMatching(
        new RegExp(`^\\| pre-deploy \\| \`python manage.py migrate --noinput\` \\| ${T} s \\| ok \\|$`),
      ),
      expect.stringMatching(
        new RegExp(
          `^\\| post-switch \\| \`smoke-test --url http://127.0.0.1/checkout\` \\| ${T} s \\| \\*\\*exit code 2\\*\\* \\|$`,
        ),
      ),
      expect.stringMatching(new RegExp(`^\\| on-failure \\| \`page-oncall\` \\| ${T} s \\| ok \\|$`)),
    ]);
    expect(md).toContain(
      '<details><summary>Last output lines of post-switch</summary>\n\n```\nGET /checkout\n| 500 |\nFAILED\n```\n\n</details>',
    );
    expect(md).not.toContain('Last output lines of pre-deploy');
    expect(table(md, PHASES).map((r) => r.split(' | ')[0])).toEqual([
      '| detect',
      '| prepare',
      '| pre-deploy',
      '| up',
      '| health',
      '| switch',
      '| verify',
      '| post-switch',
      '| restore',
    ]);
    expect(fenced(md, 'What went wrong')).toMatch(
      /^post-switch-command exited with code 2: smoke-test --url http:\/\/127\.0\.0\.1\/checkout\nIts last 3 output lines:\nGET \/checkout\n\| 500 \|\nFAILED\nRolled back: traffic is on blue as before, green was stopped\./,
    );
  });
});
