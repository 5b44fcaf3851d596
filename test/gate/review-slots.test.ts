import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { AnthropicStandIn, defaultRespond, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/** Per-org cap on running reviews (tier limit, here overridden to 1): the second review waits for the slot. */
describe('running-review slots per org', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  let standIn: AnthropicStandIn;
  let release: () => void = () => undefined;
  let held = new Promise<void>((r) => (release = r));
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({
      respond: async (ctx) => {
        await held;
        return defaultRespond(ctx);
      },
    });
    t = await createTestApp({
      ANTHROPIC_API_KEY: STAND_IN_API_KEY,
      ANTHROPIC_BASE_URL: standIn.url,
      QUORUM_TIER_LIMITS: JSON.stringify({ free: { max_concurrent_reviews: 1 } }),
    });
    worker = await startWorker(t.rt, { concurrency: 4 });
  });
  afterAll(async () => {
    release();
    await worker?.stop();
    await t?.close();
    await standIn?.close();
  });

  it('a second review of the org waits while the first runs, and starts as soon as the slot frees', async () => {
    const a = await newOrg(t, 'slots@gate.test', 'Slots');
    const settings = { panel: [{ persona: 'security', provider: 'anthropic' }] };
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'svc', settings } })).statusCode).toBe(201);
    const start = async (task: string) => {
      const r = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(a.api_key), payload: { project_id: 'svc', task_id: task, target: { diff: newFileDiff('src/a.ts', SQLI_TS) } } });
      expect(r.statusCode, r.body).toBe(202);
      return r.json().id as string;
    };
    const first = await start('one');
    const status = async (id: string) => (await t.rt.admin.query(`select status, started_at, completed_at, slot_retry_at from reviews where id = $1`, [id])).rows[0];
    for (let i = 0; i < 200 && (await status(first)).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await status(first)).status).toBe('running');
    const second = await start('two');
    // The second one is claimed, finds the slot taken, and waits for it.
    for (let i = 0; i < 200 && !(await status(second)).slot_retry_at; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await status(second)).status).toBe('queued');
    expect((await status(second)).slot_retry_at).not.toBeNull();
    const releasedAt = Date.now();
    release();
    for (let i = 0; i < 400 && (await status(second)).status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 25));
    const [s1, s2] = [await status(first), await status(second)];
    expect(s1.status).toBe('completed');
    expect(s2.status).toBe('completed');
    expect(s2.started_at.getTime()).toBeGreaterThanOrEqual(s1.completed_at.getTime());
    // Promoted when the slot freed, not at its 5-second retry.
    expect(Date.now() - releasedAt).toBeLessThan(4_000);
    held = Promise.resolve();
  }, 30_000);
  // A sync review of a submitted diff starts its built-in reviewers while its start transaction
  // runs; when the org has no free slot it is not run inline after all: those reviewers are
  // stopped and unused, and the review waits for the slot like any other.
  it('a sync built-in review that finds no free slot waits for it; the reviewers it started meanwhile leave nothing behind', async () => {
    held = new Promise<void>((r) => (release = r));
    const b = await newOrg(t, 'slots-sync@gate.test', 'Slots Sync');
    const settings = { panel: [{ persona: 'security', provider: 'anthropic' }] };
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(b.api_key), payload: { slug: 'llm', settings } })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(b.api_key), payload: { slug: 'plain' } })).statusCode).toBe(201);
    const first = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(b.api_key), payload: { project_id: 'llm', task_id: 'hold', target: { diff: newFileDiff('src/a.ts', SQLI_TS) } } });
    const holdId = first.json().id as string;
    const status = async (id: string) => (await t.rt.admin.query(`select status, slot_retry_at from reviews where id = $1`, [id])).rows[0];
    for (let i = 0; i < 200 && (await status(holdId)).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await status(holdId)).status).toBe('running');

    const answer = t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(b.api_key), payload: { project_id: 'plain', task_id: 'sync', timeout_s: 30, target: { diff: newFileDiff('src/b.ts', SQLI_TS) } } });
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      id = (await t.rt.admin.query(`select id from reviews where org_id = $1 and task_id = 'sync' and slot_retry_at is not null`, [b.org_id])).rows[0]?.id;
      if (!id) await new Promise((r) => setTimeout(r, 25));
    }
    expect(id, 'the sync review waits for a slot').toBeDefined();
    // Nothing of the reviewers started before the slot check was written.
    expect((await t.rt.admin.query(`select count(*)::int as n from reviewer_runs where review_id = $1`, [id])).rows[0].n).toBe(0);
    release();
    const res = await answer;
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id, status: 'completed' });
    expect(res.json().findings.length).toBeGreaterThan(0);
    const runs = (await t.rt.admin.query(`select reviewer, status from reviewer_runs where review_id = $1 order by reviewer`, [id])).rows;
    expect(runs.map((r: { reviewer: string }) => r.reviewer)).toEqual(['correctness', 'maintainability', 'performance', 'security', 'tests']);
    expect(runs.every((r: { status: string }) => r.status === 'completed')).toBe(true);
    const completedEvents = (await t.rt.admin.query(`select payload->>'reviewer' as r from events where review_id = $1 and type = 'reviewer.completed'`, [id])).rows;
    expect(completedEvents).toHaveLength(5);
    held = Promise.resolve();
  }, 30_000);
});
