import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBucketStore } from '../../src/core/gate/gate-buckets.repo.js';
import { createKysely, createPool } from '../../src/db/client.js';
import type { Db } from '../../src/db/client.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';

/**
 * The shared buckets as three processes see them: three separate connection pools taking,
 * settling and learning concurrently on the same rows. Nothing may be admitted beyond what the
 * bucket holds (its burst plus its refill), whatever the interleaving.
 */
describe('PgBucketStore under concurrency (three pools = three processes)', () => {
  let rt: TestRuntime;
  const dbs: Db[] = [];
  beforeAll(async () => {
    rt = await createTestRuntime();
    for (let i = 0; i < 3; i++) {
      dbs.push(createKysely(createPool({ url: rt.db.adminUrl, max: 4, statementTimeoutMs: 10_000, idleTimeoutMs: 1000, connectTimeoutMs: 5000, applicationName: `bucket-${i}`, role: 'quorum_app' })));
    }
  });
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.destroy()));
    await rt?.close();
  });

  it('concurrent acquire / adjust / learn never admit more than burst + refill', async () => {
    const stores = dbs.map((d) => new PgBucketStore(d));
    const cap = 600; // per minute: 10 per second
    const key = 'pool:test:sonnet:otpm';
    let admitted = 0;
    const t0 = Date.now();
    const worker = async (s: PgBucketStore, i: number) => {
      for (let n = 0; n < 120; n++) {
        const r = await s.acquire([{ key, capacityPerMin: cap, amount: 5, tenant: false }]);
        if (r.ok) {
          admitted += 5;
          // Half the calls used less than reserved and give some back; learning interleaves.
          if (n % 2 === 0) await s.adjust([{ key, capacityPerMin: cap, delta: 2 }]).then(() => (admitted -= 2));
        }
        if (n % 7 === i) await s.learn(key, cap, { limit: cap, remaining: 10_000 });
      }
    };
    await Promise.all(stores.flatMap((s, i) => [worker(s, i), worker(s, i + 3)]));
    const seconds = (Date.now() - t0) / 1000;
    // Net tokens taken can never exceed the initial burst plus what refilled meanwhile.
    expect(admitted).toBeLessThanOrEqual(cap + (cap / 60) * seconds + 1e-6);
    expect(admitted).toBeGreaterThanOrEqual(cap * 0.9); // and the burst itself was used
    const row = await rt.admin.query(`select tokens from gate_buckets where key = $1`, [key]);
    expect(Number(row.rows[0].tokens)).toBeGreaterThanOrEqual(-1e-6);
  }, 60_000);
});
