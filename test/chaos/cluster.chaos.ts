import { describe, it } from 'vitest';
import { runChaos } from './chaos-run.js';

/**
 * `npm run test:chaos`: 100 reviews while a random worker is SIGKILLed every few seconds (and
 * replaced) and PostgreSQL restarts once. A smaller run of the same driver is in the default suite
 * (test/cluster/chaos-small.test.ts).
 */
describe('chaos: 100 reviews, workers SIGKILLed every few seconds, PostgreSQL restarted once', () => {
  it('all complete; no duplicated finding, orphaned worktree, stuck job or missed event', async () => {
    await runChaos({ label: 'full', reviews: 100, apis: 2, workers: 3, concurrency: 2, projects: 4, killEveryMs: 3_000, restartPgAt: 0.35, pgDownMs: 1_500 });
  }, 1_800_000);
});
