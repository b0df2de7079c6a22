// The user's commands at fixed points of a run: pre-deploy in a one-off container of the new image, the others on
// the runner. None runs through a shell; each has a deadline, and a cancel ends the one under way.
import { maskUrls } from '../config/config.js';
import { describeCommand, tail, type RunResult } from '../runner.js';
import type { Situation } from './detect.js';
import type { Deployment } from './deployment.js';
import { StepFailure } from './errors.js';
import type { HookName, HookView, Result } from './result.js';

/** How many of a command's last output lines the result and the error keep. */
export const HOOK_LINES = 20;

/** The input that holds each command, as errors and logs name it. */
const INPUT: Record<HookName, string> = {
  'pre-deploy': 'pre-deploy-command',
  'pre-switch': 'pre-switch-command',
  'post-switch': 'post-switch-command',
  'on-failure': 'on-failure-command',
};

/** The service whose image runs pre-deploy-command for a color: the one named, else the color file's first. */
export function preDeployService(d: Deployment, s: Situation, color: string): string {
  const services = s.services[color] ?? [];
  const named = d.config.preDeploy.service.replace(/\{color\}/g, color);
  if (named && !services.includes(named)) {
    throw new StepFailure(
      `pre-deploy-service ${named} is not a service of ${d.compose.colorFile(color)} (it has ${services.join(', ')})`,
    );
  }
  return named || (services[0] ?? '');
}

/**
 * Runs pre-deploy-command once in a one-off container of the new color's image, before the color starts. Throws a
 * StepFailure with its last output lines when it fails, times out or is cancelled.
 */
export async function runPreDeploy(d: Deployment, s: Situation, color: string): Promise<void> {
  const { command, timeoutMs } = d.config.preDeploy;
  const service = preDeployService(d, s, color);
  d.log.info(`Running pre-deploy-command in a one-off container of ${service} (${color}'s image): ${show(command)}`);
  d.ranPreDeploy = true;
  const output = new Tail();
  const start = d.deps.clock.now();
  const r = await d.compose.runOnce(color, service, d.runId, command, {
    timeoutMs,
    onLine: (line) => output.push(line, d),
    steady: d.deps.runner,
    // With several hosts, another host's failure does not cut a migration short: only the user's cancel does.
    signal: d.stepSignal,
  });
  if (r.removed.length) d.log.info(`Removed the one-off container ${r.removed.join(', ')}, which was still running.`);
  settle(d, 'pre-deploy', command, r, start, output, timeoutMs);
}

/** Runs a hook on the runner, in the working directory, with the run's facts in its environment. */
export async function runHook(
  d: Deployment,
  name: Exclude<HookName, 'pre-deploy'>,
  command: readonly string[],
  env: Record<string, string> = {},
  facts: Pick<Result, 'targetColor' | 'previousColor'> = d.result,
): Promise<HookView> {
  const [file, ...args] = command as [string, ...string[]];
  const output = new Tail();
  const start = d.deps.clock.now();
  d.log.info(`Running ${INPUT[name]}: ${show(command)}`);
  const r = await d.runner.run(file, args, {
    cwd: d.config.workingDirectory,
    env: { ...hookEnv(d, name, facts), ...env },
    timeoutMs: d.config.hooks.timeoutMs,
    onLine: (line) => output.push(line, d),
    tree: true,
  });
  return settle(d, name, command, r, start, output, d.config.hooks.timeoutMs);
}

/** What every runner hook is told: the hook, the operation, the color brought up and the one that served before. */
export function hookEnv(
  d: Deployment,
  name: HookName,
  facts: Pick<Result, 'targetColor' | 'previousColor'> = d.result,
): Record<string, string> {
  const color = facts.targetColor ?? '';
  const port = (c: string | undefined) => (c && d.compose ? String(d.compose.port(c)) : '');
  return {
    BLUEGREEN_HOOK: name,
    BLUEGREEN_OPERATION: d.config.command,
    BLUEGREEN_COLOR: color,
    BLUEGREEN_PORT: port(color),
    BLUEGREEN_PREVIOUS_COLOR: facts.previousColor ?? '',
    BLUEGREEN_PREVIOUS_PORT: port(facts.previousColor),
  };
}

/** Records the command's outcome in the result; throws a StepFailure unless it exited 0. */
function settle(
  d: Deployment,
  name: HookName,
  command: readonly string[],
  r: RunResult,
  start: number,
  output: Tail,
  timeoutMs: number,
): HookView {
  const view: HookView = { name, command: show(command), ok: r.exitCode === 0 && !r.timedOut, ms: 0 };
  view.ms = d.deps.clock.now() - start;
  if (r.exitCode >= 0) view.exitCode = r.exitCode;
  if (r.timedOut) view.timedOut = true;
  const text = output.text();
  if (text) view.output = text;
  d.result.hooks.push(view);
  if (view.ok) {
    d.log.info(`${INPUT[name]} succeeded in ${(view.ms / 1000).toFixed(1)} s.`);
    return view;
  }
  d.checkCancelled(`during ${INPUT[name]}`);
  // A program that could not start printed nothing: execa's explanation is all there is.
  const unstarted = r.exitCode === -1 && !r.timedOut;
  const why = r.timedOut
    ? `timed out after ${timeoutMs / 1000} s`
    : unstarted
      ? 'could not be started'
      : `exited with code ${r.exitCode}`;
  throw new StepFailure(
    `${INPUT[name]} ${why}: ${view.command}` +
      (unstarted && r.stderr.trim() ? `\n${tail(r.stderr, 3)}` : '') +
      (text ? `\nIts last ${text.split('\n').length} output lines:\n${text}` : ''),
  );
}

/** A command line as logs, results and plans show it: a URL's credentials masked (a webhook's token). */
export function show(command: readonly string[]): string {
  const [file, ...args] = command as [string, ...string[]];
  return maskUrls(describeCommand(file, args));
}

/** Shows each output line in the log as it comes, and keeps the last HOOK_LINES. */
class Tail {
  private readonly lines: string[] = [];
  push(line: string, d: Deployment): void {
    d.log.info(line);
    this.lines.push(line);
    if (this.lines.length > HOOK_LINES) this.lines.shift();
  }
  text(): string {
    return this.lines.join('\n');
  }
}
