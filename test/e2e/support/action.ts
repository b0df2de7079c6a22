// Runs the bundled action as the GitHub runner does, and the bundled CLI as a Jenkinsfile would.
import { execa } from 'execa';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { COMPOSE } from './compose.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ACTION_BUNDLE = path.join(ROOT, 'dist/action/index.js');
export const CLI_BUNDLE = path.join(ROOT, 'dist/cli/index.js');

export interface ActionRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** process.env without the variables that would be inputs of the run (the suite may itself run in a job). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(BLUEGREEN_|INPUT_|GITHUB_|RUNNER_)/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/**
 * The runner sets INPUT_<NAME> (upper case, dashes kept) for every input given in `with:` and for every input
 * that has a default, writes outputs to the file in GITHUB_OUTPUT and the summary to GITHUB_STEP_SUMMARY.
 * compose-command is the Compose that E2E_COMPOSE selects (compose.ts) unless the test gives one.
 */
export async function runAction(
  inputs: Record<string, string>,
  options: {
    cwd: string;
    node?: string;
    timeoutMs?: number;
    /** Extra environment of the action process. */ env?: Record<string, string>;
    /** false: no compose-command input unless given (a config file then names it). */
    suiteCompose?: boolean;
  },
): Promise<ActionRun> {
  const action = parse(await fs.readFile(path.join(ROOT, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: unknown }>;
  };
  const env: Record<string, string> = {};
  for (const [name, spec] of Object.entries(action.inputs)) {
    if (spec.default !== undefined) env[`INPUT_${name.toUpperCase()}`] = String(spec.default);
  }
  const composeInput = options.suiteCompose === false ? {} : { 'compose-command': COMPOSE.command };
  for (const [name, value] of Object.entries({ ...composeInput, ...inputs })) {
    env[`INPUT_${name.toUpperCase()}`] = value;
  }
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-runner-'));
  const outputFile = path.join(tmp, 'output');
  const summaryFile = path.join(tmp, 'summary');
  await fs.writeFile(outputFile, '');
  await fs.writeFile(summaryFile, '');
  try {
    const r = await execa(options.node ?? process.execPath, [ACTION_BUNDLE], {
      cwd: options.cwd,
      env: cleanEnv({
        ...options.env,
        ...env,
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: summaryFile,
        GITHUB_WORKSPACE: options.cwd,
        RUNNER_TEMP: tmp,
      }),
      extendEnv: false,
      reject: false,
      timeout: options.timeoutMs ?? 240_000,
    });
    return {
      exitCode: r.exitCode ?? -1,
      stdout: r.stdout,
      stderr: r.stderr,
      outputs: parseOutputs(await fs.readFile(outputFile, 'utf8')),
      summary: await fs.readFile(summaryFile, 'utf8'),
    };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** GITHUB_OUTPUT holds `name<<DELIMITER\nvalue\nDELIMITER` records. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i] ?? '');
    outputs[m[1] ?? ''] = value.join('\n');
  }
  return outputs;
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** `node dist/cli/index.js <args>` in cwd, with `--compose-command` of E2E_COMPOSE (compose.ts) unless args give one. */
export async function runCli(args: string[], options: { cwd: string; timeoutMs?: number }): Promise<CliRun> {
  const given = args.some((a) => a === '--compose-command' || a.startsWith('--compose-command='));
  const r = await execa(
    process.execPath,
    [CLI_BUNDLE, ...args, ...(given ? [] : ['--compose-command', COMPOSE.command])],
    {
      cwd: options.cwd,
      reject: false,
      timeout: options.timeoutMs ?? 240_000,
    },
  );
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}
