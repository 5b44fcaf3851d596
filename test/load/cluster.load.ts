import { describe, it } from 'vitest';
import { runLoad } from './load-run.js';

/**
 * `npm run test:load`: the seed's NFR, 50 simultaneous reviews on 2 API + 3 worker processes
 * sharing one PostgreSQL → 100 % success; prints throughput and p50/p99. A smaller run of the same
 * driver is part of the default suite (test/cluster/load-small.test.ts).
 */
describe('load: 50 concurrent reviews, 2 API + 3 worker processes', () => {
  it('100 % of 50 concurrent reviews complete', async () => {
    await runLoad({ label: 'full', apis: 2, workers: 3, concurrency: 4, reviews: 50, projects: 5 });
  }, 900_000);
});
