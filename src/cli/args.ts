import { COMMAND_NAMES, COMMANDS, INPUTS, type RawInputs } from '../inputs.js';

export interface ParsedArgs {
  inputs: RawInputs;
  json: boolean;
  help: boolean;
  /** `bluegreen config`: print the effective configuration, run nothing. */
  showConfig: boolean;
  error?: string;
}

/** A command of the CLI alone: it reads the configuration and runs nothing, so the engine has no part in it. */
export const CONFIG_COMMAND = {
  name: 'config',
  usage: 'print every input, its value and where it came from (flag, env, file, default); exit 2 if invalid',
};

/** The engine's commands and the CLI's own. */
const CLI_COMMANDS: readonly string[] = [...COMMAND_NAMES, CONFIG_COMMAND.name];

const BOOLEAN_INPUTS = new Set(['build', 'pull', 'post-switch-required', 'rollback-on-failure', 'dry-run']);
const NAMES = new Set<string>(INPUTS.map((i) => i.name));

/**
 * `bluegreen <command> --input-name value ...`: the flags are the action's input names. A boolean flag given
 * alone means true (`--dry-run`).
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const result: ParsedArgs = { inputs: {}, json: false, help: false, showConfig: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h' || arg === 'help') {
      result.help = true;
      continue;
    }
    if (arg === '--json') {
      result.json = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      if (result.inputs.command !== undefined || result.showConfig) {
        return { ...result, error: `unexpected argument "${arg}"` };
      }
      if (!CLI_COMMANDS.includes(arg))
        return { ...result, error: `unknown command "${arg}"; use ${CLI_COMMANDS.join(', ')}` };
      if (arg === CONFIG_COMMAND.name) result.showConfig = true;
      else result.inputs.command = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!NAMES.has(name) || name === 'command') return { ...result, error: `unknown flag --${name}` };
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      if (BOOLEAN_INPUTS.has(name)) {
        // A boolean flag takes the next argument only when it is a boolean: `--dry-run deploy` stays a command.
        value = next !== undefined && /^(true|false)$/i.test(next) ? next : 'true';
        if (value === next) i++;
      } else if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      } else {
        return { ...result, error: `--${name} needs a value` };
      }
    }
    result.inputs[name] = value;
  }
  if (!result.help && !result.showConfig && result.inputs.command === undefined) {
    return { ...result, error: `name a command first: ${CLI_COMMANDS.join(', ')}` };
  }
  return result;
}

export function usage(): string {
  const width = Math.max(...INPUTS.map((i) => i.name.length)) + 2;
  const flags = INPUTS.filter((i) => i.name !== 'command').map((i) => {
    const shown = i.default.replace(/\n/g, '\\n');
    return `  --${i.name.padEnd(width)}${i.help}${shown ? ` [default: ${shown}]` : ''}`;
  });
  return [
    `Usage: bluegreen <${CLI_COMMANDS.join('|')}> [--flag value ...] [--json]`,
    '',
    'Zero-downtime blue-green deploy of a Docker Compose service behind Nginx.',
    ...[...COMMANDS, CONFIG_COMMAND].map((c) => `  ${c.name.padEnd(10)}${c.usage}`),
    '',
    'Every flag may also come from a BLUEGREEN_<FLAG> environment variable (BLUEGREEN_DRAIN_SECONDS=30) or from a',
    'key of the config file (bluegreen.yml in the working directory, or --config FILE; --environment NAME lays',
    'its environments.NAME over it). A flag wins over a variable, a variable over the file, the file over defaults.',
    '',
    'Flags (the same names as the GitHub Action inputs; lists take commas or newlines):',
    ...flags,
    `  --${'json'.padEnd(width)}print the result as JSON on stdout (schemaVersion 1; the log goes to stderr)`,
    `  --${'help'.padEnd(width)}show this help`,
    '',
    'Exit codes: 0 success; 1 failed, traffic left where it was (rolled back); 2 invalid input, nothing changed;',
    '            3 failed and the previous state could not be restored: check by hand.',
    '',
  ].join('\n');
}
