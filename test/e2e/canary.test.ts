// Canary steps before the switch (issue 11) on a real engine, real Compose and a real Nginx: each step splits every
// proxy's requests between the live color and the new one (an upstream with weights, or a `set` that a share of
// $request_id overrides), watches that step's requests with the gate of the traffic watch, and goes on to the full
// switch; a bad release is sent back to the old color at its first step without losing a request. The load through
// the proxies sees the colors in the proportions of each step.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, TrafficStep, TrafficView } from '../../src/engine/result.js';
import type { CliRun } from './support/action.js';
import { COMPOSE } from './support/compose.js';
import { cli, freshLoad, parseResult, serviceStates, trafficOf } from './support/result.js';
import { docker } from './support/docker.js';
import {
  colorShare,
  NO_COLOR,
  non200ByColor,
  type LoadReport,
  type LoadRun,
  type TimelineEntry,
} from './support/load.js';
import { cliFlags, describeLoad, expectServes, startCli, type SeedStack } from './support/scenarios.js';
import { createSeedStack, createStack, runningColors, type Stack } from './support/stack.js';

type Color = 'blue' | 'green';

/** Answers this close to a step's start (its reload) are left out of its proportions. */
const EDGE_MS = 300;

/** The deploy started in the background, its log lines timed as they come (to act during a step). */
function startDeploy(stack: Stack, inputs: Record<string, string>) {
  const live = startCli(['deploy', '--json', ...cliFlags(inputs)], stack.dir);
  return {
    live,
    async done(): Promise<{ run: CliRun; result: Result; exitedAt: number }> {
      const r = await live.done;
      const run = { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
      return { run, result: parseResult(run), exitedAt: r.exitedAt };
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
 */
function expectNothingLost(report: LoadReport, bad?: Color): void {
  expect(report.connErrors, 'connection errors').toBe(0);
  expect(report.timeouts, 'timeouts').toBe(0);
  expect(report.dropped, 'dropped requests').toBe(0);
  expect(report.byColor[NO_COLOR], 'answers from Nginx itself').toBeUndefined();
  const non200 = non200ByColor(report);
  if (bad) expect(Object.keys(non200).filter((k) => k !== `${bad} 500`)).toEqual([]);
  else expect(non200).toEqual({});
}

function stepNamed(t: TrafficView, name: string): TrafficStep {
  const step = t.steps.find((s) => s.name === name);
  if (!step) throw new Error(`no step ${name} in ${JSON.stringify(t.steps.map((s) => s.name))}`);
  return step;
}

/** Percent of a step's answers (in the load's timeline) that `color` gave, from EDGE_MS after its start to its end. */
function shareDuring(timeline: readonly TimelineEntry[], step: TrafficStep, color: Color) {
  const start = Date.parse(step.startedAt);
  const { total, byColor } = colorShare(timeline, start + EDGE_MS, start + step.ms);
  return { total, byColor, percent: total ? (100 * (byColor[color] ?? 0)) / total : NaN };
}

/** Percent of the new color's requests in a step, as the tool counted them in the proxies' access logs. */
function toolShare(step: TrafficStep, color: Color): number {
  const all = Object.values(step.colors).reduce((sum, c) => sum + c.requests, 0);
  return all ? (100 * (step.colors[color]?.requests ?? 0)) / all : NaN;
}

/** The share each canary step gives the new color, within these bounds (percent). */
const BOUNDS: Record<number, [number, number]> = { 10: [4, 20], 50: [35, 65] };

function expectShare(label: string, seen: { total: number; percent: number }, percent: number): void {
  const [low, high] = BOUNDS[percent] ?? [percent - 15, percent + 15];
  expect(seen.total, `${label}: answers in the step`).toBeGreaterThanOrEqual(50);
  expect(seen.percent, `${label}: the new color's share`).toBeGreaterThanOrEqual(low);
  expect(seen.percent, `${label}: the new color's share`).toBeLessThanOrEqual(high);
}

/** The phases' names, in order, from `health` on. */
function phasesFromHealth(result: Result): string[] {
  const names = result.phases.map((p) => p.name);
  return names.slice(names.lastIndexOf('health'));
}

describe('canary steps before the switch', () => {
  describe('the upstream form (weights on the server lines)', () => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await createStack();
      const first = await cli(stack, stack.inputs);
      expect(first.run.exitCode, first.run.stderr).toBe(0);
      expect(first.result).toMatchObject({ status: 'deployed', color: 'blue' });
      await expectServes(stack.proxyUrl, 'blue');
    });
    afterAll(async () => stack?.cleanup());

    it('a bad release fails its first step (10%): all requests go back to blue, green is stopped, nothing is lost', async () => {
      await stack.setAppEnv('green', { FAIL_EVERY: '2' });
      try {
        const load = await freshLoad(`${stack.proxyUrl}/`, 8, true);
        const started = Date.now();
        const deploy = await startDeploy(stack, {
          ...stack.inputs,
          'canary-steps': '10,50',
          'canary-interval': '6',
          'min-requests': '10',
        }).done();
        const { run, result } = deploy;
        console.log(`bad release: done in ${Date.now() - started} ms: ${result.error}`);
        const report = await stopLoad(load, 'blue → green 10% (FAIL_EVERY=2) → blue, fresh connections');

        expect(run.exitCode, run.stderr).toBe(1);
        expect(result).toMatchObject({
          status: 'rolled-back',
          exitCode: 1,
          rolledBack: true,
          color: 'blue',
          previousColor: 'blue',
          targetColor: 'green',
        });
        expect(result.error).toMatch(/traffic watch/i);
        const phases = phasesFromHealth(result);
        console.log(`phases: ${JSON.stringify(result.phases)}`);
        expect(phases).not.toContain('canary 50%');
        expect(phases).not.toContain('switch');
        expect(result.phases.slice(-2)).toMatchObject([
          { name: 'canary 10%', ok: false },
          { name: 'restore', ok: true },
        ]);

        const t = trafficOf(run, result);
        console.log(`traffic: ${JSON.stringify(t)}`);
        expect(t).toMatchObject({ verdict: 'failed', color: 'green' });
        expect(t.steps.map((s) => s.name)).toEqual(['canary 10%']);
        const step = stepNamed(t, 'canary 10%');
        expect(step).toMatchObject({ percent: 10, verdict: 'failed' });
        expect(step.colors.green?.requests).toBeGreaterThanOrEqual(10);
        expect(step.colors.green?.errors).toBeGreaterThan(0);
        expect(step.colors.green?.errorRate).toBeGreaterThan(30);
        expect(step.colors.green?.errorRate).toBeLessThan(70);
        expect(step.colors.blue?.errors).toBe(0);
        expect(result.error).toContain(step.detail);
        const seen = shareDuring(report.timeline, step, 'green');
        console.log(`proportions: canary 10%: load ${seen.percent.toFixed(1)}% green of ${seen.total}`);

        // Afterwards blue alone answers, and green was stopped, not removed.
        await expectServes(stack.proxyUrl, 'blue');
        expect(await runningColors(stack)).toEqual(['blue']);
        expect(await serviceStates(stack, 'app-green')).toEqual(['exited']);
        const include = await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8');
        expect(include).not.toContain('split');
        expect(include).not.toContain('app-green');

        // The load: green's 500s during the step and nothing else; after the run, blue alone.
        expectNothingLost(report, 'green');
        expect(report.byColorStatus.green?.['500']).toBeGreaterThan(0);
        const after = colorShare(report.timeline, deploy.exitedAt, Infinity);
        expect(after.total).toBeGreaterThan(0);
        expect(after.byColor).toEqual({ blue: after.total });
      } finally {
        await stack.setAppEnv('green', {});
      }
    });

    it('a good release goes through 10% and 50% in those proportions, then the switch; status shows the split', async () => {
      // status must fit in the first step: under this load it takes up to ~5 s with Compose v1, ~1 s with v2.
      const interval = COMPOSE.version === 'v1' ? 8 : 4;
      const load = await freshLoad(`${stack.proxyUrl}/`, 8, true);
      const deploy = startDeploy(stack, {
        ...stack.inputs,
        'canary-steps': '10,50',
        'canary-interval': String(interval),
        'min-requests': '10',
        // The drain ends as soon as blue's old workers are gone: the watch after the switch is given a window.
        'watch-seconds': '2',
      });
      // During the first step: what status says, and the include as written.
      await deploy.live.seen(/Watching 10% of the requests/);
      const [status, include] = await Promise.all([
        cli(stack, stack.inputs, 'status'),
        fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8'),
      ]);
      const statusDone = Date.now();
      const { run, result } = await deploy.done();
      const report = await stopLoad(load, 'blue → green 10% → 50% → 100%, fresh connections');

      expect(run.exitCode, run.stderr).toBe(0);
      expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
      console.log(`phases: ${JSON.stringify(result.phases)}`);
      const phases = phasesFromHealth(result);
      expect(phases.filter((p) => ['canary 10%', 'canary 50%', 'switch'].includes(p))).toEqual([
        'canary 10%',
        'canary 50%',
        'switch',
      ]);
      expect(result.phases.every((p) => p.ok)).toBe(true);

      // The split, while the first step ran.
      console.log(`the include during the 10% step:\n${include}`);
      expect(include.split('\n')[0]).toBe('# bluegreen-action: split blue=90 green=10');
      expect(include).toMatch(/server app-blue:8000 weight=9;/);
      expect(include).toMatch(/server app-green:8000 weight=1 max_fails=0;/);
      // status takes no lock: it sees the deploy under way, at its canary step, and the split its include holds;
      // the live color is the one the split is from (the one a failed step goes back to).
      console.log(`status during the 10% step: exit ${status.run.exitCode}, ${status.run.stdout}`);
      expect(status.run.exitCode, status.run.stderr).toBe(0);
      expect(status.result).toMatchObject({ status: 'unchanged', color: 'blue' });
      const first = stepNamed(trafficOf(run, result), 'canary 10%');
      expect(statusDone, 'status ended within the 10% step').toBeLessThan(Date.parse(first.startedAt) + first.ms);
      expect(status.result.proxies[0]?.split).toEqual({ blue: 90, green: 10 });
      expect(status.result.interrupted).toMatchObject({ phase: 'canary', from: 'blue', to: 'green', underWay: true });

      const t = trafficOf(run, result);
      console.log(`traffic: ${JSON.stringify(t)}`);
      expect(t).toMatchObject({ verdict: 'passed', color: 'green', errors: 0 });
      expect(t.steps.map((s) => [s.name, s.percent, s.verdict])).toEqual([
        ['canary 10%', 10, 'passed'],
        ['canary 50%', 50, 'passed'],
        ['after the switch', 100, 'passed'],
      ]);
      for (const step of t.steps) {
        expect(Number.isNaN(Date.parse(step.startedAt)), step.startedAt).toBe(false);
        expect(step.colors.green?.errors).toBe(0);
        expect(step.colors.blue?.errors ?? 0).toBe(0);
      }

      // The load saw each step's proportions (and so did the tool, in the access log).
      const shares: string[] = [];
      for (const percent of [10, 50]) {
        const step = stepNamed(t, `canary ${percent}%`);
        expect(step.ms, 'the step lasts canary-interval').toBeGreaterThanOrEqual(interval * 1000 - 100);
        const seen = shareDuring(report.timeline, step, 'green');
        const counted = toolShare(step, 'green');
        shares.push(
          `${step.name}: load ${seen.percent.toFixed(1)}% green of ${seen.total} ${JSON.stringify(seen.byColor)}, ` +
            `access log ${counted.toFixed(1)}% green`,
        );
        expectShare(`${step.name} (load)`, seen, percent);
        expectShare(`${step.name} (access log)`, { total: seen.total, percent: counted }, percent);
      }
      console.log(`proportions: ${shares.join('; ')}`);
      // After the switch, green alone.
      const last = stepNamed(t, 'after the switch');
      const after = colorShare(report.timeline, Date.parse(last.startedAt) + EDGE_MS, Infinity);
      expect(after.total).toBeGreaterThan(0);
      expect(after.byColor).toEqual({ green: after.total });

      expectNothingLost(report);
      await expectServes(stack.proxyUrl, 'green');
      expect(await runningColors(stack)).toEqual(['green']);
    });
  });

  describe('the seed layout: an upstream proxy and a `set $service_url` proxy', () => {
    let stack: SeedStack;

    beforeAll(async () => {
      stack = await createSeedStack();
      // The edge proxy logs its requests the way the README recommends (the test image's nginx.conf has
      // access_log off), so that its split is watched too.
      const conf = path.join(stack.dir, 'edge/default.conf');
      const text = await fs.readFile(conf, 'utf8');
      await fs.writeFile(
        conf,
        text
          .replace(
            'server {\n',
            'log_format bluegreen \'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent \'\n' +
              '                     \'"$http_referer" "$http_user_agent" upstream="$upstream_addr" \'\n' +
              '                     \'upstream_status="$upstream_status" request_time=$request_time\';\n' +
              'server {\n',
          )
          .replace('    listen 80;\n', '    listen 80;\n    access_log /dev/stdout bluegreen;\n'),
      );
      await stack.startShared();
      const first = await cli(stack, stack.inputs);
      expect(first.run.exitCode, first.run.stderr).toBe(0);
      expect(first.result).toMatchObject({ status: 'deployed', color: 'blue' });
      await expectServes(stack.proxyUrl, 'blue');
      await expectServes(stack.edgeUrl, 'blue');
    });
    afterAll(async () => stack?.cleanup());

    it('canary 50%: both proxies split the requests, then switch to green', async () => {
      const load = await freshLoad(`${stack.proxyUrl}/`, 4, true);
      const edgeLoad = await freshLoad(`${stack.edgeUrl}/`, 4, true);
      const deploy = startDeploy(stack, {
        ...stack.inputs,
        'canary-steps': '50',
        'canary-interval': '4',
        'min-requests': '10',
        'watch-seconds': '2',
      });
      await deploy.live.seen(/Watching 50% of the requests/);
      const edgeInclude = await docker([
        'exec',
        stack.edgeContainer,
        'cat',
        '/etc/nginx/conf.d/test-backend/service-url.inc',
      ]);
      const { run, result } = await deploy.done();
      const report = await stopLoad(load, 'seed proxy: blue → green 50% → 100%');
      const edgeReport = await stopLoad(edgeLoad, 'edge proxy: blue → green 50% → 100%');

      expect(run.exitCode, run.stderr).toBe(0);
      expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
      console.log(`the edge's include during the step:\n${edgeInclude.stdout}`);
      expect(edgeInclude.stdout.split('\n')[0]).toBe('# bluegreen-action: split blue=50 green=50');
      expect(edgeInclude.stdout).toContain(`set $service_url http://${stack.name}-dev-blue:${stack.ports.blue};`);
      expect(edgeInclude.stdout).toMatch(/if \(\$request_id ~ "\^\(\?:[^"]+\)"\) \{/);
      expect(edgeInclude.stdout).toContain(`set $service_url http://${stack.name}-dev-green:${stack.ports.green};`);

      const t = trafficOf(run, result);
      console.log(`traffic: ${JSON.stringify(t)}`);
      expect(t.steps.map((s) => [s.name, s.verdict])).toEqual([
        ['canary 50%', 'passed'],
        ['after the switch', 'passed'],
      ]);
      expect(t.proxies.map((p) => [p.container, p.watched, p.format])).toEqual([
        [stack.proxyContainer, true, 'bluegreen'],
        [stack.edgeContainer, true, 'bluegreen'],
      ]);
      const step = stepNamed(t, 'canary 50%');
      const shares: string[] = [];
      for (const [label, r] of [
        ['seed proxy', report],
        ['edge proxy', edgeReport],
      ] as const) {
        const seen = shareDuring(r.timeline, step, 'green');
        shares.push(`${label}: ${seen.percent.toFixed(1)}% green of ${seen.total} ${JSON.stringify(seen.byColor)}`);
        expectShare(label, seen, 50);
        expectNothingLost(r);
        const after = colorShare(
          r.timeline,
          Date.parse(stepNamed(t, 'after the switch').startedAt) + EDGE_MS,
          Infinity,
        );
        expect(after.byColor).toEqual({ green: after.total });
      }
      const counted = toolShare(step, 'green');
      shares.push(`access logs: ${counted.toFixed(1)}% green`);
      console.log(`proportions: ${shares.join('; ')}`);
      expectShare('both access logs', { total: 50, percent: counted }, 50);
      await expectServes(stack.proxyUrl, 'green');
      await expectServes(stack.edgeUrl, 'green');
    });
  });
});
