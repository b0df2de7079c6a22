import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUTS } from '../../src/inputs.js';
import { deployedResult } from './results.js';
import { outputsOf } from '../../src/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ActionYml {
  inputs: Record<string, { description?: unknown; default?: unknown; required?: unknown }>;
  outputs: Record<string, { description?: unknown }>;
  runs: { using?: unknown; main?: unknown };
}

const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

const OUTPUTS = [
  'color',
  'port',
  'previous-color',
  'previous-port',
  'status',
  'rolled-back',
  'duration',
  'requests-observed',
  'error-rate',
];

describe('action.yml', () => {
  it('declares exactly the inputs of src/config.ts', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(INPUTS.map((i) => i.name).sort());
  });

  it('declares no default: the runner would set every input, and a config file or a variable could not supply one', () => {
    const withDefault = Object.entries(action.inputs).filter(([, i]) => i?.default !== undefined);
    expect(withDefault.map(([name]) => name)).toEqual([]);
  });

  it.each(INPUTS.map((i) => [i.name, i.default] as const))(
    'input %s names the schema default',
    (name, schemaDefault) => {
      const description = String(action.inputs[name]?.description ?? '');
      const shown = schemaDefault === '' ? 'empty' : `\`${schemaDefault.replace(/\n/g, '\\n')}\``;
      expect(description.trimEnd().endsWith(`Default: ${shown}.`), description).toBe(true);
    },
  );

  it('describes every input and output', () => {
    const missing = [
      ...Object.entries(action.inputs).map(([name, i]) => [`input ${name}`, i?.description] as const),
      ...Object.entries(action.outputs).map(([name, o]) => [`output ${name}`, o?.description] as const),
    ]
      .filter(([, d]) => typeof d !== 'string' || d.trim() === '')
      .map(([what]) => what);
    expect(missing).toEqual([]);
  });

  it('runs on node24 from the committed bundle', () => {
    expect(action.runs.using).toBe('node24');
    expect(action.runs.main).toBe('dist/action/index.js');
    expect(existsSync(path.join(ROOT, String(action.runs.main)))).toBe(true);
  });

  it('action.yml declares exactly the outputs outputsOf() sets', async () => {
    // The action sets one output per key of outputsOf() (src/action/main.ts).
    expect(Object.keys(action.outputs).sort()).toEqual(Object.keys(outputsOf(await deployedResult())).sort());
    expect(Object.keys(action.outputs).sort()).toEqual([...OUTPUTS].sort());
  });
});
