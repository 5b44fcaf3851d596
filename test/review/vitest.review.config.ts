import { defineConfig } from 'vitest/config';

/** Runs only the pure review-engine tests: no database, no global setup. */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/review/**/*.test.ts'],
    environment: 'node',
  },
});
