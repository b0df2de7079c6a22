#!/usr/bin/env node
import type { Logger } from '../io.js';
import { summaryText } from '../report.js';
import { cancelOnSignals, describeConfig, runCommand, SCHEMA_VERSION, type Given } from '../main.js';
import { parseArgs, usage } from './args.js';

// The human log goes to stderr so that --json leaves stdout to the result alone.
const log: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warning: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
  async group(name, fn) {
    process.stderr.write(`\n== ${name} ==\n`);
    return fn();
  },
};

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (parsed.error) {
    process.stderr.write(`error: ${parsed.error}\nRun with --help for the list of flags.\n`);
    return 2;
  }
  const given: Given = { inputs: parsed.inputs, as: 'flag' };
  if (parsed.showConfig) {
    const { table, ...report } = await describeConfig(given);
    if (parsed.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else if (table.length) process.stdout.write(`${table.join('\n')}\n`);
    if (report.error) process.stderr.write(`error: ${report.error}\n`);
    return report.valid ? 0 : 2;
  }
  const result = await runCommand(given, log, cancelOnSignals(log));
  log.info(`\n${summaryText(result)}`);
  if (parsed.json) process.stdout.write(`${JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...result }, null, 2)}\n`);
  return result.exitCode;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`Unexpected error (a bug in bluegreen-action): ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 3;
  },
);
