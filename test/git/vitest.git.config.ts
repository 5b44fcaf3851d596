import { defineConfig } from 'vitest/config';

/** Runs the git tests that need no database (no global setup): `vitest run -c test/git/vitest.git.config.ts`. */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/git/**/*.test.ts'],
    exclude: ['test/git/**/*.db.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
