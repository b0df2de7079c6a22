// A cancelled job (GitHub: SIGINT then SIGTERM; Jenkins: SIGTERM) undoes what was done instead of dying midway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './support/action.js';
import { cliFlags, startCli, timeline } from './support/scenarios.js';
import { createStack, runningColors, servedColor, type Stack } from './support/stack.js';

/** The CLI must have exited, rolled back, within this long of the SIGTERM. */
const EXIT_BOUND_S = 2;

describe('cancelling a deploy on a real engine', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await createStack({ env: { green: { HEALTH_STATUS: '500' } } });
    const first = await runAction(stack.inputs, { cwd: stack.dir });
    expect(first.exitCode, first.stdout).toBe(0);
  });
  afterAll(async () => stack?.cleanup());

  it(`SIGTERM during a long health wait: exits within ${EXIT_BOUND_S} s, green stopped, traffic on blue`, async () => {
    const cli = startCli(['deploy', '--json', ...cliFlags({ ...stack.inputs, 'health-timeout': '120' })], stack.dir);
    await cli.seen(/green at http:\S+: not yet/);
    const sentAt = Date.now();
    cli.kill('SIGTERM');
    const r = await cli.done;
    const seconds = (r.exitedAt - sentAt) / 1000;
    // Where the time went: each log line after the signal, with its time since then.
    console.log(`exited ${seconds.toFixed(2)} s after SIGTERM:\n${timeline(cli.lines, sentAt)}`);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'rolled-back', color: 'blue', rolledBack: true });
    expect(r.stderr).toMatch(/SIGTERM received: cancelling/);
    expect(JSON.parse(r.stdout).error).toMatch(/cancelled \(SIGTERM\)/);
    expect(seconds).toBeLessThan(EXIT_BOUND_S);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
    expect(await runningColors(stack)).toEqual(['blue']);
  });
});
