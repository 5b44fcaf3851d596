import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { waitForReview } from '../../src/core/review/wait-for-review.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
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
});
