// Reads vitest's JSON report (written in CI) and fails when an end-to-end test did not run: a suite that skips
// itself in CI would otherwise pass while proving nothing. Prints the closing "N passed, N failed" line.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2] ?? 'test-results.json', 'utf8'));
const tests = report.testResults.flatMap((file) =>
  file.assertionResults.map((t) => ({ e2e: /[/\\]test[/\\]e2e[/\\]/.test(file.name), status: t.status })),
);
const count = (filter) => tests.filter(filter).length;
const e2ePassed = count((t) => t.e2e && t.status === 'passed');
const e2eNotRun = count((t) => t.e2e && t.status !== 'passed' && t.status !== 'failed');
console.log(`end-to-end: ${e2ePassed} passed, ${e2eNotRun} skipped or pending`);
console.log(
  `${count((t) => t.status === 'passed')} passed, ${count((t) => t.status === 'failed')} failed, ` +
    `${count((t) => t.status !== 'passed' && t.status !== 'failed')} skipped`,
);
if (e2ePassed === 0 || e2eNotRun > 0) {
  console.error('The end-to-end tests did not all run: CI needs them to run on the real engine.');
  process.exit(1);
}
