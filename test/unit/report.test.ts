import { describe, expect, it } from 'vitest';
import type { Result } from '../../src/deploy.js';
import { deployed } from './results.js';
import { outputsOf, summaryMarkdown, summaryText } from '../../src/report.js';


const rolledBack: Result = {
  command: 'deploy',
  status: 'rolled-back',
  exitCode: 1,
  color: 'blue',
  port: 8000,
  previousColor: 'blue',
  previousPort: 8000,
  targetColor: 'green',
  rolledBack: true,
  durationMs: 61_949,
  phases: [
    { name: 'detect', ms: 300, ok: true },
    { name: 'up', ms: 1_500, ok: true },
    { name: 'health', ms: 60_049, ok: false },
    { name: 'rollback', ms: 100, ok: true },
  ],
  proxies: [{ container: 'nginx', include: '/srv/app/nginx/service-url.inc', color: 'blue' }],
  running: { blue: true, green: false },
  plan: [],
  error: 'green did not become healthy within 60 s: HTTP 502, expected 200-399',
  logTail: 'web-green-1  | Traceback (most recent call last):\nweb-green-1  | ```KeyError: DATABASE_URL```',
};

const dryRun: Result = {
  command: 'deploy',
  status: 'planned',
  exitCode: 0,
  color: 'blue',
  port: 8000,
  targetColor: 'green',
  rolledBack: false,
  durationMs: 150,
  phases: [{ name: 'detect', ms: 150, ok: true }],
  proxies: [],
  running: { blue: true, green: false },
  plan: [
    'docker compose -f docker-compose.yml -f docker-compose.green.yml up -d --build',
    'write /srv/app/nginx/service-url.inc:\n# bluegreen-action: color=green port=8001\nupstream app {\n    server localhost:8001;\n}',
  ],
};

const firstFailure: Result = {
  command: 'deploy',
  status: 'failed',
  exitCode: 3,
  targetColor: 'green',
  rolledBack: false,
  durationMs: 5_000,
  phases: [],
  proxies: [],
  running: {},
  plan: [],
  error: 'could not restore nginx',
};

describe('outputsOf', () => {
  it('gives the outputs of a deploy', () => {
    expect(outputsOf(deployed)).toEqual({
      color: 'green',
      port: '8001',
      'previous-color': 'blue',
      'previous-port': '8000',
      status: 'deployed',
      'rolled-back': 'false',
      duration: '23.5',
    });
  });

  it('gives the outputs of a failed deploy that was rolled back', () => {
    expect(outputsOf(rolledBack)).toEqual({
      color: 'blue',
      port: '8000',
      'previous-color': 'blue',
      'previous-port': '8000',
      status: 'rolled-back',
      'rolled-back': 'true',
      duration: '61.9',
    });
  });

  it('gives the outputs of a dry run, with empty strings where nothing is known', () => {
    expect(outputsOf(dryRun)).toEqual({
      color: 'blue',
      port: '8000',
      'previous-color': '',
      'previous-port': '',
      status: 'planned',
      'rolled-back': 'false',
      duration: '0.1',
    });
  });

  it('gives empty strings, never "undefined", for a run that knew nothing', () => {
    const outputs = outputsOf(firstFailure);
    expect(outputs.color).toBe('');
    expect(outputs.port).toBe('');
    for (const value of Object.values(outputs)) expect(value).not.toContain('undefined');
  });

  it('keeps port 0 apart from a missing port', () => {
    expect(outputsOf({ ...deployed, port: 0 }).port).toBe('0');
  });
});

describe('summaryMarkdown', () => {
  it('shows the status, the colors and the phases with their times for a deploy', () => {
    const md = summaryMarkdown(deployed);
    expect(md).toMatch(/^## ✅ Blue-green: deployed green \(port 8001\)\n/);
    expect(md).toContain('| status | `deployed` (exit code 0) |');
    expect(md).toContain('| live color now | green (port 8001) |');
    expect(md).toContain('| live color before | blue (port 8000) |');
    expect(md).toContain('| duration | 23.5 s |');
    expect(md).toContain('| phase | time | result |');
    expect(md).toContain('| detect | 0.4 s | ok |');
    expect(md).toContain('| up | 9.9 s | ok |');
    expect(md).toContain('| cleanup | 1.2 s | ok |');
    expect(md).toContain('| test-nginx | `/etc/nginx/conf.d/test-backend/service-url.inc` | blue |');
    expect(md).not.toContain('What went wrong');
    expect(md).not.toContain('<details>');
    expect(md.endsWith('\n')).toBe(true);
  });

  it('shows the failed phase, the error and the log tail in a details block after a rollback', () => {
    const md = summaryMarkdown(rolledBack);
    expect(md).toMatch(/^## ↩️ Blue-green: deploy of green failed and was rolled back\n/);
    expect(md).toContain('| status | `rolled-back` (exit code 1) |');
    expect(md).toContain('| health | 60.0 s | **failed** |');
    expect(md).toContain('| rollback | 0.1 s | ok |');
    expect(md).toContain('### What went wrong\n\n```\ngreen did not become healthy within 60 s: HTTP 502, expected 200-399\n```');
    const details = /<details><summary>Last log lines of green<\/summary>\n\n```\n([\s\S]*?)\n```\n\n<\/details>/.exec(md);
    expect(details?.[1]).toContain('Traceback (most recent call last):');
    // A fence inside the log cannot close the block early.
    expect(details?.[1]).toContain("'''KeyError: DATABASE_URL'''");
    expect(md.indexOf('What went wrong')).toBeLessThan(md.indexOf('<details>'));
  });

  it('shows the plan of a dry run, a multi-line step as a code block', () => {
    const md = summaryMarkdown(dryRun);
    expect(md).toMatch(/^## 📝 Blue-green: dry run of deploy green: nothing changed\n/);
    expect(md).toContain('| live color before | — |');
    expect(md).toContain('### Plan\n\n1. `docker compose -f docker-compose.yml -f docker-compose.green.yml up -d --build`\n');
    expect(md).toContain('2. write /srv/app/nginx/service-url.inc:\n\n   ```\n   # bluegreen-action: color=green port=8001\n');
  });

  it('says when the previous state could not be restored', () => {
    const md = summaryMarkdown(firstFailure);
    expect(md).toMatch(/^## ❌ Blue-green: deploy failed and could NOT be restored\n/);
    expect(md).toContain('| live color now | — |');
    expect(md).not.toContain('| phase |');
    expect(md).toContain('could not restore nginx');
  });

  it('gives the live color of a status run', () => {
    const md = summaryMarkdown({ ...deployed, command: 'status', status: 'unchanged', phases: [] });
    expect(md).toMatch(/^## ℹ️ Blue-green: live color: green\n/);
    expect(md).not.toContain('deploy lock');
  });

  it('shows who holds a deploy lock in a status run', () => {
    const lock = { key: 'proxy:nginx', pid: 4242, host: 'ci-2', user: 'runner', since: '2025-01-01T00:00:00.000Z' };
    const status = { ...deployed, command: 'status' as const, status: 'unchanged' as const };
    const md = summaryMarkdown({ ...status, locks: [{ ...lock, command: 'deploy' }] });
    expect(md).toContain('| deploy lock | held by | user | host | since |\n|---|---|---|---|---|\n');
    expect(md).toContain('| `proxy:nginx` | deploy (pid 4242) | runner | ci-2 | 2025-01-01T00:00:00.000Z |');
  });
  it('tells of an unfinished deploy that this run found, and what it did about it', () => {
    const interrupted: Result['interrupted'] = {
      command: 'deploy',
      pid: 4242,
      host: 'runner-1',
      user: 'ci',
      since: '2026-11-29T10:00:00.000Z',
      phase: 'switch',
      at: '2026-11-29T10:00:09.000Z',
      from: 'blue',
      to: 'green',
      action: 'the switch to green was completed and checked through the proxies',
      serving: 'green',
      orphans: [4250, 4251],
    };
    const md = summaryMarkdown({ ...deployed, interrupted });
    expect(md).toContain('### ⚠️ An unfinished deploy was found');
    expect(md).toContain('| by | process 4242 of user ci on host runner-1, started 2026-11-29T10:00:00.000Z |');
    expect(md).toContain('| it was at | `switch` (blue → green), recorded 2026-11-29T10:00:09.000Z |');
    expect(md).toContain('| serving once dealt with | green |');
    expect(md).toContain('| child processes ended | 4250, 4251 |');
    expect(summaryText({ ...deployed, interrupted })).toContain(
      '  unfinished deploy of green (pid 4242 on runner-1, at switch): the switch to green was completed and checked through the proxies',
    );
  });
});


describe('summaryText', () => {
  it('leaves the error out when asked (the action shows it as its failure annotation)', () => {
    const failed = { ...deployed, status: 'failed' as const, exitCode: 1 as const, error: 'up failed: boom' };
    expect(summaryText(failed)).toContain('up failed: boom');
    expect(summaryText(failed, { withError: false })).not.toContain('boom');
  });

  it('sums up a deploy with the exit code and the phases', () => {
    const text = summaryText(deployed);
    expect(text.split('\n')).toEqual([
      'Result: deployed green (port 8001)',
      '  status=deployed color=green port=8001 previous=blue rolled-back=false duration=23.5s exit=0',
      '  phases: detect 0.4s, up 9.9s, health 3.1s, switch 0.3s, drain 10.0s, cleanup 1.2s',
    ]);
  });

  it('mentions the exit code, the failed phase and the error after a rollback', () => {
    const text = summaryText(rolledBack);
    expect(text).toContain('exit=1');
    expect(text).toContain('rolled-back=true');
    expect(text).toContain('health 60.0s FAILED');
    expect(text.endsWith('\n\ngreen did not become healthy within 60 s: HTTP 502, expected 200-399')).toBe(true);
  });

  it('uses - for what is unknown, and exit=3 when nothing could be restored', () => {
    const text = summaryText(firstFailure);
    expect(text).toContain('Result: deploy failed and could NOT be restored');
    expect(text).toContain('color=- port=- previous=-');
    expect(text).toContain('exit=3');
    expect(text).not.toContain('phases:');
  });
});
