import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type ProxyTarget } from '../../src/config/config.js';
import { execute } from '../../src/engine/deployment.js';
import { WATCH_POLL_MS } from '../../src/engine/watch.js';
import { hexBelow, readInclude, renderInclude, renderSplit, splitForm } from '../../src/proxy/include.js';
import { summaryMarkdown } from '../../src/report.js';
import { INCLUDE, RELOAD, setup, STOP_BLUE, STOP_GREEN, UP_GREEN, WD } from './deploy-setup.js';
import { FakeFiles } from './fake-host.js';

const UPSTREAM = 'upstream app {\n    server app-{color}:8000;\n}\n';
const SET = 'set $service_url http://{host}-{color}:{port};';
const target = (template: string, host = 'app'): ProxyTarget => ({
  container: 'nginx',
  file: '/x.inc',
  template,
  host,
});
const BLUE = (percent: number) => ({ color: 'blue', port: 8000, percent });
const GREEN = (percent: number) => ({ color: 'green', port: 8001, percent });

describe('an include that splits the requests between two colors', () => {
  it("weights an upstream's server lines: the old color's first, the new one's after them, as the template spells them", () => {
    expect(renderSplit(target(UPSTREAM), BLUE(90), GREEN(10))).toBe(
      '# bluegreen-action: split blue=90 green=10\n' +
        'upstream app {\n    server app-blue:8000 weight=9;\n    server app-green:8000 weight=1 max_fails=0;\n}\n',
    );
    // One line, other parameters kept, a weight of the template's own replaced.
    expect(
      renderSplit(
        target('upstream app { server {host}-{color}:{port} max_fails=0 weight=5; keepalive 8; }'),
        BLUE(50),
        GREEN(50),
      ),
    ).toBe(
      '# bluegreen-action: split blue=50 green=50\n' +
        'upstream app { server app-blue:8000 max_fails=0 weight=1; server app-green:8001 weight=1 max_fails=0; keepalive 8; }\n',
    );
  });

  it('splits each upstream block on its own; refuses a server both colors share, or anything else that changes', () => {
    const two = 'upstream web { server web-{color}:8000; }\nupstream api { server api-{color}:9000; }\n';
    expect(renderSplit(target(two), BLUE(90), GREEN(10))).toBe(
      '# bluegreen-action: split blue=90 green=10\n' +
        'upstream web { server web-blue:8000 weight=9; server web-green:8000 weight=1 max_fails=0; }\n' +
        'upstream api { server api-blue:9000 weight=9; server api-green:9000 weight=1 max_fails=0; }\n',
    );
    expect(splitForm('upstream app { server app-{color}:8000; server shared-cache:8000; }')).toBeUndefined();
    expect(splitForm('upstream app { server app-{color}:8000; }\nmap $host $c { default {color}; }')).toBeUndefined();
    // Comments may name the color: Nginx does not read them.
    expect(splitForm('# {color}\nupstream app { server app-{color}:8000; }')).toBe('upstream');
  });

  it("keeps each color's share whatever its number of servers", () => {
    const two = 'upstream app {\n    server {color}-1:{port};\n    server {color}-2:{port};\n}\n';
    const text = renderSplit(target(two), BLUE(75), GREEN(25));
    const weights = [...text.matchAll(/server (\w+)-\d:\d+ weight=(\d+)( max_fails=0)?;/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(weights).toEqual([
      ['blue', 3],
      ['blue', 3],
      ['green', 1],
      ['green', 1],
    ]);
  });

  it("sets the new color's values for a random share of the requests ($request_id), for proxy_pass $var", () => {
    expect(renderSplit(target(SET), BLUE(90), GREEN(10))).toBe(
      '# bluegreen-action: split blue=90 green=10\n' +
        'set $service_url http://app-blue:8000;\n' +
        'if ($request_id ~ "^(?:[0][0-9a-f]|1[0123456789])") {\n' +
        '    set $service_url http://app-green:8001;\n' +
        '}\n',
    );
  });

  it('the share of $request_id values the expression takes is the percent, to 1/256', () => {
    const prefixes = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    for (const percent of [1, 5, 10, 25, 33, 50, 75, 90, 99]) {
      const re = new RegExp(`^(?:${hexBelow(Math.round((percent * 256) / 100))})`);
      const taken = prefixes.filter((p) => re.test(`${p}0123456789abcdef`)).length;
      expect(Math.abs(taken / 256 - percent / 100), `${percent}%`).toBeLessThanOrEqual(1 / 512);
    }
  });

  it('a template that can carry no split has no form, and is refused with canary-steps before anything runs', async () => {
    expect(splitForm(UPSTREAM)).toBe('upstream');
    expect(splitForm(SET)).toBe('set');
    expect(splitForm('set $a http://{host}:{port}; set $b 1;')).toBe('set');
    expect(splitForm('proxy_pass http://{host}:{port};')).toBeUndefined();
    expect(splitForm('set $u http://{host}:{port}; proxy_set_header X-Color {color};')).toBeUndefined();
    const files = new FakeFiles({ [`${WD}/docker-compose.yml`]: '', [`${WD}/docker-compose.blue.yml`]: '' });
    files.dirs.add(WD);
    const refused = loadConfig(
      {
        'working-directory': WD,
        'nginx-container': 'proxy',
        'upstream-path': '/etc/nginx/conf.d/app.inc',
        'upstream-template': 'proxy_pass http://{host}:{port};',
        'canary-steps': '10,50',
      },
      files,
    );
    await expect(refused).rejects.toThrow(/canary-steps.*proxy proxy: its template can carry no split/s);
    const noProxy = loadConfig({ 'working-directory': WD, 'canary-steps': '10' }, files);
    await expect(noProxy).rejects.toThrow(/a canary splits the traffic at the proxies/);
  });

  it('is read back as a split of both colors, which status shows; one color alone is still that color', () => {
    for (const template of [UPSTREAM, SET]) {
      const t = target(template);
      // The color it splits from is the one status reports live: the one the canary goes back to.
      expect(readInclude(renderSplit(t, BLUE(90), GREEN(10)), t, ['blue', 'green'], [8000, 8001])).toEqual({
        color: 'blue',
        split: { blue: 90, green: 10 },
      });
      expect(readInclude(renderInclude(t, 'green', 8001), t, ['blue', 'green'], [8000, 8001]).color).toBe('green');
    }
  });

  // The nginx of this machine (scripts/provision.sh installs it; GitHub's Ubuntu runners have one).
  it.skipIf(process.platform === 'win32')(
    'nginx -t accepts every form rendered, at the levels each is included',
    () => {
      expect(existsSync('/usr/sbin/nginx'), 'nginx is needed: bash scripts/provision.sh').toBe(true);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-split-'));
      try {
        const upstream = renderSplit(
          target('upstream app {\n    server 127.0.0.1:{port};\n}\n'),
          { color: 'blue', port: 8000, percent: 90 },
          { color: 'green', port: 8001, percent: 10 },
        );
        const set = renderSplit(target('set $service_url http://127.0.0.1:{port};'), BLUE(50), GREEN(50));
        writeFileSync(path.join(dir, 'upstream.inc'), upstream);
        writeFileSync(path.join(dir, 'set.inc'), set);
        writeFileSync(
          path.join(dir, 'nginx.conf'),
          [
            `pid ${dir}/nginx.pid;`,
            `error_log ${dir}/error.log;`,
            'events {}',
            'http {',
            `  access_log off;`,
            `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;`,
            `  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
            `  include ${dir}/upstream.inc;`,
            '  server { listen 127.0.0.1:18080; location / { proxy_pass http://app; } }',
            `  server { listen 127.0.0.1:18081; include ${dir}/set.inc; location / { proxy_pass $service_url; } }`,
            `  server { listen 127.0.0.1:18082; location / { include ${dir}/set.inc; proxy_pass $service_url; } }`,
            '}',
          ].join('\n'),
        );
        const out = execFileSync(
          '/usr/sbin/nginx',
          ['-t', '-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`],
          {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        expect(out).toBe('');
        writeFileSync(path.join(dir, 'set.inc'), `${set}\nif ($request_id ~ "^(") { }\n`);
        expect(() =>
          execFileSync('/usr/sbin/nginx', ['-t', '-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], {
            stdio: 'pipe',
          }),
        ).toThrow(/pcre|regex|missing \)/i);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

type Scenario = Awaited<ReturnType<typeof setup>>;

/**
 * Users' requests at every second of the watch, split as the proxy's loaded include says: `perPoll` requests,
 * each color's share of them answered `status(color, i)`.
 */
function usersThroughProxy(s: Scenario, perPoll: number, status: (color: string, i: number) => number = () => 200) {
  const sleep = s.clock.sleep.bind(s.clock);
  s.clock.sleep = async (ms, signal) => {
    await sleep(ms, signal);
    if (ms !== WATCH_POLL_MS || signal?.aborted) return; // a wait the drain cut short brings none
    const served = [...(s.host.proxies.get('proxy')?.served.values() ?? [])].join('\n');
    const split = /split (\S+)=(\d+) (\S+)=(\d+)/.exec(served);
    const shares: [string, number][] = split
      ? [
          [split[1] ?? '', Number(split[2])],
          [split[3] ?? '', Number(split[4])],
        ]
      : [[s.host.servedColor('proxy') ?? '', 100]];
    // Logged during the second just waited: before anything that comes next (the next step's switch).
    const at = s.clock.now() - 1;
    for (const [color, percent] of shares) {
      s.host.userRequests('proxy', Math.round((perPoll * percent) / 100), (i) => status(color, i), { color, at });
    }
  };
}

const CANARY = { 'canary-steps': '10,50', 'canary-interval': '5' };
const EDGE_INC = '/etc/nginx/conf.d/edge/service-url.inc';

describe('canary steps on the fake host', () => {
  it('steps that passed, then a drain too quick to judge: the release passes on all its requests', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    usersThroughProxy(s, 100);
    const result = await s.run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    const t = result.traffic;
    expect(t?.steps.map((x) => x.verdict)).toEqual(['passed', 'passed', 'too few requests']);
    expect(t).toMatchObject({
      verdict: 'passed',
      detail: '300 requests to green, 0 failed (0.0%), p95 5 ms, over every step',
    });
  });

  it('10% then 50% then all: each step written, tested, reloaded and watched; then the switch, watch and drain', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    // Blue's old workers stay busy past drain-seconds: the watch after the switch lasts the whole 10 s drain.
    s.host.oldWorkersBusyMs = 60_000;
    const written: string[] = [];
    const write = s.files.write.bind(s.files);
    s.files.write = async (file, content) => {
      if (file === INCLUDE) written.push(content.split('\n')[0] ?? '');
      return write(file, content);
    };
    usersThroughProxy(s, 100);
    const result = await s.run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(written).toEqual([
      '# bluegreen-action: split blue=90 green=10',
      '# bluegreen-action: split blue=50 green=50',
      '# bluegreen-action: color=green port=8001',
    ]);
    expect(s.host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, RELOAD, STOP_BLUE]);
    const phases = ['detect', 'up', 'health', 'canary 10%', 'canary 50%', 'switch', 'verify', 'drain', 'cleanup'];
    expect(result.phases.map((p) => p.name)).toEqual(phases);
    const steps = result.traffic?.steps ?? [];
    expect(steps.map((x) => [x.name, x.percent, x.ms, x.verdict])).toEqual([
      ['canary 10%', 10, 5_000, 'passed'],
      ['canary 50%', 50, 5_000, 'passed'],
      ['after the switch', 100, 10_000, 'passed'],
    ]);
    expect(steps.map((x) => [x.colors.blue?.requests, x.colors.green?.requests])).toEqual([
      [450, 50],
      [250, 250],
      [0, 1000],
    ]);
    expect(result.traffic).toMatchObject({ verdict: 'passed', requests: 1300, errors: 0, windowMs: 20_000 });
    // The summary draws the steps.
    const md = summaryMarkdown(result);
    expect(md).toContain(
      [
        '```mermaid',
        'xychart-beta',
        '    title "green: requests (bars) and failed requests (line) per step"',
        '    x-axis ["canary 10%", "canary 50%", "after the switch"]',
        '    y-axis "requests"',
        '    bar [50, 250, 1000]',
        '    line [0, 0, 0]',
        '```',
      ].join('\n'),
    );
    expect(md).toContain('| canary 10% (10%, 5.0 s) | green (new) | 50 | 0 | 0.0% | 5 ms |');
    expect(md).toContain('| canary 10% (10%, 5.0 s) | blue | 450 | 0 | 0.0% | 5 ms |');
  });

  it('a new color that fails its share at the first step: every request back to blue, green stopped', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    usersThroughProxy(s, 200, (color, i) => (color === 'green' && i % 2 ? 500 : 200));
    const before = await s.files.read(INCLUDE);
    const result = await s.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error?.split('\n')[0]).toBe(
      'The traffic watch failed: 10 of 20 requests to green failed (50.0%), above max-error-rate 5%.',
    );
    expect(await s.files.read(INCLUDE)).toBe(before);
    expect(s.host.servedColor('proxy')).toBe('blue');
    expect(s.host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
    expect(result.phases.at(-2)).toMatchObject({ name: 'canary 10%', ok: false });
    expect(result.traffic?.steps.map((x) => [x.name, x.verdict])).toEqual([['canary 10%', 'failed']]);
  });

  it('a cancel in the middle of a step: every request back to blue', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    const controller = new AbortController();
    const sleep = s.clock.sleep.bind(s.clock);
    let polls = 0;
    s.clock.sleep = async (ms, signal) => {
      if (ms === WATCH_POLL_MS && ++polls === 7) controller.abort(new Error('SIGTERM'));
      return sleep(ms, signal);
    };
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/^cancelled \(SIGTERM\) during the traffic watch/);
    expect(s.host.servedColor('proxy')).toBe('blue');
    expect(result.phases.at(-2)).toMatchObject({ name: 'canary 50%', ok: false });
  });

  it('status during a step shows the split, and the journal says a canary step was under way', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    let status: Awaited<ReturnType<typeof execute>> | undefined;
    const sleep = s.clock.sleep.bind(s.clock);
    s.clock.sleep = async (ms, signal) => {
      if (ms === WATCH_POLL_MS && !status) status = await execute({ ...s.config, command: 'status' }, s.deps);
      return sleep(ms, signal);
    };
    await s.run();
    expect(status).toMatchObject({ status: 'unchanged', exitCode: 0, color: 'blue' });
    expect(status?.proxies[0]?.split).toEqual({ blue: 90, green: 10 });
    expect(status?.interrupted).toMatchObject({ phase: 'canary', to: 'green', from: 'blue' });
    expect(summaryMarkdown(status!)).toContain('| split: blue 90%, green 10% |');
  });

  it('a rollback, and a first deploy, take no canary steps', async () => {
    const first = await setup({ raw: CANARY });
    const deployed = await first.run();
    expect(deployed.phases.map((p) => p.name)).not.toContain('canary 10%');
    expect(first.log.text).toContain('No canary steps: no color served before.');
    const back = await setup({ live: 'blue', idleStopped: true, raw: CANARY });
    const rolledBack = await back.runWith({ command: 'rollback' });
    expect(rolledBack).toMatchObject({ status: 'rolled-back', exitCode: 0, color: 'green' });
    expect(rolledBack.phases.map((p) => p.name)).not.toContain('canary 10%');
    expect(back.log.text).toContain('No canary steps: a rollback goes back at once.');
  });

  it('rollback-on-failure false: a failed step still takes the split off (green is left running, not serving)', async () => {
    const s = await setup({ live: 'blue', raw: { ...CANARY, 'rollback-on-failure': 'false' } });
    usersThroughProxy(s, 200, (color, i) => (color === 'green' && i % 2 ? 500 : 200));
    const result = await s.run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error?.split('\n')[1]).toBe(
      "Not rolled back (rollback-on-failure is false): green is left as it is; the canary's split was taken off: " +
        'every request goes to blue.',
    );
    expect(s.host.servedColor('proxy')).toBe('blue');
    expect(s.host.containers.get('app-green')?.running).toBe(true);
  });

  it('blue gone during a step, then a cancel: every request goes to green rather than a share to nothing; exit 3', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    const controller = new AbortController();
    const sleep = s.clock.sleep.bind(s.clock);
    let polls = 0;
    s.clock.sleep = async (ms, signal) => {
      if (ms === WATCH_POLL_MS && ++polls === 2) {
        const blue = s.host.containers.get('app-blue');
        if (blue) Object.assign(blue, { running: false, status: 'exited', exitCode: 137 });
      }
      if (polls === 3) controller.abort(new Error('SIGTERM'));
      return sleep(ms, signal);
    };
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'failed', exitCode: 3, color: 'green' });
    expect(result.error).toMatch(
      /ROLLBACK INCOMPLETE: could not restore the proxy includes: blue is not running, so the canary's split was replaced by green alone/,
    );
    expect(s.host.servedColor('proxy')).toBe('green');
  });

  it('the dry-run plan lists each step before the switch', async () => {
    const s = await setup({ live: 'blue', raw: { ...CANARY, 'dry-run': 'true' } });
    const plan = (await s.run()).plan;
    const at = (text: string) => plan.findIndex((p) => p.startsWith(text));
    expect(plan[at('canary 10%')]).toBe(
      'canary 10%: write every include with blue 90% and green 10%, test it, reload; watch 5 s: above ' +
        "max-error-rate 5% over at least 20 of green's requests, every request back to blue",
    );
    expect(at('canary 10%')).toBeLessThan(at('canary 50%'));
    expect(at('canary 50%')).toBeLessThan(at('write '));
  });

  it('two proxies, rollback-on-failure false, the second one failing its last reload: no proxy is left on a split', async () => {
    const targets = ['- container: proxy', '  file: nginx/service-url.inc', '- container: edge', `  path: ${EDGE_INC}`];
    const s = await setup({
      live: 'blue',
      raw: {
        ...CANARY,
        'rollback-on-failure': 'false',
        'nginx-targets': targets.join('\n'),
        'nginx-container': '',
        'upstream-file': '',
      },
    });
    const edge = s.config.targets[1];
    if (!edge) throw new Error('no second target');
    s.host.addProxy('edge', {}, { [EDGE_INC]: renderInclude(edge, 'blue', 8000) }, { published: { 80: 8081 } });
    // The third reload of edge is the switch's, after the two canary steps.
    let reloads = 0;
    s.host.injections.push((command) =>
      command === 'docker exec edge nginx -s reload' && ++reloads === 3
        ? { exitCode: 1, stderr: 'signal process failed' }
        : undefined,
    );
    const result = await s.run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error).toContain("the canary's split was taken off: every request goes to blue");
    for (const proxy of ['proxy', 'edge']) {
      const served = [...(s.host.proxies.get(proxy)?.served.values() ?? [])].join('\n');
      expect(served, proxy).toMatch(/color=blue/);
      expect(served, proxy).not.toMatch(/split/);
    }
  });

  it('blue not fully running and green failing its gate: the split stays, and exit 3 says where traffic is', async () => {
    const s = await setup({ live: 'blue', raw: CANARY });
    const sleep = s.clock.sleep.bind(s.clock);
    let polls = 0;
    s.clock.sleep = async (ms, signal) => {
      await sleep(ms, signal);
      if (ms !== WATCH_POLL_MS) return;
      if (++polls === 1) {
        const blue = s.host.containers.get('app-blue');
        if (blue) Object.assign(blue, { running: false, status: 'restarting' });
      }
      s.host.userRequests('proxy', 40, () => 500, { color: 'green' });
    };
    const result = await s.run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 3, color: 'blue' });
    expect(result.error).toMatch(
      /blue does not fully run, and green failed its traffic watch: proxy keep the canary's split/,
    );
    expect(result.error).toMatch(/Traffic is split between blue and green at proxy\./);
    expect(s.host.proxies.get('proxy')?.served.values().next().value).toMatch(/^# bluegreen-action: split blue=90/);
  });
});
