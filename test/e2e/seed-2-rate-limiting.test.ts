import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo, SQLI_TS } from '../helpers/git.js';
import { AnthropicStandIn, defaultRespond, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/**
 * Seed acceptance test 2 (rate limiting under load) with real processes: 50 concurrent
 * POST /v1/review on one project whose panel has two Anthropic reviewers, against a local server
 * speaking the Messages API with real token buckets. The provider reserves max_tokens of its
 * output-tokens-per-minute bucket for every request in flight: with OTPM 4,000 and max_tokens 1,000
 * at most 4 calls fit at once, while one worker process (8 reviews at a time, 2 model reviewers
 * each) wants 16 — 4× the capacity — and three want 48, 12×. The gate
 * must keep the provider from ever answering 429, and every review must complete. Then the same
 * with three worker processes sharing the limits through PostgreSQL.
 */
describe('seed test 2: rate limiting under load (API + workers, real processes, Anthropic stand-in)', () => {
  let standIn: AnthropicStandIn;
  let c: Cluster;
  let api: ApiProc;
  let owner: Creds;
  let repo: string;

  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({
      limits: { rpm: 2_000, itpm: 2_000_000, otpm: 4_000 },
      msPerOutputToken: 5,
      // Short answers: the binding limit is what the provider reserves for calls in flight (both
      // bursts together generate 2 × 100 × 10 tokens, well inside the minute's 4,000: the refill
      // never becomes the limit, so the run measures the gate, not the clock).
      respond: (ctx) => ({ ...defaultRespond(ctx), outputTokens: 10 }),
    });
    c = await Cluster.start({
      ANTHROPIC_API_KEY: STAND_IN_API_KEY,
      ANTHROPIC_BASE_URL: standIn.url,
      ANTHROPIC_RPM: '2000',
      ANTHROPIC_ITPM: '2000000',
      ANTHROPIC_OTPM: '4000',
      QUORUM_LLM_MAX_OUTPUT_TOKENS: '1000',
      QUORUM_WORKER_CONCURRENCY: '8',
      QUORUM_DB_POOL_SIZE: '12',
      QUORUM_TIER_LIMITS: JSON.stringify({ free: { max_concurrent_reviews: 100, monthly_budget_usd: 1000 } }),
    });
    api = await c.startApi();
    await c.startWorker();
    owner = await c.bootstrap('owner@seed2.test', 'Seed Two', 'Lena Load');
    repo = await makeRepo({ 'src/users.ts': SQLI_TS });
    const panel = [{ persona: 'security', provider: 'anthropic' }, { persona: 'correctness', provider: 'anthropic' }];
    const p = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: 'proj1', repo_url: repo, settings: { panel } } });
    expect(p.status, p.text).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await c?.close();
    await standIn?.close();
    if (repo) await fs.rm(repo, { recursive: true, force: true });
  });

  async function burst(from: number): Promise<void> {
    const before = standIn.requests.length;
    const refusals: unknown[] = [];
    const onResponse = (r: { status: number }) => {
      if (r.status === 429) refusals.push(r);
    };
    standIn.on('response', onResponse);
    // The seed's `for i in 1..50: curl -X POST /v1/review -d '{"project_id":"proj1","task_id":"load-'$i'"}' &`.
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => http(api, 'POST', '/v1/review', { key: owner.api_key, body: { project_id: 'proj1', task_id: `load-${from + i}` } })),
    );
    for (const r of results) {
      expect(r.status, r.text).toBe(200);
      expect(r.body.status).toBe('completed');
      expect(r.body.progress).toEqual({ completed: 2, total: 2 });
    }
    standIn.off('response', onResponse);
    expect(refusals).toEqual([]);
    const calls = standIn.requests.slice(before);
    // ✅ No 429 errors from the Anthropic API; every reviewer call answered the first time.
    expect(calls.filter((r) => r.status === 429)).toEqual([]);
    expect(calls.filter((r) => r.status === 200)).toHaveLength(100);
    const ids = results.map((r) => r.body.id as string);
    const runs = await c.q(`select status, count(*)::int n from reviewer_runs where review_id = any($1::uuid[]) group by status`, [ids]);
    expect(runs).toEqual([{ status: 'completed', n: 100 }]);
    // ✅ The token bucket queued: calls waited in the gate instead of being refused upstream.
    // The workers write the ledger in the background, right after each call.
    await c.until('every call in the usage ledger', async () => (await c.q(`select 1 from usage_ledger where review_id = any($1::uuid[])`, [ids])).length === 100, 10_000);
    const ledger = await c.q(`select count(*)::int n, sum(attempts)::int attempts, max(wait_ms)::int max_wait from usage_ledger where review_id = any($1::uuid[])`, [ids]);
    expect(ledger[0]).toMatchObject({ n: 100, attempts: 100 });
    expect(ledger[0].max_wait).toBeGreaterThan(0);
  }

  it('50 concurrent POST /v1/review, one worker process: all complete, 0 upstream 429s', async () => {
    await burst(1);
  }, 240_000);

  it('the same with three worker processes sharing the limits through PostgreSQL', async () => {
    await Promise.all([c.startWorker(), c.startWorker()]);
    await burst(51);
    const workers = await c.q(`select count(*)::int n from worker_heartbeats`);
    expect(workers[0].n).toBeGreaterThanOrEqual(3);
  }, 240_000);
});
