import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configTable, resolveInputs } from '../../src/config/sources.js';
import { INPUTS } from '../../src/inputs.js';
import { FakeFiles } from './fakes.js';
import {
  deployedResult,
  dryRunResult,
  healthRolledBackResult,
  recoveredResult,
  statusLockedResult,
  statusUnderWayResult,
  verifyRolledBackResult,
} from './results.js';

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

describe("README's bluegreen config example", () => {
  it('is what `bluegreen config` prints for examples/bluegreen.yml', async () => {
    const root = path.resolve('/srv/app');
    const files = new FakeFiles({
      [path.join(root, 'bluegreen.yml')]: readFileSync(
        new URL('../../examples/bluegreen.yml', import.meta.url),
        'utf8',
      ),
    });
    const layered = await resolveInputs({
      given: { environment: 'production' },
      givenAs: 'flag',
      env: { BLUEGREEN_DRAIN_SECONDS: '45' },
      cwd: root,
      files,
    });
    const printed = configTable(layered).join('\n').replace(path.join(root, 'bluegreen.yml'), '/srv/app/bluegreen.yml');
    const shown = /\$ BLUEGREEN_DRAIN_SECONDS=45 bluegreen config --environment production\n([^`]*)\n```/.exec(readme);
    expect(shown?.[1]).toBe(printed);
  });
});

describe("README's JSON contract", () => {
  it('has a row for every field the engine puts in a result, schemaVersion first', async () => {
    const results = [
      await deployedResult(),
      await healthRolledBackResult(),
      await verifyRolledBackResult(),
      await dryRunResult(),
      await statusLockedResult(),
      await statusUnderWayResult(),
      await recoveredResult(),
    ];
    const fields = new Set(['schemaVersion', ...results.flatMap((r) => Object.keys(r))]);
    const section = readme.slice(readme.indexOf('## The JSON result'), readme.indexOf('## How it decides'));
    const rows = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(rows[0]).toBe('schemaVersion');
    expect([...fields].filter((f) => !rows.includes(f))).toEqual([]);
    for (const key of Object.keys(results[4]?.locks?.[0] ?? {})) expect(section).toContain(`\`${key}\``);
    for (const key of Object.keys(results[6]?.interrupted ?? {})) expect(section).toContain(`\`${key}\``);
  });
});
