import * as core from '@actions/core';
import { INPUTS, type RawInputs } from '../inputs.js';
import type { Logger } from '../io.js';
import { cancelOnSignals, runCommand } from '../main.js';
import { outputsOf, summaryMarkdown, summaryText } from '../report.js';

const log: Logger = {
  info: (m) => core.info(m),
  warn: (m) => core.warning(m),
  error: (m) => core.error(m),
  group: (name, fn) => core.group(name, fn),
};

/** The action: inputs in; outputs, job summary and exit code out. Exported for @github/local-action. */
export async function run(): Promise<void> {
  try {
    await runAction();
  } catch (error) {
    core.setFailed(`Unexpected error (a bug in bluegreen-action): ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 3;
  }
}

async function runAction(): Promise<void> {
  // action.yml declares no defaults, so the runner sets INPUT_<NAME> only for the inputs of `with:`; the others
  // come from BLUEGREEN_ variables, the config file or our defaults.
  const inputs: RawInputs = {};
  for (const { name } of INPUTS) {
    if (process.env[`INPUT_${name.toUpperCase()}`] !== undefined) inputs[name] = core.getInput(name);
  }
  const result = await runCommand({ inputs, as: 'input' }, log, cancelOnSignals(log));
  for (const [name, value] of Object.entries(outputsOf(result))) core.setOutput(name, value);
  core.info(summaryText(result, { withError: false }));
  try {
    await core.summary.addRaw(summaryMarkdown(result)).write();
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`);
  }
  if (result.exitCode !== 0) {
    core.setFailed(result.error ?? `${result.command} failed`);
    process.exitCode = result.exitCode;
  }
}
