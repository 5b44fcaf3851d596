import { describe, it } from 'vitest';
import { runLoad } from '../load/load-run.js';

/** The load suite's driver, small enough for every CI run: 2 API + 3 worker processes, 10 reviews. */
describe('load (small): 10 concurrent reviews, 2 API + 3 worker processes', () => {
  it('all complete, every SSE stream complete and in order, nothing left behind', async () => {
    await runLoad({ label: 'small, default suite', apis: 2, workers: 3, concurrency: 2, reviews: 10, projects: 2 });
  }, 300_000);
});
