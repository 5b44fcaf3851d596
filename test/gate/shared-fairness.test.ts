import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BucketDemand } from '../../src/core/gate/buckets.js';
import { PgBucketStore } from '../../src/core/gate/gate-buckets.repo.js';
import { PoolScheduler } from '../../src/core/gate/scheduler.js';
import { bootstrapOwner } from '../../src/core/tenancy/bootstrap.js';
import { createKysely, createPool, type Db } from '../../src/db/client.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';

/**
 * Fairness across processes: three schedulers (three processes, each with its own connection pool)
 * share one upstream pool through PostgreSQL. Process A has a heavy org and a light org waiting;
 * B and C only the heavy org. Each process is fair among its own orgs, but alone they would give the
 * heavy org 5/6 of the pool (B and C take their turns at the bucket as often as A does). The shared
 * counters of quorum.gate_acquire make the two orgs' service equal across the processes, without
 * leaving the pool idle.
 */
const CAPACITY = 120_000; // tokens per minute: 2,000 per second
const TOKENS = 100; // per call: 20 calls per second
const SECONDS = 8;

function jain(xs: number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  return (sum * sum) / (xs.length * xs.reduce((a, b) => a + b * b, 0));
}

describe('fairness shared by several processes (quorum.gate_acquire with counters)', () => {
  let rt: TestRuntime;
  const dbs: Db[] = [];
  let heavy: string;
  let light: string;
  beforeAll(async () => {
    rt = await createTestRuntime();
    heavy = (await bootstrapOwner(rt.deps, { email: 'heavy@fair.test', org: 'heavy' })).org_id;
    light = (await bootstrapOwner(rt.deps, { email: 'light@fair.test', org: 'light' })).org_id;
    for (let i = 0; i < 3; i++) {
      dbs.push(createKysely(createPool({ url: rt.db.adminUrl, max: 3, statementTimeoutMs: 10_000, idleTimeoutMs: 1000, connectTimeoutMs: 5000, applicationName: `fair-${i}`, role: 'quorum_app' })));
    }
  });
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.destroy()));
    await rt?.close();
  });

  async function run(pool: string, shared: boolean): Promise<{ heavy: number; light: number }> {
    const KEY = `pool:${pool}:itpm`;
    const fairnessPool = shared ? pool : undefined;
    const stores = dbs.map((d) => new PgBucketStore(d, 0));
    // Start from an empty bucket (a new one is full: take it all): the measured service is the
    // steady rate, not the opening burst.
    expect(await stores[0]!.acquire([{ key: KEY, capacityPerMin: CAPACITY, amount: CAPACITY, tenant: false }])).toEqual({ ok: true });
    const schedulers = stores.map((store) => new PoolScheduler({ store, agingMs: 60_000, pollMs: 50, ...(fairnessPool && { fairnessPool }) }));
    const served = { heavy: 0, light: 0 };
    const demands: BucketDemand[] = [{ key: KEY, capacityPerMin: CAPACITY, amount: TOKENS, tenant: false }];
    const until = Date.now() + SECONDS * 1000;
    const loop = async (s: PoolScheduler, org: 'heavy' | 'light') => {
      const orgId = org === 'heavy' ? heavy : light;
      while (Date.now() < until) {
        await s.admit({ orgId, weight: 1, classRank: 1, demands, cost: TOKENS });
        if (Date.now() < until) served[org] += TOKENS;
      }
    };
    const [a, b, c] = schedulers as [PoolScheduler, PoolScheduler, PoolScheduler];
    const loops: Array<Promise<void>> = [];
    for (let i = 0; i < 6; i++) loops.push(loop(a, 'heavy'), loop(a, 'light'), loop(b, 'heavy'), loop(c, 'heavy'));
    await Promise.all(loops);
    return served;
  }

  it('a heavy org waiting in three processes and a light org waiting in one get equal service; the pool stays busy', async () => {
    const fair = await run('anthropic:fair-shared', true);
    const rate = (CAPACITY / 60) * SECONDS;
    expect(fair.heavy + fair.light).toBeGreaterThanOrEqual(0.85 * rate);
    expect(jain([fair.heavy, fair.light])).toBeGreaterThanOrEqual(0.97);

    // The same load without the shared counters: each process is fair only among its own orgs.
    const local = await run('anthropic:fair-local', false);
    console.log(`[measure] shared counters: heavy ${fair.heavy} / light ${fair.light} tokens (Jain ${jain([fair.heavy, fair.light]).toFixed(3)}, ${((100 * (fair.heavy + fair.light)) / rate).toFixed(1)} % of the rate); per-process only: heavy/light ×${(local.heavy / local.light).toFixed(2)}`);
    expect(local.heavy / local.light).toBeGreaterThan(2.5);
  }, 60_000);

  it("an org held back by its own rate limit does not hold back another process's org", async () => {
    const pool = 'anthropic:fair-tenant';
    const KEY = `pool:${pool}:itpm`;
    const [a, b] = dbs.map((d) => new PgBucketStore(d, 0)) as [PgBucketStore, PgBucketStore];
    expect(await a.acquire([{ key: KEY, capacityPerMin: CAPACITY, amount: CAPACITY, tenant: false }])).toEqual({ ok: true });
    const sa = new PoolScheduler({ store: a, agingMs: 60_000, pollMs: 50, fairnessPool: pool });
    const sb = new PoolScheduler({ store: b, agingMs: 60_000, pollMs: 50, fairnessPool: pool });
    const demands: BucketDemand[] = [{ key: KEY, capacityPerMin: CAPACITY, amount: TOKENS, tenant: false }];
    // light: 6 calls a minute of its own, so nearly always waiting on that limit, never ahead.
    const limited: BucketDemand[] = [{ key: `t:org:${light}:${light}:rpm`, capacityPerMin: 6, amount: 1, tenant: true }, ...demands];
    // Its own bucket is spent: its calls wait on it (about 10 s each), with the lowest counter of all.
    expect(await a.acquire([{ key: `t:org:${light}:${light}:rpm`, capacityPerMin: 6, amount: 6, tenant: true }])).toEqual({ ok: true });
    const stop = new AbortController();
    const blocked = Array.from({ length: 3 }, () => sa.admit({ orgId: light, weight: 1, classRank: 1, demands: limited, cost: TOKENS, signal: stop.signal }).catch(() => undefined));
    let served = 0;
    const until = Date.now() + 4_000;
    const loops: Array<Promise<void>> = [];
    // heavy waits in both processes: in A beside light, whose every call waits on its own limit.
    for (const s of [sa, sb, sa, sb]) {
      loops.push(
        (async () => {
          while (Date.now() < until) {
            await s.admit({ orgId: heavy, weight: 1, classRank: 1, demands, cost: TOKENS });
            if (Date.now() < until) served += TOKENS;
          }
        })(),
      );
    }
    await Promise.all(loops);
    stop.abort();
    await Promise.all(blocked);
    // heavy has the pool to itself: close to the whole rate, although light has waited all along
    // with a lower counter (it is not counted as backlogged while only its own limit holds it).
    expect(served).toBeGreaterThanOrEqual(0.8 * (CAPACITY / 60) * 4);
  }, 30_000);
});
