import { describe, expect, it } from 'vitest';
import { execute } from '../../src/engine/deployment.js';
import type { RawInputs } from '../../src/inputs.js';
import { fakeId } from './fake-host.js';
import {
  INCLUDE,
  MOUNTED,
  RELOAD,
  STOP_BLUE,
  STOP_GREEN,
  UP_BLUE,
  UP_GREEN,
  WD,
  onDrain,
  setup,
} from './deploy-setup.js';

describe('deploy', () => {
  it('first deploy on an empty host: starts the shared services, deploys the first color, no drain or cleanup', async () => {
    const { host, files, run } = await setup();
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue', port: 8000, rolledBack: false });
    expect(result.previousColor).toBeUndefined();
    // The shared services start from the shared files alone (a network they define is created there).
    expect(host.changes).toEqual([
      `docker-compose -f docker-compose.yml up -d --no-deps --no-recreate proxy db`,
      UP_BLUE,
      RELOAD,
    ]);
    expect(files.data.get(INCLUDE)).toContain('server app-blue:8000;');
    expect(host.servedColor('proxy')).toBe('blue');
    expect(result.phases.map((p) => p.name)).toEqual(['detect', 'up', 'health', 'switch', 'verify']);
    expect(result.proxies).toMatchObject([{ container: 'proxy', verified: 'HTTP 200 (color not told)' }]);
  });

  it('blue to green: up, health, switch, drain, stop the old color; nothing else is touched', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    // Blue's last request through the proxy ends 1.8 s after the reload: the drain ends then, not at 10 s.
    host.oldWorkersBusyMs = 1_800;
    const result = await run();
    expect(result).toMatchObject({
      status: 'deployed',
      exitCode: 0,
      color: 'green',
      port: 8001,
      previousColor: 'blue',
      previousPort: 8000,
    });
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
    expect(files.writes).toEqual([INCLUDE]);
    expect(host.servedColor('proxy')).toBe('green');
    expect(result.phases.find((p) => p.name === 'drain')?.ms).toBe(1_800);
    expect(host.containers.get('app-blue')?.running).toBe(false);
    expect(host.containers.get('db')?.running).toBe(true);
    expect(result.phases.map((p) => p.name)).toEqual([
      'detect',
      'up',
      'health',
      'switch',
      'verify',
      'drain',
      'cleanup',
    ]);
  });

  it('green to blue, with cleanup down removing only the old color', async () => {
    const { host, run } = await setup({ live: 'green', raw: { cleanup: 'down' } });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', color: 'blue', previousColor: 'green' });
    expect(host.changes).toEqual([
      UP_BLUE,
      RELOAD,
      `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml rm --stop --force app-green`,
    ]);
    expect(host.containers.has('app-green')).toBe(false);
    expect(host.containers.has('proxy')).toBe(true);
    expect(host.calls.join('\n')).not.toMatch(/--remove-orphans| down\b/);
  });

  it('cleanup keep leaves the old color running and does not wait for a drain', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { cleanup: 'keep' } });
    await run();
    expect(host.changes).toEqual([UP_GREEN, RELOAD]);
    expect(host.containers.get('app-blue')?.running).toBe(true);
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeLessThan(10_000);
  });

  it('passes --build only when asked, pulls when asked, and exports BLUEGREEN_COLOR/PORT', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { build: 'false', pull: 'true' } });
    const seen: Record<string, string>[] = [];
    const original = host.run.bind(host);
    host.run = async (file, args, options) => {
      if (options.env) seen.push(options.env);
      return original(file, args, options);
    };
    await run();
    expect(host.changes.slice(0, 2)).toEqual([
      `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml pull app-green`,
      `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml up -d --no-deps app-green`,
    ]);
    expect(seen).toContainEqual(expect.objectContaining({ BLUEGREEN_COLOR: 'green', BLUEGREEN_PORT: '8001' }));
  });

  it('starts a stopped shared service on a first deploy only (a one-off job stays as it is later)', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.addRunning('db', false);
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
  });

  it('never starts a shared service that has profiles, not even on a first deploy', async () => {
    const { host, files, run } = await setup();
    files.put(
      `${WD}/docker-compose.yml`,
      'services:\n  proxy:\n    image: nginx\n  db:\n    image: postgres\n  adminer:\n    image: adminer\n    profiles: [debug]\n',
    );
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(host.changes[0]).toBe(`docker-compose -f docker-compose.yml up -d --no-deps --no-recreate proxy db`);
  });
});

describe('failures and the rollback that follows', () => {
  it('up fails before creating a container (build error): nothing to stop, the include never touched', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    host.fail(/ up -d --no-deps --build app-green/, { exitCode: 1, stderr: 'build failed: no such file' });
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, rolledBack: true, color: 'blue' });
    expect(result.error).toMatch(/up failed: starting green failed \(exit code 1\)[\s\S]*build failed/);
    expect(result.error).toMatch(/traffic is on blue as before\. Fix the cause/);
    expect(host.changes).toEqual([UP_GREEN]);
    expect(files.writes).toEqual([]);
  });

  it('up fails after creating the container: the new color is stopped and its logs kept', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    host.injections.push((command) => {
      if (!command.endsWith('up -d --no-deps --build app-green')) return undefined;
      host.addRunning('app-green');
      return { exitCode: 1, stderr: 'Bind for 0.0.0.0:8001 failed: port is already allocated' };
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/port is already allocated[\s\S]*traffic is on blue as before, green was stopped/);
    expect(host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    expect(files.writes).toEqual([]);
    expect(result.logTail).toContain('log line of app-green');
  });

  it('health never passes (HTTP 500): rolled back after the deadline, no proxy change, log tail kept', async () => {
    const { host, files, clock, run } = await setup({ live: 'blue', raw: { 'health-timeout': '30' } });
    host.appStatus.set('app-green', 500);
    const start = clock.now();
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue', previousColor: 'blue' });
    expect(result.error).toMatch(/green did not become healthy within 30 s at http:\/\/127\.0\.0\.1:8001\/health/);
    expect(result.error).toMatch(/last: HTTP 500, expected 200-399/);
    expect(clock.now() - start).toBeGreaterThanOrEqual(29_000);
    expect(host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    expect(files.writes).toEqual([]);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.containers.get('app-blue')?.running).toBe(true);
    expect(result.logTail).toContain('app-green');
  });

  it('health-body must be in the answer', async () => {
    const { run } = await setup({ live: 'blue', raw: { 'health-body': '"status":"ok"', 'health-timeout': '3' } });
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.error).toMatch(/body lacks/);
  });

  it('the new color crashes at start: fails at once instead of waiting for the deadline', async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    host.crashing.add('app-green');
    const start = clock.now();
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/container app_app-green_1 is exited \(exit code 1\)/);
    expect(clock.now() - start).toBeLessThan(5_000);
    expect(host.changes).toEqual([UP_GREEN, STOP_GREEN]);
  });

  it('waits for a Docker HEALTHCHECK to report healthy', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.dockerHealth.set('app-green', ['starting', 'starting', 'healthy']);
    // What each inspect of green's container said of its health, and where the reload came.
    const seen: string[] = [];
    const green = fakeId('app-green');
    const original = host.run.bind(host);
    host.run = async (file, args, options) => {
      const result = await original(file, args, options);
      if (args[0] === 'inspect' && args.some((a) => a.startsWith(green))) {
        const found = JSON.parse(result.stdout) as { Id: string; State: { Health?: { Status: string } } }[];
        for (const c of found) if (c.Id.startsWith(green)) seen.push(c.State.Health?.Status ?? 'none');
      }
      if (result.command.endsWith(' nginx -s reload')) seen.push('reload');
      return result;
    };
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(seen).toContain('reload');
    const beforeReload = seen.slice(0, seen.indexOf('reload'));
    expect(beforeReload.at(-1)).toBe('healthy');
    expect(beforeReload).toContain('starting');
  });

  it("lists green's containers with compose twice, not at every probe (speed: compose v1 ps takes 0.3 s)", async () => {
    const { host, run } = await setup({ live: 'blue' });
    // The app answers 503 to its first three probes, then 200.
    host.appStatus.set('app-green', 503);
    let probes = 0;
    const get = host.get.bind(host);
    host.get = async (url) => {
      const answer = await get(url);
      if (new URL(url).port === '8001' && ++probes === 3) host.appStatus.delete('app-green');
      return answer;
    };
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(probes).toBeGreaterThanOrEqual(4);
    // Once at detection, once before probing.
    expect(host.calls.filter((c) => c.endsWith(' ps -a -q app-green'))).toHaveLength(2);
  });

  it('while nothing answers on its port, asks it every 0.02 s, and inspects its containers every health-interval', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { 'health-interval': '1' } });
    host.listensAt.set('app-green', clock.now() + 1_330);
    const result = await run();
    expect(result.status).toBe('deployed');
    // Seen listening within 0.02 s, not at the next whole interval (2 s).
    expect(result.phases.find((p) => p.name === 'health')?.ms).toBe(1_340);
    // The listing's, then the first probe's, the one at 1 s and the one that found it answering: not one per 0.02 s.
    const health = host.calls.slice(host.calls.findIndex((c) => c.includes('up -d')) + 1);
    const inspects = health.slice(0, health.indexOf('docker top proxy'));
    expect(inspects.filter((c) => c.startsWith('docker inspect'))).toHaveLength(4);
  });

  it('once the app answers, watches for Docker to say healthy every 0.1 s, not at the next probe', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'health-interval': '1' } });
    // Read by the listing before probing, by the first probe, then by two watches 0.1 s apart.
    host.dockerHealth.set('app-green', ['starting', 'starting', 'starting', 'healthy']);
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.phases.find((p) => p.name === 'health')?.ms).toBe(200);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
  });

  it('a HEALTHCHECK that says unhealthy while the app answers: not healthy, probed again later', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'health-timeout': '3', 'health-interval': '1' } });
    host.dockerHealth.set('app-green', ['unhealthy']);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.error).toMatch(/HTTP 200, but Docker reports \S+ unhealthy/);
  });

  it('nginx -t rejects the new include: old content restored, no reload, new color stopped', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    const before = files.data.get(INCLUDE);
    host.nginxRejects = (content) => content.includes('app-green');
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/nginx -t in proxy rejected the new include[\s\S]*unknown directive/);
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(files.writes).toEqual([INCLUDE, INCLUDE]);
    expect(host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('a proxy that stops during the deploy: "could not run nginx -t", not a rejected include; rolled back', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.injections.push((command) => {
      const proxy = host.proxies.get('proxy');
      if (command.endsWith('up -d --no-deps --build app-green') && proxy) proxy.running = false;
      return undefined;
    });
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.error).toMatch(/could not run nginx -t in proxy:\nError: container proxy is not running/);
  });

  it('an include path that does not exist yet in the container (older docker CLI wording) is created', async () => {
    const s = await setup({
      live: 'blue',
      raw: { 'upstream-file': '', 'upstream-path': '/etc/nginx/conf.d/new.inc', cleanup: 'keep' },
    });
    s.host.fail(/^docker cp -L proxy:\/etc\/nginx\/conf\.d\/new\.inc -$/, {
      exitCode: 1,
      stderr: 'Error: No such container:path: proxy:/etc/nginx/conf.d/new.inc',
    });
    s.files.put(INCLUDE, 'upstream app { server somewhere-else:1; }');
    const result = await s.run();
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
    expect(s.host.proxies.get('proxy')?.files.get('/etc/nginx/conf.d/new.inc')).toMatch(/server app-green:8001;/);
  });

  it('the container does not see the written include (a file mounted alone): restored, rolled back', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.proxies.get('proxy')?.mounts.clear();
    host.proxies.get('proxy')?.files.set(MOUNTED, 'upstream app { server app-blue:8000; }');
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.error).toMatch(/proxy does not read the include .*Mount its directory/);
  });

  it('reload fails: includes restored, proxies reloaded back, new color stopped', async () => {
    const { host, files, log, run } = await setup({ live: 'blue' });
    const before = files.data.get(INCLUDE);
    host.fail(/nginx -s reload/);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(log.text).toContain('Proxies restored to blue and reloaded.');
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('a reload that never takes effect (old workers keep accepting): includes restored, exit 3 as it cannot be confirmed', async () => {
    const { host, files, clock, run } = await setup({ live: 'blue' });
    const before = files.data.get(INCLUDE);
    host.reloadNeverTakesEffect = true;
    const start = clock.now();
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(result.error).toMatch(/switch failed: .*still ran only its old Nginx workers 10 s after the reload/);
    expect(result.error).toMatch(/ROLLBACK INCOMPLETE: could not restore the proxy includes/);
    expect(clock.now() - start).toBeGreaterThanOrEqual(20_000);
    expect(files.data.get(INCLUDE)).toBe(before);
    // The new color may be serving: it is not stopped.
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD]);
  });

  it('verify-url fails through the proxy: switched back to the old color and reloaded, new color stopped', async () => {
    const { host, files, run } = await setup({
      live: 'blue',
      raw: { 'verify-url': 'http://127.0.0.1:8080/', 'verify-proxies': 'off' },
    });
    const before = files.data.get(INCLUDE);
    host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue', rolledBack: true });
    expect(result.error).toMatch(
      /verify-url did not answer as expected from green at http:\/\/127\.0\.0\.1:8080\/ within 5 s: HTTP 502/,
    );
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(result.phases.map((p) => `${p.name}:${p.ok}`)).toEqual([
      'detect:true',
      'up:true',
      'health:true',
      'switch:true',
      'verify:false',
      'restore:true',
    ]);
  });

  it('verify-url that passes keeps the deploy', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'verify-url': 'http://127.0.0.1:8080/' } });
    host.proxyAnswer = (color) => (color === 'green' ? 200 : 503);
    expect((await run()).status).toBe('deployed');
  });

  it('cleanup fails while the old color still runs: the switch is not undone (it may be stopping), exit 3', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.fail(/ stop app-blue$/, { exitCode: 1, stderr: 'timeout stopping app-blue' });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 3, color: 'green', rolledBack: false });
    expect(result.error).toMatch(/cleanup failed: stopping blue failed[\s\S]*timeout stopping app-blue/);
    expect(result.error).toMatch(
      /Not rolled back: traffic is on green, which passed its checks, and blue may be stopping/,
    );
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
    expect(host.servedColor('proxy')).toBe('green');
    expect(host.containers.get('app-green')?.running).toBe(true);
    expect(result.phases.map((p) => p.name)).not.toContain('restore');
  });

  it('cleanup fails after the old color went down: traffic stays on the new color, exit 3', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.injections.push((command) => {
      if (!command.endsWith(' stop app-blue')) return undefined;
      const blue = host.containers.get('app-blue');
      if (blue) Object.assign(blue, { running: false, status: 'exited' });
      return { exitCode: 1, stderr: 'timeout stopping app-blue' };
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 3, color: 'green', rolledBack: false });
    expect(host.servedColor('proxy')).toBe('green');
    expect(host.containers.get('app-green')?.running).toBe(true);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, STOP_BLUE]);
  });

  it('restoring after a verify failure is refused when the old color stopped meanwhile: exit 3, loud', async () => {
    const { host, run } = await setup({
      live: 'blue',
      raw: { 'verify-url': 'http://127.0.0.1:8080/', 'health-timeout': '2' },
    });
    host.proxyAnswer = (color) => {
      const blue = host.containers.get('app-blue');
      if (color === 'green' && blue) Object.assign(blue, { running: false, status: 'exited' });
      return color === 'green' ? 502 : 200;
    };
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 3, color: 'green' });
    expect(result.error).toMatch(/ROLLBACK INCOMPLETE/);
    expect(result.error).toMatch(/blue is not running, so the proxies were left on green/);
    expect(result.error).toMatch(/green still serves traffic, so it was left running/);
    expect(host.servedColor('proxy')).toBe('green');
    expect(host.containers.get('app-green')?.running).toBe(true);
  });

  it('restoring fails (reload back refused): exit 3 with what to check', async () => {
    const { host, run } = await setup({
      live: 'blue',
      raw: { 'verify-url': 'http://127.0.0.1:8080/', 'health-timeout': '2' },
    });
    host.proxyAnswer = () => 500;
    // The first reload (the switch) passes; make the second (the restore) fail.
    let reloads = 0;
    host.injections.push((c) =>
      c.endsWith('nginx -s reload') && ++reloads === 2 ? { exitCode: 1, stderr: 'kill failed' } : undefined,
    );
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(result.error).toMatch(/could not restore the proxy includes/);
    expect(result.error).toMatch(/Check the proxies and containers by hand/);
  });

  it('rollback-on-failure false still puts back an include that was never loaded (nginx -t rejected it)', async () => {
    const { host, files, run } = await setup({ live: 'blue', raw: { 'rollback-on-failure': 'false' } });
    const before = files.data.get(INCLUDE);
    host.nginxRejects = (content) => content.includes('app-green');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, rolledBack: false, color: 'blue' });
    expect(result.error).toMatch(
      /Not rolled back \(rollback-on-failure is false\): green is left as it is; includes that had not been loaded were put back/,
    );
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(host.containers.get('app-green')?.running).toBe(true);
    expect(host.changes).toEqual([UP_GREEN]);
  });

  it('rollback-on-failure false: the failure is reported and nothing is undone', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'rollback-on-failure': 'false', 'health-timeout': '2' } });
    host.appStatus.set('app-green', 503);
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, rolledBack: false, color: 'blue' });
    expect(result.error).toMatch(/Not rolled back \(rollback-on-failure is false\)/);
    expect(host.changes).toEqual([UP_GREEN]);
    expect(host.containers.get('app-green')?.running).toBe(true);
  });

  it.each([
    ['stopped', 'exited'],
    ['crash-looping', 'restarting'],
  ] as const)('on a later deploy, a %s proxy is refused before anything changes', async (_, status) => {
    const { host, run } = await setup({ live: 'blue' });
    host.setProxyStatus('proxy', status);
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(
      new RegExp(`the proxy container proxy is not running \\(${status}\\)[\\s\\S]*Nothing was changed`),
    );
    expect(host.changes).toEqual([]);
  });

  it('a first deploy whose stopped proxy cannot start even with the new include: rolled back, says what it started', async () => {
    const { host, files, run } = await setup();
    host.setProxyStatus('proxy', 'exited');
    host.nginxCannotStart = () => true;
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(result.error).toMatch(/proxy did not start \(restarting\):\nnginx: \[emerg\] host not found in upstream/);
    expect(result.error).toMatch(/The shared services proxy, db were started by this run and are left running\./);
    expect(host.changes).toContain('docker restart --time 10 proxy');
    expect(files.data.get(INCLUDE)).toContain('127.0.0.1:9');
    expect(host.containers.get('app-blue')?.running).toBe(false);
  });

  it('first deploy that fails after the switch goes back to the placeholder include', async () => {
    const { host, files, log, run } = await setup({
      raw: { 'verify-url': 'http://127.0.0.1:8080/', 'health-timeout': '2' },
    });
    host.proxyAnswer = () => 502;
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(log.text).toContain('No color served before this first deploy: the includes were put back as they were.');
    expect(files.data.get(INCLUDE)).toContain('127.0.0.1:9');
    expect(host.proxies.get('proxy')?.served.get(MOUNTED)).toContain('127.0.0.1:9');
    expect(host.containers.get('app-blue')?.running).toBe(false);
  });
});

describe('two proxies with different templates (the seed layout)', () => {
  async function twoProxies(live: 'blue' | 'green') {
    const targets = [
      '- container: proxy',
      '  file: nginx/service-url.inc',
      '- container: edge',
      '  path: /etc/nginx/conf.d/test-backend/service-url.inc',
      "  template: 'set $service_url http://{host}:{port};'",
      '  host: 10.0.0.5',
    ].join('\n');
    const s = await setup({ live, raw: { 'nginx-targets': targets, 'nginx-container': '', 'upstream-file': '' } });
    const port = live === 'blue' ? 8000 : 8001;
    s.host.addProxy(
      'edge',
      {},
      {
        '/etc/nginx/conf.d/test-backend/service-url.inc': `set $service_url http://10.0.0.5:${port};\n`,
      },
    );
    return s;
  }

  it('writes each include with its own template, tests each, then reloads both', async () => {
    const { host, files, run } = await twoProxies('blue');
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', color: 'green' });
    expect(result.proxies.map((p) => p.color)).toEqual(['blue', 'blue']);
    expect(files.data.get(INCLUDE)).toMatch(/upstream app \{\n {4}server app-green:8001;\n\}/);
    expect(host.proxies.get('edge')?.files.get('/etc/nginx/conf.d/test-backend/service-url.inc')).toMatch(
      /^# bluegreen-action: color=green port=8001\nset \$service_url http:\/\/10\.0\.0\.5:8001;\n$/,
    );
    expect(host.changes).toEqual([
      UP_GREEN,
      'docker cp - edge:/etc/nginx/conf.d/test-backend',
      RELOAD,
      'docker exec edge nginx -s reload',
      STOP_BLUE,
    ]);
    expect(host.servedColor('edge')).toBe('green');
  });

  it('the second proxy rejects its include: both includes restored, neither reloaded', async () => {
    const { host, files, run } = await twoProxies('blue');
    const before = files.data.get(INCLUDE);
    host.nginxRejects = (c) => c.startsWith('# bluegreen-action: color=green') && c.includes('set $service_url');
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(files.data.get(INCLUDE)).toBe(before);
    expect(host.proxies.get('edge')?.files.get('/etc/nginx/conf.d/test-backend/service-url.inc')).toBe(
      'set $service_url http://10.0.0.5:8000;\n',
    );
    expect(host.changes.filter((c) => c.includes('reload'))).toEqual([]);
  });

  it('proxies that disagree stop the run before anything changes', async () => {
    const { host, run } = await twoProxies('blue');
    host.addRunning('app-green');
    host.proxies
      .get('edge')
      ?.files.set('/etc/nginx/conf.d/test-backend/service-url.inc', 'set $service_url http://10.0.0.5:8001;\n');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(result.error).toMatch(
      /the proxies disagree on the live color \(proxy → blue, edge → green\)[\s\S]*Nothing was changed/,
    );
    expect(host.changes).toEqual([]);
  });
});

describe('finding the live color', () => {
  it('falls back to what runs when the include names no color', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(INCLUDE, 'upstream app { server somewhere-else:1; }');
    const result = await run();
    expect(result.previousColor).toBe('blue');
    expect(host.changes[0]).toBe(UP_GREEN);
  });

  it('refuses when both colors run and no include tells which serves', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(INCLUDE, 'upstream app { server somewhere-else:1; }');
    host.addRunning('app-green');
    const result = await run();
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/both blue and green are running and no proxy include says which one serves/);
    expect(host.changes).toEqual([]);
  });

  it("recognises the seed's hand-written include (no marker)", async () => {
    const { host, files, run } = await setup({ live: 'green' });
    files.put(INCLUDE, 'upstream app {\n  server app-green:8001;\n}');
    host.addRunning('app-blue');
    const result = await run();
    expect(result).toMatchObject({ previousColor: 'green', color: 'blue' });
  });

  it('refuses two colors that define the same service in one project (exit 2, nothing run)', async () => {
    const { host, files, run } = await setup();
    files.put(`${WD}/docker-compose.green.yml`, 'services:\n  app-blue:\n    build: .\n');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(result.error).toMatch(/both color files define the service\(s\) app-blue .*put \{color\} in project-name/);
    expect(host.changes).toEqual([]);
  });

  it('refuses a color file without services (compose would act on every service): exit 2, nothing run', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.green.yml`, 'include:\n  - green/compose.yaml\n');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(result.error).toMatch(/color-file = ".*docker-compose\.green\.yml": defines no service for green/);
    expect(host.changes).toEqual([]);
  });

  it('refuses a service name that a command line would take for an option', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.green.yml`, 'services:\n  --remove-orphans:\n    image: x\n');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(result.error).toMatch(/"--remove-orphans" is not a compose service name/);
    expect(host.changes).toEqual([]);
  });

  it('allows the same service names when each color is its own project, and passes -p per color', async () => {
    const { host, files, run } = await setup({ raw: { 'project-name': 'shop-{color}' } });
    files.put(`${WD}/docker-compose.blue.yml`, 'services:\n  app:\n    build: .\n');
    files.put(`${WD}/docker-compose.green.yml`, 'services:\n  app:\n    build: .\n');
    delete host.portOf['app-blue'];
    host.portOf.app = 8000;
    const result = await run();
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('deployed');
    expect(host.changes[0]).toBe(
      `docker-compose -p shop-blue -f docker-compose.yml -f ${WD}/docker-compose.blue.yml up -d --no-deps --build app`,
    );
  });
});

describe('rollback, status and dry-run', () => {
  it('rollback after a deploy with cleanup stop: starts the old color, checks it, switches, stops the current', async () => {
    const { host, run } = await setup({ live: 'green', idleStopped: true, raw: { command: 'rollback' } });
    const result = await run();
    expect(result).toMatchObject({
      status: 'rolled-back',
      exitCode: 0,
      color: 'blue',
      previousColor: 'green',
      rolledBack: true,
    });
    expect(host.changes).toEqual([
      `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.blue.yml start app-blue`,
      RELOAD,
      `docker-compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml stop app-green`,
    ]);
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('rollback with no container of the previous color: fails, nothing changed', async () => {
    const { host, run } = await setup({ live: 'green', raw: { command: 'rollback' } });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1, color: 'green' });
    expect(result.error).toMatch(/blue has no container for app-blue to go back to[\s\S]*Nothing was changed/);
    expect(host.changes).toEqual([]);
  });

  it('rollback whose old color is unhealthy: stopped again, traffic left on the current color', async () => {
    const { host, run } = await setup({
      live: 'green',
      idleStopped: true,
      raw: { command: 'rollback', 'health-timeout': '2' },
    });
    host.appStatus.set('app-blue', 500);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'green' });
    expect(host.containers.get('app-blue')?.running).toBe(false);
    expect(host.servedColor('proxy')).toBe('green');
  });

  it('status reports the live color and each proxy, and changes nothing', async () => {
    const { host, run } = await setup({ live: 'green', raw: { command: 'status' } });
    const result = await run();
    expect(result).toMatchObject({ status: 'unchanged', exitCode: 0, color: 'green', port: 8001 });
    expect(result.proxies).toEqual([{ container: 'proxy', include: `${INCLUDE} (mounted in proxy)`, color: 'green' }]);
    expect(result.running).toEqual({ blue: false, green: true });
    expect(host.changes).toEqual([]);
  });

  it('dry-run prints the plan with the exact commands, changes nothing and takes no lock', async () => {
    const { host, files, locks, run } = await setup({ live: 'blue', raw: { 'dry-run': 'true' } });
    const result = await run();
    expect(result).toMatchObject({ status: 'planned', exitCode: 0, color: 'blue' });
    expect(result.plan).toContain(UP_GREEN);
    expect(result.plan).toContain(STOP_BLUE);
    expect(result.plan.join('\n')).toContain('server app-green:8001;');
    expect(host.changes).toEqual([]);
    expect(files.writes).toEqual([]);
    expect(locks.events).toEqual([]);
  });
});

describe('cancelled (SIGINT/SIGTERM)', () => {
  /** Cancels the run right after the nth command that matches pattern. */
  async function cancelledWhen(pattern: RegExp, raw: RawInputs = {}, nth = 1) {
    const s = await setup({ live: 'blue', raw });
    const controller = new AbortController();
    const seen: (AbortSignal | undefined)[] = [];
    const original = s.host.run.bind(s.host);
    s.host.run = async (file, args, options) => {
      seen.push(options.signal);
      const result = await original(file, args, options);
      if (pattern.test(result.command) && --nth === 0) controller.abort(new Error('SIGTERM'));
      return result;
    };
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    return { ...s, result, seen };
  }

  it('during the health check: stops probing, stops the new color, traffic untouched', async () => {
    // The second listing of green's containers is the one just before probing.
    const { host, result, clock } = await cancelledWhen(/ps -a -q app-green$/, { 'health-timeout': '60' }, 2);
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/cancelled \(SIGTERM\)/);
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeLessThan(5_000);
    expect(host.changes).toEqual([UP_GREEN, STOP_GREEN]);
  });

  it('right after the reload: switched back, new color stopped', async () => {
    const { host, result, clock } = await cancelledWhen(/nginx -s reload$/);
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/cancelled \(SIGTERM\) before verify/);
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeLessThan(1_000);
    expect(result.phases.map((p) => p.name)).toEqual(['detect', 'up', 'health', 'switch', 'restore']);
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('during nginx -T: said to be cancelled, not a rejected include; the include restored', async () => {
    const s = await setup({ live: 'blue' });
    const controller = new AbortController();
    // What the runner returns for a command ended by the cancel: a failure with no Nginx message.
    s.host.fail(/nginx -T$/, { exitCode: 143, stderr: '' });
    const original = s.host.run.bind(s.host);
    s.host.run = async (file, args, options) => {
      if (args.includes('-T')) controller.abort(new Error('SIGTERM'));
      return original(file, args, options);
    };
    const result = await execute(s.config, { ...s.deps, signal: controller.signal });
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/cancelled \(SIGTERM\) during switch/);
    expect(result.error).not.toMatch(/rejected/);
    expect(s.files.data.get(INCLUDE)).toContain('server app-blue:8000;');
    expect(s.host.changes).toEqual([UP_GREEN, STOP_GREEN]);
  });

  it('commands of the forward steps get the signal, those of the undo do not', async () => {
    const { seen, result } = await cancelledWhen(/nginx -s reload$/);
    expect(result.status).toBe('rolled-back');
    expect(seen.slice(0, 3).every((s) => s !== undefined)).toBe(true);
    expect(seen.at(-1)).toBeUndefined();
  });
});

describe('one deploy at a time', () => {
  it('a deploy holds the lock of its proxies from before detection to the end, also when it fails', async () => {
    const ok = await setup({ live: 'blue' });
    await ok.run();
    expect(ok.locks.events).toEqual(['acquire proxy:proxy', 'release proxy:proxy']);
    const failing = await setup({ live: 'blue', raw: { 'health-timeout': '1' } });
    failing.host.appStatus.set('app-green', 500);
    expect((await failing.run()).status).toBe('rolled-back');
    expect(failing.locks.events).toEqual(['acquire proxy:proxy', 'release proxy:proxy']);
  });

  it('takes one key per proxy, so deploys that share any proxy exclude each other', async () => {
    const targets = '- container: proxy\n  file: nginx/service-url.inc\n- container: edge\n  path: /etc/nginx/x.inc';
    const raw = { 'nginx-targets': targets, 'nginx-container': '', 'upstream-file': '' };
    const s = await setup({ live: 'blue', raw });
    s.host.addProxy('edge');
    await s.run();
    expect(s.locks.events[0]).toBe('acquire proxy:edge proxy:proxy');
  });

  it('status takes no lock but reports who holds one', async () => {
    const s = await setup({ live: 'blue', raw: { command: 'status' } });
    const view = { pid: 4242, host: 'ci-2', user: 'runner', since: '2025-01-01T00:00:00.000Z', command: 'deploy' };
    s.locks.held = [
      { key: 'proxy:proxy', holder: { ...view, token: 't' } },
      { key: 'proxy:other', holder: { ...view, token: 'u' } },
    ];
    const result = await s.run();
    expect(result).toMatchObject({ status: 'unchanged', exitCode: 0 });
    expect(result.locks).toEqual([{ key: 'proxy:proxy', ...view }]);
    expect(s.log.text).toMatch(
      /Deploy lock proxy:proxy is held by a deploy \(process 4242 of user runner on host ci-2 /,
    );
    expect(s.locks.events).toEqual([]);
  });

  it('a lock that cannot be had: nothing changed, exit 1', async () => {
    const s = await setup({ live: 'blue' });
    s.locks.acquire = async () => {
      throw new Error('another deploy to the same proxies is running (process 42)');
    };
    const result = await s.run();
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(result.error).toMatch(/another deploy to the same proxies is running \(process 42\)\nNothing was changed\./);
    expect(s.host.calls).toEqual([]);
  });
});

describe('compose v1 and v2', () => {
  it('auto uses docker compose (v2) when it answers', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.composeV2 = true;
    await run();
    expect(host.calls[0]).toBe('docker compose version');
    expect(host.changes[0]).toBe(
      `docker compose -f docker-compose.yml -f ${WD}/docker-compose.green.yml up -d --no-deps --build app-green`,
    );
    expect(host.changes[2]).toBe(`docker compose -f docker-compose.yml -f ${WD}/docker-compose.blue.yml stop app-blue`);
  });

  it('auto falls back to docker-compose (v1)', async () => {
    const { host, run } = await setup({ live: 'blue' });
    await run();
    expect(host.calls.slice(0, 2)).toEqual(['docker compose version', 'docker-compose version']);
    expect(host.changes[0]).toBe(UP_GREEN);
  });

  it('an explicit compose-command is used without probing', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'compose-command': 'docker compose' } });
    host.composeV2 = true;
    await run();
    expect(host.calls[0]).not.toMatch(/version/);
    expect(host.changes[0]).toMatch(/^docker compose -f /);
  });

  it('no compose at all: a clear failure, nothing changed', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.fail(/docker-compose version/);
    const result = await run();
    expect(result.error).toMatch(/Neither "docker compose" nor "docker-compose" answered/);
    expect(host.changes).toEqual([]);
  });
});

describe('traffic truth: every proxy checked through itself after the switch', () => {
  it('a proxy that answers 502 from the new color (pointed at itself): rolled back, old color serves', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue', rolledBack: true });
    expect(result.error).toMatch(
      /proxy did not answer as expected from green at http:\/\/127\.0\.0\.1:8080\/health within 5 s: HTTP 502, expected 200-399/,
    );
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(result.proxies[0]?.verified).toMatch(/^failed: HTTP 502/);
  });

  it('the check has its own short deadline (verify-timeout), not the health deadline', async () => {
    const { host, clock, run } = await setup({ live: 'blue', raw: { 'health-timeout': '300', 'verify-timeout': '3' } });
    host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    const before = clock.now();
    await run();
    // The new color is healthy at once: nearly all the time is the check's 3 s.
    expect(clock.now() - before).toBeLessThan(5_000);
  });

  it('color-header: an answer from the new color passes and says so; one from the old color fails', async () => {
    const good = await setup({ live: 'blue', raw: { 'color-header': 'X-Color' } });
    good.host.proxyHeaders = (color) => ({ 'x-color': color ?? '' });
    const deployed = await good.run();
    expect(deployed.status).toBe('deployed');
    expect(deployed.proxies[0]?.verified).toBe('HTTP 200 from green (X-Color)');

    const stale = await setup({ live: 'blue', raw: { 'color-header': 'X-Color' } });
    stale.host.proxyHeaders = () => ({ 'x-color': 'blue' });
    const result = await stale.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/proxy did not answer as expected from green .*: HTTP 200, but from blue \(X-Color\)/);
  });

  it('X-Bluegreen-Upstream tells the color by the address Nginx used, without the app', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.proxyHeaders = (color) => ({
      'x-bluegreen-upstream': `${host.containers.get(`app-${color}`)?.addresses[0]}:8000`,
    });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.proxies[0]?.verified).toMatch(/^HTTP 200 from green \(X-Bluegreen-Upstream 172\.18\.0\.\d+:8000\)$/);
  });

  it('an answer that does not tell its color counts only once no old worker accepts: a broken new route is caught', async () => {
    // No drain, so no check after it either: only the verify can catch it.
    const { host, run } = await setup({ live: 'blue', raw: { 'verify-timeout': '1', 'drain-seconds': '0' } });
    // For three looks after the reload the old workers still accept, and answer with what they loaded: blue, 200.
    host.oldWorkersAcceptLooks = 3;
    host.oldWorkersAnswer = true;
    host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/proxy did not answer as expected from green .*: HTTP 502/);
  });

  it("a first deploy says it is done only once the old workers (the proxy's placeholder) no longer accept", async () => {
    const { host, run } = await setup();
    host.oldWorkersAcceptLooks = 3;
    host.proxyHeaders = (color) => ({
      'x-bluegreen-upstream': `${host.containers.get(`app-${color}`)?.addresses[0]}:8000`,
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(host.proxies.get('proxy')?.lingering.looks).toBe(0);
  });

  it('with drain-seconds 0, the old color is stopped only once no old worker takes requests', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'drain-seconds': '0' } });
    host.oldWorkersAcceptLooks = 3;
    host.proxyHeaders = (color) => ({
      'x-bluegreen-upstream': `${host.containers.get(`app-${color}`)?.addresses[0]}:8000`,
    });
    let stillAccepting: number | undefined;
    const original = host.run.bind(host);
    host.run = async (file, args, options) => {
      if ([file, ...args].join(' ') === STOP_BLUE) stillAccepting = host.proxies.get('proxy')?.lingering.looks;
      return original(file, args, options);
    };
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    // The verify passed at its first answer (from green); the old workers were then waited out before the stop.
    expect(result.proxies[0]?.verified).toMatch(/^HTTP 200 from green/);
    expect(stillAccepting).toBe(0);
    const tops = host.calls.slice(host.calls.indexOf(RELOAD), host.calls.indexOf(STOP_BLUE));
    expect(tops.filter((c) => c === 'docker top proxy')).toHaveLength(4);
  });

  it('right after the reload the old workers may still answer from the old color: asked again within 20 ms', async () => {
    const { host, run } = await setup({ live: 'blue' });
    // Nginx lets its old workers accept for 100 ms after a reload: the first two answers still come from blue.
    let stale = 2;
    host.proxyHeaders = (color) => {
      const answered = color === 'green' && stale-- > 0 ? 'blue' : color;
      return { 'x-bluegreen-upstream': `${host.containers.get(`app-${answered}`)?.addresses[0]}:8000` };
    };
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.proxies[0]?.verified).toMatch(/^HTTP 200 from green/);
    // Two answers from blue, each asked again 20 ms later (not at the 0.2 s interval), then green's.
    expect(result.phases.find((p) => p.name === 'verify')?.ms).toBe(40);
  });

  it('an answer whose upstream is neither color (another server block or app) fails the check', async () => {
    const { host, run } = await setup({ live: 'blue', raw: { 'verify-timeout': '2' } });
    host.proxyHeaders = () => ({ 'x-bluegreen-upstream': '172.30.9.9:8000' });
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(
      /HTTP 200, but the color is unknown \(X-Bluegreen-Upstream 172\.30\.9\.9:8000 is not an address of either color\)/,
    );
  });

  it('a reload that cannot be confirmed and an answer that does not tell its color: it must hold for 1 s', async () => {
    const { host, run } = await setup({ live: 'blue' });
    host.fail(/^docker top /, { exitCode: 1, stderr: 'Error: top is not supported' }, 99);
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.phases.find((p) => p.name === 'verify')?.ms).toBeGreaterThanOrEqual(1_000);
    const confirmed = await setup({ live: 'blue' });
    const quick = await confirmed.run();
    expect(quick.phases.find((p) => p.name === 'verify')?.ms).toBe(0);
  });

  it('the new color goes down during the drain: the old color, not yet stopped, takes the traffic back', async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    onDrain(clock, host, () => {
      const green = host.containers.get('app-green');
      if (green) Object.assign(green, { running: false, status: 'exited', exitCode: 137 });
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(
      /green stopped during the drain: container app_app-green_1 is exited \(exit code 137\)/,
    );
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.containers.get('app-blue')?.running).toBe(true);
    expect(host.changes).not.toContain(STOP_BLUE);
  });

  it('a proxy that stops answering from the new color during the drain: switched back before the old color stops', async () => {
    const { host, clock, run } = await setup({ live: 'blue' });
    onDrain(clock, host, () => (host.proxyAnswer = (color) => (color === 'green' ? 500 : 200)));
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(
      /proxy did not answer as expected from green at \S+ after the drain within 5 s: HTTP 500/,
    );
    expect(host.servedColor('proxy')).toBe('blue');
    expect(host.changes).toEqual([UP_GREEN, RELOAD, RELOAD, STOP_GREEN]);
  });

  it('a proxy that publishes no port: NOT VERIFIED (auto), said in the log and the result', async () => {
    const { host, log, run } = await setup({ live: 'blue' });
    host.addProxy('proxy', { [MOUNTED]: INCLUDE }, {}, { published: {} });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.proxies[0]?.verified).toMatch(/^NOT VERIFIED: publishes no port for 80/);
    expect(log.text).toMatch(/NOT VERIFIED: proxy publishes none of the ports it listens on \(80\)/);
  });

  it('verify-proxies required: a proxy that cannot be checked stops the deploy before any reload', async () => {
    const { host, files, run } = await setup({ live: 'blue', raw: { 'verify-proxies': 'required' } });
    host.addProxy('proxy', { [MOUNTED]: INCLUDE }, {}, { published: {} });
    const before = files.data.get(INCLUDE);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1, color: 'blue' });
    expect(result.error).toMatch(/give it a verify-url in nginx-targets \(verify-proxies: required\)/);
    expect(host.changes).toEqual([UP_GREEN, STOP_GREEN]);
    expect(files.data.get(INCLUDE)).toBe(before);
  });

  it('a proxy that publishes nothing is checked at its own verify-url from nginx-targets', async () => {
    const targets = `- container: proxy\n  file: nginx/service-url.inc\n  verify-url: http://10.1.2.3:8080/health`;
    const { host, run } = await setup({
      live: 'blue',
      raw: { 'nginx-targets': targets, 'nginx-container': '', 'upstream-file': '', 'verify-proxies': 'required' },
    });
    host.addProxy('proxy', { [MOUNTED]: INCLUDE }, {}, { published: {} });
    const seen: string[] = [];
    const get = host.get.bind(host);
    host.get = async (url) => {
      seen.push(url);
      return get(url);
    };
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(seen).toContain('http://10.1.2.3:8080/health');
  });

  it('verify-proxies off: nothing is checked, and the log and result say so', async () => {
    const { host, log, run } = await setup({ live: 'blue', raw: { 'verify-proxies': 'off' } });
    host.proxyAnswer = () => 502;
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(result.phases.map((p) => p.name)).not.toContain('verify');
    expect(result.proxies[0]?.verified).toBe('not checked (verify-proxies: off)');
    expect(log.text).toMatch(/verify-proxies is off: no proxy is checked after the switch/);
  });

  it("pins Compose's environment on every compose call (no orphan removal, whatever the agent or .env says)", async () => {
    const { host, run } = await setup({ live: 'blue', raw: { cleanup: 'down' } });
    const envs: { command: string; env?: Record<string, string> }[] = [];
    const original = host.run.bind(host);
    host.run = async (file, args, options) => {
      if (file === 'docker-compose' && args[0] !== 'version') envs.push({ command: args.join(' '), env: options.env });
      return original(file, args, options);
    };
    await run();
    expect(envs.map((e) => e.command)).toEqual(
      expect.arrayContaining([
        expect.stringContaining(' ps -a -q app-blue'),
        expect.stringContaining(' up -d '),
        expect.stringContaining(' rm --stop --force app-blue'),
      ]),
    );
    for (const { command, env } of envs) {
      expect(env, command).toMatchObject({ COMPOSE_REMOVE_ORPHANS: 'false', COMPOSE_IGNORE_ORPHANS: 'true' });
    }
  });
});

describe('first deploys on a repository as committed', () => {
  const BLUE_BY_HAND = 'upstream app {\n    server app-blue:8000;\n}\n';

  it('an include naming a color that does not run is not live: with nothing running, a first deploy', async () => {
    const { host, files, log, run } = await setup();
    files.put(INCLUDE, BLUE_BY_HAND);
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(result.previousColor).toBeUndefined();
    expect(log.text).toMatch(/An include points at blue, which is not running: blue is not live\./);
    expect(host.changes[0]).toBe('docker-compose -f docker-compose.yml up -d --no-deps --no-recreate proxy db');
  });

  it('a live color with one of its services down is still live (never taken for a first deploy)', async () => {
    const { host, files, run } = await setup({ live: 'blue' });
    files.put(`${WD}/docker-compose.blue.yml`, 'services:\n  app-blue:\n    build: .\n  worker-blue:\n    build: .\n');
    host.addRunning('worker-blue', false);
    const result = await run();
    expect(result).toMatchObject({ previousColor: 'blue', color: 'green', status: 'deployed' });
    expect(host.changes[0]).toBe(UP_GREEN);
  });

  it('an include naming a stopped color while the other runs: the running color is live', async () => {
    const { host, files, run } = await setup({ live: 'green', idleStopped: true });
    files.put(INCLUDE, BLUE_BY_HAND);
    const result = await run();
    expect(result).toMatchObject({ previousColor: 'green', color: 'blue', status: 'deployed' });
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it('a proxy that is a shared service starts only once its include names the new color, then is checked', async () => {
    const { host, files, run } = await setup();
    files.put(
      `${WD}/docker-compose.yml`,
      'services:\n  proxy:\n    image: nginx\n    container_name: proxy\n  db:\n    image: postgres\n',
    );
    files.put(INCLUDE, BLUE_BY_HAND);
    host.proxies.delete('proxy');
    host.composeProxies.set('proxy', { container: 'proxy', mounts: { [MOUNTED]: INCLUDE } });
    host.nginxCannotStart = (c) => c.includes('app-blue:8000') && !host.containers.get('app-blue')?.running;
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(host.changes).toEqual([
      'docker-compose -f docker-compose.yml up -d --no-deps --no-recreate db',
      UP_BLUE,
      'docker-compose -f docker-compose.yml up -d --no-deps --no-recreate proxy',
    ]);
    expect(host.servedColor('proxy')).toBe('blue');
    expect(result.proxies[0]?.verified).toBe('HTTP 200 (color not told)');
  });

  it('a proxy crash-looping on the committed include: the include is written, the proxy restarted and checked', async () => {
    const { host, files, run } = await setup();
    files.put(INCLUDE, BLUE_BY_HAND);
    host.nginxCannotStart = (c) => c.includes('app-blue:8000') && !host.containers.get('app-blue')?.running;
    host.setProxyStatus('proxy', 'restarting');
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(host.changes.slice(1)).toEqual([UP_BLUE, 'docker restart --time 10 proxy']);
    expect(host.servedColor('proxy')).toBe('blue');
  });

  it.each([
    ['v1', 'shop-prod_x_proxy_1'],
    ['v2', 'shop-prod_x-proxy-1'],
  ])('a shared-service proxy without container_name is known by the name compose %s gives it', async (_, name) => {
    const { host, files, run } = await setup({ raw: { 'project-name': 'shop-prod_x', 'nginx-container': name } });
    files.put(INCLUDE, BLUE_BY_HAND);
    host.proxies.delete('proxy');
    host.composeProxies.set('proxy', { container: name, mounts: { [MOUNTED]: INCLUDE } });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(host.changes.at(-1)).toBe(
      'docker-compose -p shop-prod_x -f docker-compose.yml up -d --no-deps --no-recreate proxy',
    );
  });

  it('a crash-looping proxy caught running between two restarts is still restarted after its include is written', async () => {
    const { host, files, clock, run } = await setup();
    files.put(INCLUDE, BLUE_BY_HAND);
    host.nginxCannotStart = (c) => c.includes('app-blue:8000') && !host.containers.get('app-blue')?.running;
    host.crashLoopCaughtRunning('proxy', clock.now() - 200);
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(host.changes).toContain('docker restart --time 10 proxy');
  });

  it('a proxy that Docker restarted long ago is running, not crash-looping', async () => {
    const { host, clock, run } = await setup();
    host.crashLoopCaughtRunning('proxy', clock.now() - 3_600_000);
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(host.changes).toContain(RELOAD);
    expect(host.changes.join('\n')).not.toContain('docker restart');
  });

  it('the include content decides over a marker left by an emergency hand edit', async () => {
    const { host, files, log, run } = await setup({ live: 'green', idleStopped: true });
    host.addRunning('app-blue');
    host.addRunning('app-green', false);
    files.put(INCLUDE, `# bluegreen-action: color=green port=8001\n${BLUE_BY_HAND}`);
    const result = await run();
    expect(result).toMatchObject({ previousColor: 'blue', color: 'green', status: 'deployed' });
    expect(log.text).toMatch(
      /says green in its marker line but points at blue \(edited by hand\?\): its content decides\./,
    );
    expect(host.changes[0]).toBe(UP_GREEN);
  });
});
