import { describe, it } from 'vitest';
import { runChaos } from '../chaos/chaos-run.js';

/** The chaos suite's driver, small enough for every CI run: 12 reviews, workers killed, PostgreSQL restarted. */
describe('chaos (small): 12 reviews, a worker SIGKILLed every 3 s, PostgreSQL restarted once', () => {
  it('all complete; no duplicated finding, orphaned worktree, stuck job or missed event', async () => {
    await runChaos({ label: 'small, default suite', reviews: 12, apis: 2, workers: 3, concurrency: 2, projects: 2, killEveryMs: 3_000, restartPgAt: 0.3, pgDownMs: 1_000 });
  }, 600_000);
});
