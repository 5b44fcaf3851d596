import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { waitForReview } from '../../src/core/review/wait-for-review.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { until } from '../worker/wait.js';
import { AnthropicStandIn, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/** A model call that never answers until its client goes away: only cancellation can end it. */
describe('cancelling a running review', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  let standIn: AnthropicStandIn;
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({
      respond: ({ signal }) => new Promise((res) => signal.addEventListener('abort', () => res({ type: 'text', text: '' }))),
    });
    t = await createTestApp({ ANTHROPIC_API_KEY: STAND_IN_API_KEY, ANTHROPIC_BASE_URL: standIn.url });
    worker = await startWorker(t.rt, { concurrency: 2 });
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
    await standIn?.close();
  });

  it('aborts the in-flight model call promptly and records review.cancelled', async () => {
    const a = await newOrg(t, 'c@cancel.test', 'Cancel Org');
    const settings = { panel: [{ persona: 'security', provider: 'anthropic' }, { persona: 'tests', provider: 'builtin' }] };
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'c', settings } });
    const requested = once(standIn, 'request');
    const started = await t.app.inject({
      method: 'POST', url: '/v1/review/async', headers: auth(a.api_key),
      payload: { project_id: 'c', task_id: 'cancel-me', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    expect(started.statusCode).toBe(202);
    const id = started.json().id as string;
    await requested; // the model call is in flight
    const aborted = once(standIn, 'aborted');
    const t0 = Date.now();
    const c = await t.app.inject({ method: 'POST', url: `/v1/reviews/${id}/cancel`, headers: auth(a.api_key) });
    expect(c.statusCode, c.body).toBe(200);
    await aborted;
    const { review, done } = await waitForReview(t.rt.deps, { userId: a.user_id, orgId: a.org_id, orgRole: 'owner', apiKeyId: null, keyProjectIds: null, keyMaxRole: null }, id, 30_000);
    const ms = Date.now() - t0;
    expect(done).toBe(true);
    expect(review.status).toBe('cancelled');
    expect(ms).toBeLessThan(10_000);
    const ev = await t.rt.admin.query(`select type from events where review_id = $1 order by id`, [id]);
    expect(ev.rows.map((r) => r.type).at(-1)).toBe('review.cancelled');
    expect((await t.rt.admin.query(`select count(*)::int as n from worktree_leases`)).rows[0].n).toBe(0);
    const again = await t.app.inject({ method: 'POST', url: `/v1/reviews/${id}/cancel`, headers: auth(a.api_key) });
    expect(again.statusCode).toBe(409);
  });

  it('a running review whose attempt failed and waits out its retry back-off is cancelled at once, not when the retry comes', async () => {
    const a = await newOrg(t, 'b@backoff.test', 'Backoff Org');
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'b' } });
    // Settings no API accepts (written behind its back) make every attempt fail when it finalizes.
    await t.rt.admin.query(`update projects set settings = '{"verdict_thresholds": {"request_changes": -5}}' where id = $1`, [p.json().id]);
    const started = await t.app.inject({
      method: 'POST', url: '/v1/review/async', headers: auth(a.api_key),
      payload: { project_id: 'b', task_id: 'backoff', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    const id = started.json().id as string;
    const job = async () =>
      (await t.rt.admin.query(`select attempts, locked_at, last_error from graphile_worker._private_jobs where key = $1`, [`${a.org_id}:review:${id}`])).rows[0];
    await until(async () => { const j = await job(); return j && j.attempts >= 1 && j.locked_at === null && j.last_error; }, 20_000, 'the first attempt to fail');
    // As if the back-off were long (it grows to minutes after a few attempts).
    await t.rt.admin.query(`update graphile_worker._private_jobs set run_at = now() + interval '1 hour' where key = $1`, [`${a.org_id}:review:${id}`]);
    expect((await t.app.inject({ url: `/v1/reviews/${id}`, headers: auth(a.api_key) })).json().status).toBe('running');

    const c = await t.app.inject({ method: 'POST', url: `/v1/reviews/${id}/cancel`, headers: auth(a.api_key) });
    expect(c.statusCode, c.body).toBe(200);
    const { review, done } = await waitForReview(t.rt.deps, { userId: a.user_id, orgId: a.org_id, orgRole: 'owner', apiKeyId: null, keyProjectIds: null, keyMaxRole: null }, id, 10_000);
    expect(done).toBe(true);
    expect(review.status).toBe('cancelled');
    expect((await t.rt.admin.query(`select count(*)::int as n from worktree_leases where review_id = $1`, [id])).rows[0].n).toBe(0);
    const ev = await t.rt.admin.query(`select payload from events where review_id = $1 and type = 'review.cancelled'`, [id]);
    expect(ev.rows).toEqual([{ payload: expect.objectContaining({ reason: 'cancelled while running' }) }]);
  });
});
