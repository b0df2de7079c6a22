// npm run validate:actions: action.yml and every workflow in .github/workflows checked against GitHub's own schemas,
// with @actions/workflow-parser (the parser of GitHub's Actions language service, which knows node24). It also
// checks that each step running this action (uses: ./) passes only inputs that action.yml declares, and every
// required one: the runner only warns about an unexpected input. Exit 1 when any file has a problem.
//
//   node scripts/validate-actions.mjs [FILE...]   (default: action.yml and .github/workflows/*.yml)
//
// Why not action-validator (@action-validator/cli 0.6.0, the latest): its built-in schema allows runs.using node12,
// node16 and node20 only, so it refuses this action.yml (node24).
import { readdirSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// The parser imports its schemas as `import schema from "./x.json"` without `with { type: "json" }`, which its own
// bundler accepts and Node refuses: serve any .json imported that way as a module that exports the parsed object.
const JSON_AS_MODULE = `
import { readFile } from 'node:fs/promises';
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.json') && context.importAttributes?.type !== 'json') {
    const source = 'export default ' + (await readFile(new URL(url), 'utf8')) + ';';
    return { format: 'module', source, shortCircuit: true };
  }
  return nextLoad(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(JSON_AS_MODULE)}`);
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await import('@actions/workflow-parser');
const { parseAction, convertActionTemplate } = await import('@actions/workflow-parser/actions/index');

const isAction = (file) => /(^|[\\/])action\.ya?ml$/.test(file);

/** Schema problems of one file, as "file (Line: n, Col: m): message". */
async function schemaProblems(file, content) {
  const entry = { name: path.relative(root, file).split(path.sep).join('/'), content };
  const trace = new NoOperationTraceWriter();
  if (isAction(file)) {
    const result = parseAction(entry, trace);
    if (result.value) convertActionTemplate(result.context, result.value);
    return result.context.errors.getErrors().map((e) => e.message);
  }
  const result = parseWorkflow(entry, trace);
  if (result.value) await convertWorkflowTemplate(result.context, result.value);
  return result.context.errors.getErrors().map((e) => e.message);
}

/** Steps that run this repository's action (uses: ./) with inputs it does not declare, or without a required one. */
function localActionProblems(file, content, action) {
  const problems = [];
  const name = path.relative(root, file);
  const workflow = parse(content);
  for (const [jobId, job] of Object.entries(workflow?.jobs ?? {})) {
    for (const [index, step] of (job?.steps ?? []).entries()) {
      if (step?.uses !== './' && step?.uses !== '.') continue;
      const where = `${name}: job ${jobId}, step ${step.id ?? step.name ?? index + 1}`;
      const given = Object.keys(step.with ?? {});
      for (const input of given) {
        if (!(input in action.inputs)) problems.push(`${where}: "${input}" is not an input of action.yml`);
      }
      for (const [input, spec] of Object.entries(action.inputs)) {
        if (spec?.required === true && !given.includes(input)) {
          problems.push(`${where}: the required input "${input}" is missing`);
        }
      }
    }
  }
  return problems;
}

const workflowsDir = path.join(root, '.github', 'workflows');
const files = process.argv.slice(2).length
  ? process.argv.slice(2).map((f) => path.resolve(f))
  : [
      path.join(root, 'action.yml'),
      ...readdirSync(workflowsDir, { withFileTypes: true })
        .filter((d) => d.isFile() && /\.ya?ml$/.test(d.name))
        .map((d) => path.join(workflowsDir, d.name))
        .sort(),
    ];
const action = parse(readFileSync(path.join(root, 'action.yml'), 'utf8'));
action.inputs ??= {};

let failed = 0;
for (const file of files) {
  const content = readFileSync(file, 'utf8');
  const problems = await schemaProblems(file, content);
  if (!isAction(file) && problems.length === 0) problems.push(...localActionProblems(file, content, action));
  const name = path.relative(root, file);
  if (problems.length === 0) {
    console.log(`ok     ${name}`);
  } else {
    failed++;
    console.log(`FAILED ${name}`);
    for (const problem of problems) console.log(`  - ${problem}`);
  }
}
console.log(failed > 0 ? `${failed} of ${files.length} files invalid` : `all ${files.length} files valid`);
process.exitCode = failed > 0 ? 1 : 0;
