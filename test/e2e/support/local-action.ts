// Runs the action from its TypeScript sources (src/action/main.ts, no bundle) with @github/local-action, as a
// contributor does on a workstation: `npx local-action run . src/action/main.ts .env` in the repository root.
import { execa } from 'execa';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { ROOT } from './action.js';
import { COMPOSE } from './compose.js';

export const LOCAL_ACTION_BIN = path.join(ROOT, 'node_modules/@github/local-action/bin/local-action.js');
export const ENTRYPOINT = 'src/action/main.ts';

export interface LocalActionRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The `::set-output name=<name>::<value>` lines that local-action's @actions/core stub prints. */
  outputs: Record<string, string>;
  /**
   * The "Action Outputs" table that local-action prints once run() has returned: what its stub collected. Only
   * the stub fills it, so it shows that @actions/core was replaced (the real one would print the same
   * `::set-output` lines when GITHUB_OUTPUT is not set).
   */
  table: Record<string, string>;
  /** The job summary, written by the stub to the GITHUB_STEP_SUMMARY file of the .env. */
  summary: string;
  /** The .env file given to local-action. */
  dotenv: string;
}

/**
 * One `KEY=value` line of a .env file as dotenv (local-action's parser) reads it: quoted, newlines kept. dotenv
 * has no escapes: the quote is one that the value does not contain (not " when the value holds a literal \n or \r,
 * which dotenv expands inside double quotes).
 */
export function dotenvLine(key: string, value: string): string {
  if (!/^[\w.-]+$/.test(key)) throw new Error(`dotenv cannot hold the key ${JSON.stringify(key)}`);
  const quote = ["'", '"', '`'].find((q) => !value.includes(q) && !(q === '"' && /\\[nr]/.test(value)));
  // A closing quote after a backslash would read as escaped.
  if (!quote || value.endsWith('\\'))
    throw new Error(`dotenv cannot hold the value of ${key}: ${JSON.stringify(value)}`);
  return `${key}=${quote}${value}${quote}`;
}

/**
 * Writes the inputs as INPUT_<NAME> lines of a .env file (compose-command: the Compose of E2E_COMPOSE unless
 * given), runs `local-action run <repo root> src/action/main.ts <.env>` in the repository root, and returns what
 * it printed and wrote. Inputs not given are not set: the action then keeps its own defaults, as it does for an
 * input that the runner does not set. The repository root is the cwd because local-action runs `npm exec tsx` and
 * `npm ls @actions/core` there; the project's directory is the working-directory input.
 */
export async function runLocalAction(
  inputs: Record<string, string>,
  options: { timeoutMs?: number; entrypoint?: string } = {},
): Promise<LocalActionRun> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-local-action-'));
  const dotenvFile = path.join(tmp, '.env');
  const summaryFile = path.join(tmp, 'summary.md');
  const lines = Object.entries({ 'compose-command': COMPOSE.command, ...inputs }).map(([name, value]) =>
    dotenvLine(`INPUT_${name.toUpperCase()}`, value),
  );
  lines.push(dotenvLine('GITHUB_STEP_SUMMARY', summaryFile));
  const dotenv = `${lines.join('\n')}\n`;
  await fs.writeFile(dotenvFile, dotenv);
  await fs.writeFile(summaryFile, '');

  // Nothing of a surrounding job leaks in (the e2e suite may itself run in a GitHub Actions step); `node` on the
  // PATH of local-action's `npm exec tsx` is the Node that runs this suite; no colors, so that the lines parse.
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(INPUT_|GITHUB_|ACTIONS_|RUNNER_)/i.test(name)) env[name] = value;
  }
  env.PATH = [path.dirname(process.execPath), process.env.PATH].filter(Boolean).join(path.delimiter);
  env.FORCE_COLOR = '0';
  delete env.NO_COLOR;
  // Its npm exec and npm ls use the tsx and @actions/core installed here, never the registry.
  env.npm_config_offline = 'true';
  env.npm_config_update_notifier = 'false';

  const timeoutMs = options.timeoutMs ?? 240_000;
  // Its own process group: local-action runs the action in grandchildren (npm exec, tsx), which a timeout must end too.
  const child = execa(process.execPath, [LOCAL_ACTION_BIN, 'run', ROOT, options.entrypoint ?? ENTRYPOINT, dotenvFile], {
    cwd: ROOT,
    env,
    extendEnv: false,
    reject: false,
    timeout: timeoutMs,
    detached: true,
  });
  try {
    const r = await child;
    if (r.timedOut) {
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is gone already
        }
      }
      throw new Error(`local-action timed out after ${timeoutMs} ms\n${r.stdout}\n${r.stderr}`);
    }
    const stdout = stripVTControlCharacters(r.stdout);
    return {
      exitCode: r.exitCode ?? -1,
      stdout,
      stderr: stripVTControlCharacters(r.stderr),
      outputs: parseSetOutputs(stdout),
      table: parseOutputsTable(stdout),
      summary: await fs.readFile(summaryFile, 'utf8'),
      dotenv,
    };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** `::set-output name=status::unchanged` lines; a later line for the same name wins, as in the runner. */
export function parseSetOutputs(stdout: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const m of stdout.matchAll(/^::set-output name=([^:]+)::(.*)$/gm)) outputs[m[1] ?? ''] = m[2] ?? '';
  return outputs;
}

/**
 * The console.table after the "Action Outputs" title: rows `│ 4 │ 'status' │ 'unchanged' │`. Empty when the
 * title is missing (the run never returned) or local-action printed "No outputs were set!".
 */
export function parseOutputsTable(stdout: string): Record<string, string> {
  const at = stdout.lastIndexOf('Action Outputs');
  if (at < 0) return {};
  const table: Record<string, string> = {};
  for (const m of stdout.slice(at).matchAll(/^│\s*\d+\s*│\s*'([^']*)'\s*│\s*(['"])(.*)\2\s*│$/gm)) {
    table[m[1] ?? ''] = m[3] ?? '';
  }
  return table;
}
