import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { AnthropicStandIn, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/** A panel mixing a model reviewer (Anthropic protocol, local stand-in) with built-in ones. */
describe('LLM reviewers in a review (Anthropic stand-in)', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  let standIn: AnthropicStandIn;
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start();
    t = await createTestApp({ ANTHROPIC_API_KEY: STAND_IN_API_KEY, ANTHROPIC_BASE_URL: standIn.url, QUORUM_GATE_MAX_RETRIES: '2' });
    worker = await startWorker(t.rt, { concurrency: 2 });
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
    await standIn?.close();
  });

  it('a model reviewer runs through the gate and its findings join the consensus with the panel size n = 3', async () => {
    const a = await newOrg(t, 'o@llm.test', 'LLM Org');
    const settings = { panel: [{ persona: 'security', provider: 'builtin' }, { persona: 'security', provider: 'anthropic' }, { persona: 'tests', provider: 'builtin' }] };
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'svc', settings } });
    expect(p.statusCode, p.body).toBe(201);
    const res = await t.app.inject({
      method: 'POST', url: '/v1/review', headers: auth(a.api_key),
      payload: { project_id: 'svc', task_id: 'llm-1', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const review = res.json();
    expect(review.status).toBe('completed');
    expect(review.panel).toHaveLength(3);
    expect(standIn.requests.length).toBe(1);
    const runs = await t.rt.admin.query(`select reviewer, status, usage from reviewer_runs where review_id = $1 order by reviewer`, [review.id]);
    const llm = runs.rows.find((r) => r.reviewer === 'security:anthropic');
    expect(llm.status).toBe('completed');
    expect(llm.usage.input_tokens).toBeGreaterThan(0);
    const fromModel = review.findings.filter((f: { reviewers: string[] }) => f.reviewers.includes('security:anthropic'));
    expect(fromModel.length).toBeGreaterThan(0);
    expect(fromModel[0].file).toBe('src/users.ts');
    expect(fromModel[0].agreement.n).toBe(3);
  });

  it('a transient 529 is retried by the gate: the model reviewer completes', async () => {
    const a = await newOrg(t, 'o3@llm.test', 'LLM Org 3');
    const settings = { panel: [{ persona: 'correctness', provider: 'anthropic' }] };
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'svc3', settings } });
    const before = standIn.requests.length;
    standIn.failNext('overloaded');
    const res = await t.app.inject({
      method: 'POST', url: '/v1/review', headers: auth(a.api_key),
      payload: { project_id: 'svc3', task_id: 'llm-3', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().status).toBe('completed');
    expect(standIn.requests.length - before).toBe(2);
    const runs = await t.rt.admin.query(`select status from reviewer_runs where review_id = $1`, [res.json().id]);
    expect(runs.rows.map((r) => r.status)).toEqual(['completed']);
    await t.rt.deps.gate.drain?.(); // accounting runs in the background
    const ledger = await t.rt.admin.query(`select outcome, attempts from usage_ledger where review_id = $1`, [res.json().id]);
    expect(ledger.rows).toEqual([{ outcome: 'ok', attempts: 2 }]);
  });

  it('a provider outage that outlasts the retries fails that reviewer, not the review', async () => {
    const a = await newOrg(t, 'o2@llm.test', 'LLM Org 2');
    const settings = { panel: [{ persona: 'security', provider: 'builtin' }, { persona: 'correctness', provider: 'anthropic' }] };
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'svc2', settings } });
    standIn.failNext('overloaded', 3); // the first try and QUORUM_GATE_MAX_RETRIES = 2 retries
    const res = await t.app.inject({
      method: 'POST', url: '/v1/review', headers: auth(a.api_key),
      payload: { project_id: 'svc2', task_id: 'llm-2', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().status).toBe('completed');
    const runs = await t.rt.admin.query(`select reviewer, status, error from reviewer_runs where review_id = $1`, [res.json().id]);
    const failed = runs.rows.find((r) => r.reviewer === 'correctness:anthropic');
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/provider_overloaded/);
    // The review says it is partial, wherever it is read.
    expect(res.json().coverage.notes).toEqual([expect.stringMatching(/1 of 2 reviewers failed, so this review is partial: correctness:anthropic \(provider_overloaded/)]);
    expect((await t.app.inject({ url: `/v1/reviews/${res.json().id}/report.md`, headers: auth(a.api_key) })).body).toContain('this review is partial');
  });

  it('reviewers stopped by the budget: a partial review never passes; a review nobody could do answers 429 budget_exceeded', async () => {
    const a = await newOrg(t, 'o3@llm.test', 'LLM Org 3');
    const mixed = { panel: [{ persona: 'tests', provider: 'builtin' }, { persona: 'security', provider: 'anthropic' }] };
    const modelOnly = { panel: [{ persona: 'security', provider: 'anthropic' }, { persona: 'correctness', provider: 'anthropic' }] };
    for (const [slug, settings] of [['mixed', mixed], ['model', modelOnly]] as const) {
      await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug, settings } });
      const cap = await t.app.inject({ method: 'PUT', url: '/v1/limits', headers: auth(a.api_key), payload: { scope: 'project', subject: slug, monthly_budget_usd: 0 } });
      expect(cap.statusCode, cap.body).toBe(200);
    }
    // A clean change: the built-in reviewer finds nothing, the model reviewer is refused by the budget.
    const clean = { diff: newFileDiff('src/sum.ts', 'export const sum = (a: number, b: number): number => a + b;\n') };
    const partial = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'mixed', task_id: 'b-1', target: clean } });
    expect(partial.statusCode, partial.body).toBe(200);
    expect(partial.json()).toMatchObject({ status: 'completed', verdict: 'comment' });
    expect(partial.json().coverage.notes.join(' ')).toMatch(/security:anthropic \(budget_exceeded/);
    const none = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'model', task_id: 'b-2', target: clean } });
    expect(none.statusCode, none.body).toBe(429);
    expect(none.json().error.code).toBe('budget_exceeded');
    const failed = await t.app.inject({ url: `/v1/reviews/${none.json().error.details.review_id}`, headers: auth(a.api_key) });
    expect(failed.json()).toMatchObject({ status: 'failed', error: { code: 'budget_exceeded' } });
  });
});
