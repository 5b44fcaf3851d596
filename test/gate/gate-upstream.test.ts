import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../src/core/deps.js';
import { completeThroughGate } from '../../src/core/llm/providers/gated.js';
import { bootstrapOwner } from '../../src/core/tenancy/bootstrap.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { AnthropicStandIn, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/**
 * The scheduling gate against a local server speaking the Anthropic Messages API, through the real
 * SDK: what the provider's headers say, 429s, 529s and spend limits, with the shared buckets,
 * ledger and budgets in a real PostgreSQL.
 */

const MODEL = 'claude-sonnet-4-6';

async function org(rt: TestRuntime, email: string, tier: 'free' | 'pro' | 'enterprise' = 'enterprise') {
  const o = await bootstrapOwner(rt.deps, { email, org: email.split('@')[0] as string });
  await rt.admin.query(`update orgs set tier = $2 where id = $1`, [o.org_id, tier]);
  return o;
}

function ask(deps: CoreDeps, o: { org_id: string; user_id: string }, prompt = 'Say OK.', extra: Record<string, unknown> = {}) {
  return completeThroughGate(deps.gate, deps.llm.get('anthropic'), { orgId: o.org_id, userId: o.user_id, priority: 'normal', ...extra }, { system: 'You are terse.', prompt, maxTokens: 256 });
}

describe('gate ↔ provider (Anthropic stand-in, real SDK, shared buckets in PostgreSQL)', () => {
  let standIn: AnthropicStandIn;
  let rt: TestRuntime;
  beforeAll(async () => {
    // The provider's real limit (120 RPM) is ten times lower than the one configured.
    standIn = await AnthropicStandIn.start({ limits: { rpm: 120 } });
    rt = await createTestRuntime({
      ANTHROPIC_API_KEY: STAND_IN_API_KEY,
      ANTHROPIC_BASE_URL: standIn.url,
      QUORUM_ANTHROPIC_MODEL: MODEL,
      ANTHROPIC_RPM: '1200',
      ANTHROPIC_ITPM: '10000000',
      ANTHROPIC_OTPM: '10000000',
      QUORUM_GATE_MAX_RETRIES: '3',
      QUORUM_DB_POOL_SIZE: '10',
    });
  });
  afterAll(async () => {
    await rt?.close();
    await standIn?.close();
  });

  it('when the real limit is lower than configured, the gate converges to it after the first 429s and then sees no more', async () => {
    const o = await org(rt, 'conv@gate.test');
    const first = standIn.requests.length;
    const t0 = Date.now();
    // 130 calls at once: the provider's burst is 120, the gate thinks it is 1,200. Either the first
    // answers' headers or the first 429s tell it the truth.
    const results = await Promise.all(Array.from({ length: 130 }, () => ask(rt.deps, o)));
    const seconds = (Date.now() - t0) / 1000;
    expect(results.every((r) => r.text.length > 0)).toBe(true);
    const mine = standIn.requests.slice(first);
    const rejected = mine.filter((r) => r.status === 429);
    // The 10 calls over the provider's burst had to wait for its refill (2/s): the gate paced itself.
    expect(seconds).toBeGreaterThanOrEqual(4);
    // Only the first wave is refused: the 10 calls over the provider's burst, plus at most what
    // its bucket refilled (2/s) while that wave was in flight. Once the gate has read the headers
    // of a 429 it paces itself to the real limit, so every later call is admitted.
    expect(rejected.length).toBeLessThanOrEqual(10 + Math.ceil(2 * Math.min(seconds, 3)));
    // The learned limit is shared through the database.
    const b = await rt.admin.query(`select learned_capacity from gate_buckets where key = 'pool:anthropic:sonnet:rpm'`);
    expect(Number(b.rows[0].learned_capacity)).toBe(120);
    // And later calls see no 429 at all.
    const before = standIn.requests.length;
    await Promise.all(Array.from({ length: 5 }, () => ask(rt.deps, o)));
    expect(standIn.requests.slice(before).filter((r) => r.status === 429)).toEqual([]);
    // One ledger row per call, each ok, attempts counting the 429s.
    await rt.deps.gate.drain?.(); // accounting runs in the background
    const ledger = await rt.admin.query(`select count(*)::int n, sum(attempts)::int a from usage_ledger where org_id = $1 and outcome = 'ok'`, [o.org_id]);
    expect(ledger.rows[0].n).toBe(135);
    expect(ledger.rows[0].a).toBe(135 + rejected.length);
  }, 60_000);

  it('a spend-limit 429 fails at once with provider_spend_limit and is not retried', async () => {
    const o = await org(rt, 'spend@gate.test');
    const before = standIn.requests.length;
    standIn.failNext('spend_limit');
    await expect(ask(rt.deps, o)).rejects.toMatchObject({ code: 'provider_spend_limit' });
    expect(standIn.requests.length - before).toBe(1);
    await rt.deps.gate.drain?.();
    const l = await rt.admin.query(`select outcome, error_code, attempts from usage_ledger where org_id = $1`, [o.org_id]);
    expect(l.rows).toEqual([{ outcome: 'error', error_code: 'provider_spend_limit', attempts: 1 }]);
  });

  it('529 overloaded is retried with backoff; a longer outage fails with provider_overloaded after the retries', async () => {
    const o = await org(rt, 'busy@gate.test');
    let before = standIn.requests.length;
    standIn.failNext('overloaded', 2);
    const ok = await ask(rt.deps, o);
    expect(ok.text.length).toBeGreaterThan(0);
    expect(standIn.requests.slice(before).map((r) => r.status)).toEqual([529, 529, 200]);
    before = standIn.requests.length;
    standIn.failNext('overloaded', 4);
    await expect(ask(rt.deps, o)).rejects.toMatchObject({ code: 'provider_overloaded' });
    expect(standIn.requests.length - before).toBe(4); // the try + QUORUM_GATE_MAX_RETRIES = 3
    // Three failures in a row opened the pool's circuit: a shared pause on its request bucket.
    const m = await rt.deps.metrics.registry.getSingleMetricAsString('quorum_gate_circuit_open_total');
    expect(m).toMatch(/pool="anthropic:sonnet"} [1-9]/);
  }, 60_000);

  it('cost goes to the ledger by the price table; GateRequest ids are recorded', async () => {
    const o = await org(rt, 'cost@gate.test');
    await ask(rt.deps, o, 'Say OK please.', { projectId: undefined });
    await rt.deps.gate.drain?.();
    const l = await rt.admin.query(`select model, input_tokens, output_tokens, cost_usd::float8 c, user_id from usage_ledger where org_id = $1`, [o.org_id]);
    expect(l.rows).toHaveLength(1);
    const r = l.rows[0];
    expect(r.user_id).toBe(o.user_id);
    expect(r.input_tokens).toBeGreaterThan(0);
    expect(r.c).toBeCloseTo((r.input_tokens * 3 + r.output_tokens * 15) / 1e6, 6);
  });
});

describe('budgets: reservations keep concurrent calls under the budget', () => {
  let standIn: AnthropicStandIn;
  let rt: TestRuntime;
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({ respond: () => ({ type: 'text', text: 'x'.repeat(1000), outputTokens: 250 }) });
    rt = await createTestRuntime({ ANTHROPIC_API_KEY: STAND_IN_API_KEY, ANTHROPIC_BASE_URL: standIn.url, QUORUM_ANTHROPIC_MODEL: MODEL, QUORUM_DB_POOL_SIZE: '10' });
  });
  afterAll(async () => {
    await rt?.close();
    await standIn?.close();
  });

  it('a budget of $X with 20 concurrent calls never records spend over $X; 90 % warns once; then budget_exceeded', async () => {
    const o = await org(rt, 'budget@gate.test');
    const budget = 0.03;
    await rt.admin.query(`insert into gate_limits (org_id, scope, subject_id, monthly_budget_usd) values ($1, 'org', $1, $2)`, [o.org_id, budget]);
    const prompt = 'Review this. '.repeat(200);
    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => ask(rt.deps, o, prompt)));
    const ok = settled.filter((s) => s.status === 'fulfilled').length;
    const refused = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as { code?: string }] : []));
    expect(ok).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((e) => e.code === 'budget_exceeded')).toBe(true);
    await rt.deps.gate.drain?.();
    const spent = await rt.admin.query(`select coalesce(sum(cost_usd), 0)::float8 s from usage_ledger where org_id = $1`, [o.org_id]);
    expect(spent.rows[0].s).toBeLessThanOrEqual(budget);
    const month = await rt.admin.query(`select spent_usd::float8 s from budget_spend where org_id = $1 and scope = 'org'`, [o.org_id]);
    expect(month.rows[0].s).toBeCloseTo(spent.rows[0].s, 6);
    expect(spent.rows[0].s).toBeGreaterThanOrEqual(0.9 * budget - 0.011); // used up to the last call that could fit
    const warnings = await rt.admin.query(`select payload from events where org_id = $1 and type = 'budget.warning'`, [o.org_id]);
    expect(warnings.rows).toHaveLength(1);
    expect(warnings.rows[0].payload).toMatchObject({ scope: 'org', subject_id: o.org_id, limit_usd: budget });
    const left = await rt.admin.query(`select count(*)::int n from budget_reservations where org_id = $1`, [o.org_id]);
    expect(left.rows[0].n).toBe(0);
    // Raising the budget lets calls through again (the gate's policy cache is invalidated by the API; here by hand).
    await rt.admin.query(`update gate_limits set monthly_budget_usd = 1 where org_id = $1`, [o.org_id]);
    (rt.deps.gate as unknown as { invalidateOrg(id: string): void }).invalidateOrg(o.org_id);
    await expect(ask(rt.deps, o)).resolves.toMatchObject({ text: expect.any(String) });
  }, 60_000);
});

describe('a 429 anyway: honour retry-after, give the slot back, retry at the head', () => {
  let standIn: AnthropicStandIn;
  let rt: TestRuntime;
  let refuseNext = 0;
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({
      respond: () =>
        refuseNext-- > 0
          ? { type: 'error', status: 429, errorType: 'rate_limit_error', message: 'This request would exceed the rate limit for your organization.', retryAfterS: 1 }
          : { type: 'text', text: 'OK' },
    });
    rt = await createTestRuntime({ ANTHROPIC_API_KEY: STAND_IN_API_KEY, ANTHROPIC_BASE_URL: standIn.url, QUORUM_ANTHROPIC_MODEL: MODEL, ANTHROPIC_RPM: '600' });
  });
  afterAll(async () => {
    await rt?.close();
    await standIn?.close();
  });

  it('waits out retry-after before the retry, counts the 429 and records two attempts', async () => {
    const o = await org(rt, 'retry@gate.test');
    refuseNext = 1;
    const t0 = Date.now();
    await expect(ask(rt.deps, o)).resolves.toMatchObject({ text: 'OK' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    await rt.deps.gate.drain?.();
    const l = await rt.admin.query(`select outcome, attempts from usage_ledger where org_id = $1`, [o.org_id]);
    expect(l.rows).toEqual([{ outcome: 'ok', attempts: 2 }]);
    const m = await rt.deps.metrics.registry.getSingleMetricAsString('quorum_gate_upstream_429_total');
    expect(m).toMatch(/pool="anthropic:sonnet"} 1/);
    // The pause is shared: it is recorded on the pool's request bucket in the database.
    const b = await rt.admin.query(`select paused_until from gate_buckets where key = 'pool:anthropic:sonnet:rpm'`);
    expect(b.rows[0].paused_until).not.toBeNull();
  });
});
