// The traffic watch after the switch (issue 11) on a real engine, real Compose and a real Nginx: the proxies' access
// logs during the drain (and watch-seconds) judge the new color; a bad release (every other request a 500, or too
// slow) is rolled back under load without losing a request, a good one passes, and a proxy that logs nothing, or
// too little traffic, is reported as such without failing the deploy.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, TrafficView } from '../../src/engine/result.js';
import { runAction, type CliRun } from './support/action.js';
import { cli, freshLoad, serviceStates, trafficOf } from './support/result.js';
import { NO_COLOR, non200ByColor, startLoad, type LoadReport, type LoadRun } from './support/load.js';
import { describeLoad, expectServes, reloadByHand } from './support/scenarios.js';
import { createStack, runningColors, servedColor, type Stack } from './support/stack.js';

type Color = 'blue' | 'green';

/** The access_log line of the proxy's server block (examples/nginx/default.conf: `access_log /dev/stdout bluegreen;`). */
const ACCESS_LOG = /^([ \t]*)access_log [^;]*;/m;

function other(color: Color): Color {
  return color === 'blue' ? 'green' : 'blue';
}

async function live(stack: Stack): Promise<Color> {
  const color = await servedColor(stack.proxyUrl);
  if (color !== 'blue' && color !== 'green') throw new Error(`the proxy serves ${color}`);
  return color;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** Stops the load shortly after the run (traffic goes on where the run left it), and logs what it saw. */
async function stopLoad(load: LoadRun, label: string): Promise<LoadReport> {
  await sleep(500);
  const report = await load.stop();
  console.log(`${describeLoad(label, report)}; by color and status: ${JSON.stringify(report.byColorStatus)}`);
  return report;
}

/**
 * Nothing lost: no connection error, timeout or dropped request, and Nginx itself answered nothing (no 502/504, no
 * answer without X-Color). Any non-200 came from `bad` (its 500s), when given; else there is none.
 *
 * `keepAlive`: the load ran on keep-alive connections, whose drops are not counted. At a reload the old Nginx
 * workers close their keep-alive connections (an idle one at once, a busy one after its answer, which says
 * `Connection: close`), and autocannon, which writes its next request the moment an answer ends and ignores
 * `Connection: close`, loses the request it wrote to a connection being closed: the keep-alive race of RFC 9112
 * 9.3.1, which HTTP clients meet by retrying on a new connection. One or a few per connection and reload (8 to 16
 * seen with 4 connections through the switch and the rollback). The load on fresh connections shows that the switch
 * and the rollback themselves lose nothing.
 */
function expectNothingLost(report: LoadReport, bad?: Color, opts: { keepAlive?: boolean } = {}): void {
  expect(report.connErrors, 'connection errors').toBe(0);
  expect(report.timeouts, 'timeouts').toBe(0);
  if (!opts.keepAlive) expect(report.dropped, 'dropped requests').toBe(0);
  expect(report.byColor[NO_COLOR], 'answers from Nginx itself').toBeUndefined();
  const non200 = non200ByColor(report);
  if (bad) expect(Object.keys(non200).filter((k) => k !== `${bad} 500`)).toEqual([]);
  else expect(non200).toEqual({});
}

function expectProxyWatched(stack: Stack, t: TrafficView, format: 'combined' | 'bluegreen'): void {
  expect(t.proxies).toHaveLength(1);
  expect(t.proxies[0]).toMatchObject({ container: stack.proxyContainer, watched: true, format });
  expect(t.proxies[0]?.lines).toBeGreaterThan(0);
}

/** A deploy rolled back by the watch: exit 1, the old color serves and runs alone, the new one was stopped. */
async function expectRolledBack(
  stack: Stack,
  { run, result }: { run: CliRun; result: Result },
  from: Color,
  to: Color,
): Promise<TrafficView> {
  expect(run.exitCode, run.stderr).toBe(1);
  expect(result).toMatchObject({
    status: 'rolled-back',
    exitCode: 1,
    rolledBack: true,
    color: from,
    previousColor: from,
    targetColor: to,
  });
  expect(result.error).toMatch(/traffic watch/i);
  const t = trafficOf(run, result);
  expect(t.verdict).toBe('failed');
  expect(t.color).toBe(to);
  expect(t.windowMs).toBeGreaterThan(0);
  await expectServes(stack.proxyUrl, from);
  expect(await runningColors(stack)).toEqual([from]);
  expect(await serviceStates(stack, `app-${to}`), `${to} was stopped, not removed`).toEqual(['exited']);
  return t;
}

/** Writes the stack's nginx/default.conf with its access_log line replaced (read at the proxy's next start or reload). */
async function setAccessLog(stack: Stack, line: string): Promise<void> {
  const file = path.join(stack.dir, 'nginx/default.conf');
  const conf = await fs.readFile(file, 'utf8');
  if (!ACCESS_LOG.test(conf)) throw new Error(`no access_log line in ${file}:\n${conf}`);
  await fs.writeFile(file, conf.replace(ACCESS_LOG, `$1${line}`));
}

/** A stack whose first deploy (blue) is done. */
async function deployedStack(accessLog?: string): Promise<Stack> {
  const stack = await createStack();
  if (accessLog) {
    await setAccessLog(stack, accessLog);
    await stack.startShared();
  }
  const first = await cli(stack, stack.inputs);
  expect(first.run.exitCode, first.run.stderr).toBe(0);
  expect(first.result).toMatchObject({ status: 'deployed', color: 'blue' });
  await expectServes(stack.proxyUrl, 'blue');
  return stack;
}

describe('the traffic watch after the switch', () => {
  describe('with the example config (the bluegreen log format)', () => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await deployedStack();
    });
    afterAll(async () => stack?.cleanup());

    it('a bad release (every other request a 500) is rolled back under load, and the rollback loses nothing', async () => {
      const from = await live(stack);
      const to = other(from);
      await stack.setAppEnv(to, { FAIL_EVERY: '2' });
      try {
        // Keep-alive clients too, through both Nginx reloads (the switch, the rollback): see expectNothingLost.
        const keepAlive = startLoad({ url: `${stack.proxyUrl}/`, connections: 4 });
        const load = await freshLoad(`${stack.proxyUrl}/`, 4);
        const started = Date.now();
        const deploy = await cli(stack, { ...stack.inputs, 'watch-seconds': '4' });
        console.log(`bad release: done in ${seconds(started)}: ${deploy.result.error}`);
        const report = await stopLoad(load, `${from} → ${to} (FAIL_EVERY=2) → ${from}, fresh connections`);
        const keptReport = await stopLoad(keepAlive, `the same, keep-alive connections`);

        const t = await expectRolledBack(stack, deploy, from, to);
        console.log(`traffic: ${JSON.stringify(t)}`);
        expect(t.requests).toBeGreaterThanOrEqual(20);
        expect(t.errors).toBeGreaterThan(0);
        expect(t.errorRate).toBeGreaterThan(30);
        expect(t.errorRate).toBeLessThan(70);
        expect(t.errorRate).toBeCloseTo((100 * t.errors) / t.requests, 1);
        // The figures are in the error.
        expect(deploy.result.error).toContain(String(t.requests));
        expect(deploy.result.error).toContain(`${t.errorRate?.toFixed(1)}%`);
        expect(t.detail).not.toContain('\n');
        expect(t.steps.length).toBeGreaterThan(0);
        expect(t.steps.some((s) => (s.colors[to]?.errors ?? 0) > 0)).toBe(true);
        expectProxyWatched(stack, t, 'bluegreen');

        // What the watch counted for the new color, the load saw the new color answer (none of the old color's
        // answers, none of the tool's own requests counted).
        const seen = (r: LoadReport, status?: string) =>
          status ? (r.byColorStatus[to]?.[status] ?? 0) : (r.byColor[to]?.count ?? 0);
        expect(t.requests).toBeLessThanOrEqual(seen(report) + seen(keptReport));
        expect(t.errors).toBeLessThanOrEqual(seen(report, '500') + seen(keptReport, '500'));

        // The load: the bad release's 500s and nothing else; traffic went to it and came back.
        expectNothingLost(report, to);
        expect(report.byColorStatus[to]?.['500']).toBeGreaterThan(0);
        expect(report.byColorStatus[from]?.['200']).toBeGreaterThan(0);
        expect(report.byColor[from]?.lastAt).toBeGreaterThan(report.byColor[to]?.lastAt ?? Infinity);
        expectNothingLost(keptReport, to, { keepAlive: true });
        expect(keptReport.byColorStatus[to]?.['500']).toBeGreaterThan(0);
        expect(keptReport.byColor[from]?.lastAt).toBeGreaterThan(keptReport.byColor[to]?.lastAt ?? Infinity);
      } finally {
        await stack.setAppEnv(to, {});
      }
    });

    it('a good release passes the watch: deployed, no errors, and the action outputs its figures', async () => {
      const from = await live(stack);
      const to = other(from);
      const load = await freshLoad(`${stack.proxyUrl}/`);
      const deploy = await cli(stack, { ...stack.inputs, 'watch-seconds': '3' });
      const report = await stopLoad(load, `${from} → ${to}, fresh connections`);

      expect(deploy.run.exitCode, deploy.run.stderr).toBe(0);
      expect(deploy.result).toMatchObject({ status: 'deployed', color: to, previousColor: from });
      const t = trafficOf(deploy.run, deploy.result);
      console.log(`traffic: ${JSON.stringify(t)}`);
      expect(t).toMatchObject({ verdict: 'passed', color: to, errors: 0, errorRate: 0 });
      expect(t.requests).toBeGreaterThanOrEqual(20);
      expect(t.requests).toBeLessThanOrEqual(report.byColor[to]?.count ?? 0);
      expect(t.p95Ms).toBeGreaterThanOrEqual(0);
      expect(t.windowMs, 'the watch lasts watch-seconds').toBeGreaterThanOrEqual(2_900);
      expectProxyWatched(stack, t, 'bluegreen');
      expectNothingLost(report);
      await expectServes(stack.proxyUrl, to);
      expect(await runningColors(stack)).toEqual([to]);

      // The action, back again: its outputs.
      const back = await freshLoad(`${stack.proxyUrl}/`);
      const run = await runAction({ ...stack.inputs, 'watch-seconds': '2' }, { cwd: stack.dir });
      const backReport = await stopLoad(back, `${to} → ${from} (action), fresh connections`);
      expect(run.exitCode, run.stdout).toBe(0);
      expect(run.outputs).toMatchObject({ status: 'deployed', color: from, 'error-rate': '0.0' });
      expect(Number(run.outputs['requests-observed'])).toBeGreaterThanOrEqual(20);
      expect(Number(run.outputs['requests-observed'])).toBeLessThanOrEqual(backReport.byColor[from]?.count ?? 0);
      expectNothingLost(backReport);
    });

    it('without traffic: "too few requests", and the deploy goes on (the tool\'s own requests are not counted)', async () => {
      const from = await live(stack);
      const to = other(from);
      const deploy = await cli(stack, stack.inputs);
      expect(deploy.run.exitCode, deploy.run.stderr).toBe(0);
      expect(deploy.result).toMatchObject({ status: 'deployed', color: to, previousColor: from });
      expect(deploy.result.error).toBeUndefined();
      const t = trafficOf(deploy.run, deploy.result);
      console.log(`traffic: ${JSON.stringify(t)}`);
      expect(t).toMatchObject({ verdict: 'too few requests', color: to });
      // Nothing but the tool itself (its check through the proxy) sent a request.
      expect(t.requests, 'requests with User-Agent bluegreen-action are not counted').toBe(0);
      expect(t.proxies[0]).toMatchObject({ container: stack.proxyContainer, watched: true, format: 'bluegreen' });
      await expectServes(stack.proxyUrl, to);
    });

    it('max-latency-ms: a release whose p95 is above it is rolled back', async () => {
      const from = await live(stack);
      const to = other(from);
      const load = await freshLoad(`${stack.proxyUrl}/slow?ms=300`);
      const deploy = await cli(stack, {
        ...stack.inputs,
        'watch-seconds': '3',
        'min-requests': '5',
        'max-latency-ms': '100',
      });
      console.log(`slow release: ${deploy.result.error}`);
      const report = await stopLoad(load, `${from} → ${to} → ${from}, /slow?ms=300, fresh connections`);

      const t = await expectRolledBack(stack, deploy, from, to);
      console.log(`traffic: ${JSON.stringify(t)}`);
      expect(deploy.result.error).toMatch(/p95/);
      expect(t.requests).toBeGreaterThanOrEqual(5);
      expect(t.errors).toBe(0);
      expect(t.p95Ms).toBeGreaterThanOrEqual(250);
      expectNothingLost(report);
    });
  });

  describe('with other access_log settings', () => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await deployedStack('access_log /dev/stdout combined;');
    });
    afterAll(async () => stack?.cleanup());

    it('the combined format: a bad release is rolled back all the same', async () => {
      const from = await live(stack);
      const to = other(from);
      await stack.setAppEnv(to, { FAIL_EVERY: '2' });
      try {
        const load = await freshLoad(`${stack.proxyUrl}/`);
        const deploy = await cli(stack, { ...stack.inputs, 'watch-seconds': '4' });
        const report = await stopLoad(load, `${from} → ${to} (FAIL_EVERY=2) → ${from}, combined format`);

        const t = await expectRolledBack(stack, deploy, from, to);
        console.log(`traffic: ${JSON.stringify(t)}`);
        expect(t.requests).toBeGreaterThanOrEqual(20);
        // The combined format tells no upstream: the old color's requests that end after the reload count for the
        // new color too, and dilute its 50% (28% seen on Engine 26); still far above max-error-rate.
        expect(t.errorRate).toBeGreaterThan(15);
        expect(t.errorRate).toBeLessThan(70);
        expectProxyWatched(stack, t, 'combined');
        expectNothingLost(report, to);
      } finally {
        await stack.setAppEnv(to, {});
      }
    });

    it('access_log off: the proxy is "not watched", and the deploy goes on', async () => {
      await setAccessLog(stack, 'access_log off;');
      await reloadByHand(stack.proxyContainer);
      const from = await live(stack);
      const to = other(from);
      const load = await freshLoad(`${stack.proxyUrl}/`, 2);
      const deploy = await cli(stack, stack.inputs);
      const report = await stopLoad(load, `${from} → ${to}, access_log off`);

      expect(deploy.run.exitCode, deploy.run.stderr).toBe(0);
      expect(deploy.result).toMatchObject({ status: 'deployed', color: to, previousColor: from });
      const t = trafficOf(deploy.run, deploy.result);
      console.log(`traffic: ${JSON.stringify(t)}`);
      expect(t.verdict).toBe('not watched');
      expect(t.proxies).toHaveLength(1);
      expect(t.proxies[0]).toMatchObject({ container: stack.proxyContainer, watched: false, lines: 0 });
      expect(t.proxies[0]?.note).toBeTruthy();
      expect(deploy.run.stderr).toMatch(/not watched/);
      expectNothingLost(report);
      await expectServes(stack.proxyUrl, to);
    });
  });
});
