import { defineConfig } from 'vitest/config';

/** `npm run test:load` (after a build): the full load suite, one file at a time, real processes. */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/load/**/*.load.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 900_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
