import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUTS } from '../../src/inputs.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const action = parse(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8')) as {
  outputs: Record<string, unknown>;
};

describe('README tells the truth about the contract', () => {
  it.each(INPUTS.map((i) => [i.name, i.default]))('documents input %s with its default', (name, def) => {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    expect(row, `no row for ${name}`).toBeDefined();
    expect(row).toContain(def === '' ? '(empty)' : `\`${def.replace(/\n/g, '\\n')}\``);
  });

  it('documents every output', () => {
    for (const name of Object.keys(action.outputs)) expect(readme).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  it('names the test command that .ci/run calls', () => {
    expect(readme).toMatch(/```sh\nnpm test\n```/);
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test$/m);
  });
});
