import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { followEvents } from '../../src/core/events/follow.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { makeRepo, SQLI_TS } from '../helpers/git.js';

/** Threshold 0: any used disk is "too full", so a review that needs a worktree must wait. */
describe('worktree disk pressure', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  beforeAll(async () => {
    t = await createTestApp({ QUORUM_WORKTREE_DISK_THRESHOLD: '0' });
    worker = await startWorker(t.rt, { concurrency: 1 });
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
  });

  it('new reviews wait (queued, job retried later) and the org gets worktree.disk_pressure', async () => {
    const a = await newOrg(t, 'd@disk.test', 'Disk Org');
    const repo = await makeRepo({ 'src/users.ts': SQLI_TS });
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'd', repo_url: repo } });
    const r = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(a.api_key), payload: { project_id: 'd', task_id: 'disk' } });
    expect(r.statusCode).toBe(202);
    const id = r.json().id;
    // Wait on the org's event stream for the event the worker writes when it refuses a worktree.
    let ev: { payload: { used_fraction: number; threshold: number } } | undefined;
    const f = followEvents(t.rt.deps, t.rt.deps.events, { orgId: a.org_id, reviewId: null, afterId: '0' }, (events) => {
      ev = events.find((e) => e.type === 'worktree.disk_pressure') as typeof ev;
      return ev ? 'stop' : undefined;
    });
    const timer = setTimeout(() => f.stop(), 30_000);
    await f.done;
    clearTimeout(timer);
    expect(ev?.payload.threshold).toBe(0);
    expect(ev!.payload.used_fraction).toBeGreaterThan(0);
    const review = (await t.app.inject({ url: `/v1/reviews/${id}`, headers: auth(a.api_key) })).json();
    expect(review.status).toBe('queued');
    expect((await t.rt.admin.query(`select count(*)::int as n from worktree_leases`)).rows[0].n).toBe(0);
    // The worker records the attempt's failure after the event (its transaction commits first).
    const job = async () => (await t.rt.admin.query(`select attempts, last_error from graphile_worker._private_jobs where key like $1`, [`%review:${id}`])).rows[0];
    for (let i = 0; i < 200 && !(await job())?.last_error; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await job()).attempts).toBeGreaterThanOrEqual(1);
    expect((await job()).last_error).toMatch(/disk is .* full/);
  });
});
