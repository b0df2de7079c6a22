// A cancelled job (GitHub: SIGINT then SIGTERM; Jenkins: SIGTERM) undoes what was done instead of dying midway.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BUNDLE, runAction } from './support/action.js';
import { createStack, runningColors, servedColor, type Stack } from './support/stack.js';

describe('cancelling a deploy on a real engine', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await createStack({ env: { green: { HEALTH_STATUS: '500' } } });
    const first = await runAction(stack.inputs, { cwd: stack.dir });
    expect(first.exitCode, first.stdout).toBe(0);
  });
  afterAll(async () => stack?.cleanup());

  it('SIGTERM while the new color is being checked: exits at once, green stopped, traffic on blue', async () => {
    const flags = Object.entries({ ...stack.inputs, 'health-timeout': '120' }).flatMap(([k, v]) => [`--${k}`, v]);
    const cli = execa(process.execPath, [CLI_BUNDLE, 'deploy', '--json', ...flags], { cwd: stack.dir, reject: false });
    let stderr = '';
    await new Promise<void>((resolve) => {
      cli.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/green at http:\S+: not yet/.test(stderr)) resolve();
      });
    });
    const sentAt = Date.now();
    cli.kill('SIGTERM');
    const r = await cli;
    const seconds = (Date.now() - sentAt) / 1000;
    console.log(`exited ${seconds.toFixed(1)} s after SIGTERM`);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'rolled-back', color: 'blue', rolledBack: true });
    expect(r.stderr).toMatch(/SIGTERM received: cancelling/);
    expect(JSON.parse(r.stdout).error).toMatch(/cancelled \(SIGTERM\)/);
    expect(seconds).toBeLessThan(7.5);
    expect(await servedColor(stack.proxyUrl)).toBe('blue');
    expect(await runningColors(stack)).toEqual(['blue']);
  });
});
