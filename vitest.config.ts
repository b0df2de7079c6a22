import { defineConfig } from 'vitest/config';

// TEST_PROJECT=unit or e2e: only that project (CI runs `npm test` for the unit tests, then the e2e suite once per
// Compose and engine). Unset: both.
const only = process.env.TEST_PROJECT;

export default defineConfig({
  test: {
    // In CI: every test by name, and a JSON report that .ci/run reads to prove the e2e tests ran (TEST_RESULTS names
    // it: one per run, as CI runs the e2e suite once per Compose and engine).
    reporters: process.env.CI
      ? ['verbose', ['json', { outputFile: process.env.TEST_RESULTS || 'test-results.json' }]]
      : ['default'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        // One real Docker engine: the scenarios run one file at a time, and a deploy takes seconds, not ms.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ].filter((project) => !only || project.test.name === only),
  },
});
