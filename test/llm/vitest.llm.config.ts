import { defineConfig } from 'vitest/config';

/** Runs only the LLM provider / gate tests: local stand-in servers, no database, no global setup. */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/llm/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10_000,
  },
});
