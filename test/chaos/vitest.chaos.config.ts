import { defineConfig } from 'vitest/config';

/** `npm run test:chaos` (after a build): the full chaos suite, real processes, its own PostgreSQL. */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/chaos/**/*.chaos.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 1_800_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
