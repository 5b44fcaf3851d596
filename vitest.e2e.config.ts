import { defineConfig } from 'vitest/config';
import { HEAVY } from './vitest.config.js';

/** Real processes end to end (see vitest.config.ts): one file at a time, each with the machine to itself. */
export default defineConfig({
  test: {
    include: HEAVY,
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
