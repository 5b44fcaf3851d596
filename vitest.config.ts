import { defineConfig } from 'vitest/config';

/**
 * The fast part of the suite: unit, integration and in-process API tests, files in parallel.
 * The suites that start real processes (API servers, workers, the CLI, `quorum mcp`, PostgreSQL
 * restarts) are in vitest.e2e.config.ts and run one file at a time after this one (`npm test`
 * runs both): on a 2-core machine they would otherwise fight each other for the CPU and time out.
 */
export const HEAVY = ['test/e2e/**/*.test.ts', 'test/cluster/**/*.test.ts', 'test/mcp/**/*.test.ts'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...HEAVY],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
