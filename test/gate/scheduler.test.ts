import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryBucketStore, type BucketDemand } from '../../src/core/gate/buckets.js';
import { PoolScheduler } from '../../src/core/gate/scheduler.js';

/**
 * The fair scheduler of one pool, driven on a simulated clock (vitest fake timers move
 * setTimeout, Date and performance together), so minutes of saturated load run in milliseconds
 * and every assertion is about the ORDER of service, never about wall-clock speed.
 */

interface Served {
  org: string;
  cls: number;
  at: number;
  waited: number;
  tokens: number;
}

const ITPM = 60_000; // 1,000 input tokens per second

function poolDemand(tokens: number): BucketDemand[] {
  return [{ key: 'pool:test:itpm', capacityPerMin: ITPM, amount: tokens, tenant: false }];
}

/** Keeps each org backlogged with `depth` waiting requests until `until` (simulated ms). */
function backlog(
  s: PoolScheduler,
  served: Served[],
  o: { org: string; weight?: number; depth: number; tokens: number; cls?: number; until: number; demands?: (tokens: number) => BucketDemand[]; latencyMs?: number },
): void {
  const submit = () => {
    if (Date.now() >= o.until) return;
    const enq = Date.now();
    s.admit({ orgId: o.org, weight: o.weight ?? 1, classRank: o.cls ?? 1, demands: (o.demands ?? poolDemand)(o.tokens), cost: o.tokens }).then(
      () => {
        served.push({ org: o.org, cls: o.cls ?? 1, at: Date.now(), waited: Date.now() - enq, tokens: o.tokens });
        // A closed-loop client: the next request follows when this call's answer is back.
        if (o.latencyMs) setTimeout(submit, o.latencyMs);
        else submit();
      },
      () => undefined,
    );
  };
  for (let i = 0; i < o.depth; i++) submit();
}

function jain(xs: number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  return (sum * sum) / (xs.length * xs.reduce((a, b) => a + b * b, 0));
}

const tokensOf = (served: Served[], org: string) => served.filter((x) => x.org === org).reduce((a, x) => a + x.tokens, 0);

describe('PoolScheduler (VTC fairness, priorities, tenant limits)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'], now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('three equal orgs, one sending 10× the load: service stays equal (Jain ≥ 0.99) and within the VTC bound', async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    const served: Served[] = [];
    const until = 120_000;
    backlog(s, served, { org: 'heavy', depth: 50, tokens: 500, until });
    backlog(s, served, { org: 'light-1', depth: 5, tokens: 500, until });
    backlog(s, served, { org: 'light-2', depth: 5, tokens: 500, until });
    // The first minute's burst (a full bucket) and then the steady rate.
    for (let t = 0; t < until; t += 50) await vi.advanceTimersByTimeAsync(50);
    const totals = ['heavy', 'light-1', 'light-2'].map((o) => tokensOf(served, o));
    expect(totals.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(jain(totals)).toBeGreaterThanOrEqual(0.99);
    // VTC bound: at every moment two backlogged orgs' service differs by at most 2 × the largest request.
    const running: Record<string, number> = { heavy: 0, 'light-1': 0, 'light-2': 0 };
    let worst = 0;
    for (const x of served) {
      running[x.org] = (running[x.org] ?? 0) + x.tokens;
      const v = Object.values(running);
      worst = Math.max(worst, Math.max(...v) - Math.min(...v));
    }
    expect(worst).toBeLessThanOrEqual(2 * 500);
    // Utilisation: the pool served its burst plus its rate for the whole run (never idle while work waits).
    const servedTokens = totals.reduce((a, b) => a + b, 0);
    expect(servedTokens).toBeGreaterThanOrEqual(0.97 * (ITPM + (ITPM * until) / 60_000));
    s.kick();
  });

  it('tier weights 1:2 split the service 1:2 (±5 %)', async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    const served: Served[] = [];
    const until = 120_000;
    backlog(s, served, { org: 'free', weight: 1, depth: 20, tokens: 400, until });
    backlog(s, served, { org: 'pro', weight: 2, depth: 20, tokens: 400, until });
    for (let t = 0; t < until; t += 50) await vi.advanceTimersByTimeAsync(50);
    const ratio = tokensOf(served, 'pro') / tokensOf(served, 'free');
    expect(ratio).toBeGreaterThan(2 * 0.95);
    expect(ratio).toBeLessThan(2 * 1.05);
  });

  it('an org returning from idle cannot bank credit: it is lifted to the backlogged minimum', async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    const served: Served[] = [];
    backlog(s, served, { org: 'busy', depth: 10, tokens: 500, until: 120_000 });
    for (let t = 0; t < 60_000; t += 50) await vi.advanceTimersByTimeAsync(50);
    // 'sleeper' was idle for a minute while 'busy' used the whole pool; now both are backlogged.
    const mark = served.length;
    backlog(s, served, { org: 'sleeper', depth: 10, tokens: 500, until: 120_000 });
    for (let t = 60_000; t < 120_000; t += 50) await vi.advanceTimersByTimeAsync(50);
    const after = served.slice(mark);
    const busy = tokensOf(after, 'busy');
    const sleeper = tokensOf(after, 'sleeper');
    // Equal shares from the moment both wait — not a minute of catch-up for the sleeper.
    expect(Math.abs(busy - sleeper)).toBeLessThanOrEqual(2 * 500);
  });

  it('an org held back by its own concurrency banks no credit: the opening burst is not repaid by starving the busiest org', async () => {
    // Calls take 200 ms; a full bucket at start serves whoever has the most calls outstanding
    // (heavy: 24, light: 6). Light was never waiting then, so afterwards both get equal shares at
    // once — not a minute of nothing for heavy while light "catches up".
    const itpm = 300_000;
    const demands = (tokens: number): BucketDemand[] => [{ key: 'pool:burst:itpm', capacityPerMin: itpm, amount: tokens, tenant: false }];
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    const served: Served[] = [];
    const until = 60_000;
    backlog(s, served, { org: 'heavy', depth: 24, tokens: 1500, until, demands, latencyMs: 200 });
    backlog(s, served, { org: 'light', depth: 6, tokens: 1500, until, demands, latencyMs: 200 });
    for (let t = 0; t < until; t += 50) await vi.advanceTimersByTimeAsync(50);
    const burst = served.filter((x) => x.at < 2_000);
    expect(tokensOf(burst, 'heavy')).toBeGreaterThan(2 * tokensOf(burst, 'light'));
    for (const [from, to] of [
      [5_000, 15_000],
      [15_000, 60_000],
    ] as const) {
      const window = served.filter((x) => x.at >= from && x.at < to);
      expect(jain([tokensOf(window, 'heavy'), tokensOf(window, 'light')])).toBeGreaterThanOrEqual(0.99);
    }
    s.kick();
  });

  it('inside an org admin calls go first, and no viewer call waits longer than the aging bound', async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const agingMs = 20_000;
    const s = new PoolScheduler({ store, agingMs, now: () => Date.now() });
    const served: Served[] = [];
    const until = 120_000;
    // 1,000 tokens/s of capacity (2 requests/s); 14 requests always waiting: admins alone would wait 5 s.
    backlog(s, served, { org: 'acme', depth: 10, tokens: 500, cls: 6, until }); // admin
    backlog(s, served, { org: 'acme', depth: 4, tokens: 500, cls: 0, until }); // viewer
    for (let t = 0; t < until; t += 50) await vi.advanceTimersByTimeAsync(50);
    const admin = served.filter((x) => x.cls === 6 && x.at > 60_000);
    const viewer = served.filter((x) => x.cls === 0 && x.at > 60_000);
    expect(viewer.length).toBeGreaterThan(0);
    const mean = (xs: Served[]) => xs.reduce((a, x) => a + x.waited, 0) / xs.length;
    expect(mean(admin)).toBeLessThan(mean(viewer));
    // A viewer's wait is bounded by the aging bound plus the time one request's capacity takes to refill.
    const slotMs = (500 / ITPM) * 60_000;
    expect(Math.max(...viewer.map((x) => x.waited))).toBeLessThanOrEqual(agingMs + 2 * slotMs + 50);
  });

  it("a tenant over its own limit waits without taking the pool from others", async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    const served: Served[] = [];
    const until = 60_000;
    const limited = (tokens: number): BucketDemand[] => [
      { key: 't:org:capped:rpm', capacityPerMin: 6, amount: 1, tenant: true },
      ...poolDemand(tokens),
    ];
    backlog(s, served, { org: 'capped', depth: 10, tokens: 100, until, demands: limited });
    backlog(s, served, { org: 'free', depth: 10, tokens: 100, until });
    for (let t = 0; t < until; t += 50) await vi.advanceTimersByTimeAsync(50);
    const capped = served.filter((x) => x.org === 'capped').length;
    // Its own bucket: a burst of 6 then 6 per minute.
    expect(capped).toBeGreaterThanOrEqual(11);
    expect(capped).toBeLessThanOrEqual(12);
    // Everything else the pool had went to the other org.
    expect(tokensOf(served, 'free') + tokensOf(served, 'capped')).toBeGreaterThanOrEqual(0.97 * 2 * ITPM);
  });

  it('noWait fails fast with rate_limited and a retry-after instead of waiting on its own limit', async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    const demands: BucketDemand[] = [{ key: 't:key:k1:rpm', capacityPerMin: 1, amount: 1, tenant: true }];
    await s.admit({ orgId: 'o', weight: 1, classRank: 1, demands, cost: 1 });
    await expect(s.admit({ orgId: 'o', weight: 1, classRank: 1, demands, cost: 1, noWait: true })).rejects.toMatchObject({ code: 'rate_limited', retryAfter: 60 });
  });

  it('an aborted waiter leaves the queue and takes nothing', async () => {
    const store = new MemoryBucketStore(() => Date.now());
    const s = new PoolScheduler({ store, agingMs: 60_000, now: () => Date.now() });
    await s.admit({ orgId: 'o', weight: 1, classRank: 1, demands: poolDemand(ITPM), cost: 1 });
    const ac = new AbortController();
    const waiting = s.admit({ orgId: 'o', weight: 1, classRank: 1, demands: poolDemand(1000), cost: 1, signal: ac.signal });
    await vi.advanceTimersByTimeAsync(10);
    ac.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(s.waiting()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(store.peek('pool:test:itpm', ITPM)).toBe(ITPM);
  });
});
