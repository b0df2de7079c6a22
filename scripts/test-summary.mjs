// Reads vitest's JSON reports (written in CI) and fails when a test failed or did not run: a suite that skips
// itself in CI would otherwise pass while proving nothing.
//   node scripts/test-summary.mjs --e2e REPORT   the report of one end-to-end run: every file of test/e2e must be
//                                                in it, and every one of its tests passed (none skipped or pending)
//   node scripts/test-summary.mjs REPORT         the report of a run of other tests: at least one, none failed
//   node scripts/test-summary.mjs --total REPORT...   only adds them up (fails on a failure or a missing report)
// The last line is always the plain "N passed, N failed, N skipped".
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const mode = args.includes('--e2e') ? 'e2e' : args.includes('--total') ? 'total' : 'tests';
const reports = args.filter((a) => !a.startsWith('--'));
if (reports.length === 0) reports.push('test-results.json');
const relative = (file) => path.relative(root, file).split(path.sep).join('/');

const problems = [];
const tests = [];
for (const report of reports) {
  if (!existsSync(report)) {
    problems.push(`${report}: no report (the run ended before writing it)`);
    continue;
  }
  const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
  for (const file of testResults) {
    const name = relative(file.name);
    // A file that fails to load has no tests in the report, only its own status.
    if (file.status === 'failed' && !file.assertionResults.some((t) => t.status === 'failed')) {
      problems.push(`${report}: ${name} failed outside its tests: ${(file.message ?? '').split('\n')[0]}`);
    }
    for (const t of file.assertionResults)
      tests.push({ report, file: name, title: t.fullName ?? t.title, status: t.status });
  }
  const mine = tests.filter((t) => t.report === report);
  if (mine.length === 0) problems.push(`${report}: no test ran`);
  if (mode === 'e2e') {
    const onDisk = readdirSync(path.join(root, 'test/e2e'), { recursive: true })
      .map((f) => `test/e2e/${String(f).split(path.sep).join('/')}`)
      .filter((f) => f.endsWith('.test.ts'));
    const seen = new Set(testResults.map((f) => relative(f.name)));
    for (const f of onDisk) if (!seen.has(f)) problems.push(`${report}: ${f} did not run`);
    for (const t of mine) {
      if (!t.file.startsWith('test/e2e/')) problems.push(`${report}: ${t.file} is not an end-to-end test`);
      else if (t.status !== 'passed' && t.status !== 'failed')
        problems.push(`${report}: ${t.status}: ${t.file} > ${t.title}`);
    }
  }
}

const count = (status) =>
  tests.filter((t) => (status ? t.status === status : t.status !== 'passed' && t.status !== 'failed')).length;
for (const t of tests.filter((t) => t.status === 'failed'))
  problems.push(`${t.report}: failed: ${t.file} > ${t.title}`);
for (const p of new Set(problems)) console.error(p);
if (mode === 'e2e' && problems.length > 0) {
  console.error('The end-to-end tests did not all run and pass: CI needs every one of them on the real engine.');
}
console.log(`${count('passed')} passed, ${count('failed')} failed, ${count()} skipped`);
process.exit(problems.length > 0 ? 1 : 0);
