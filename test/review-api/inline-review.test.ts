import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { cancelReview } from '../../src/core/review/cancel-review.js';
import { StartReviewInput } from '../../src/core/review/review.schemas.js';
import { latestReportPath, reviewReportPath } from '../../src/core/review/review-files.js';
import { inlineOwner, runReviewInline } from '../../src/core/review/run-review-inline.js';
import { markWaitingForSlot } from '../../src/core/review/review-slots.repo.js';
import { JOB_PRIORITY, startReviewRow } from '../../src/core/review/start-review.js';
import { enqueueJob } from '../../src/core/jobs/enqueue.js';
import { withTenant } from '../../src/db/client.js';
import type { RequestContext } from '../../src/core/tenancy/actor.js';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';

/**
 * Sync reviews of small diffs by the built-in panel run inside the API request (no queue hop); their
 * job is kept, due later, so a worker finishes the review if the API process dies first.
 */
describe('inline sync reviews', () => {
  let t: TestApp;
  let owner: BootstrapResult;
  const workers: WorkerHandle[] = [];
  beforeAll(async () => {
    t = await createTestApp();
    owner = await newOrg(t, 'owner@inline.test', 'Inline Org');
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(owner.api_key), payload: { slug: 'web' } });
    expect(p.statusCode, p.body).toBe(201);
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await t?.close();
  });

  const ctx = (): RequestContext => ({
    actor: { userId: owner.user_id, orgId: owner.org_id, orgRole: 'owner', apiKeyId: null, keyProjectIds: null, keyMaxRole: null },
    ip: null,
    userAgent: null,
    correlationId: `test-${Math.random().toString(36).slice(2)}`,
  });
  const input = (taskId: string) => StartReviewInput.parse({ project_id: 'web', task_id: taskId, target: { diff: newFileDiff('src/users.ts', SQLI_TS) } });
  const job = async (reviewId: string) =>
    (await t.rt.admin.query(`select run_at, attempts, locked_at from graphile_worker.jobs where key = $1`, [`${owner.org_id}:review:${reviewId}`])).rows[0] as
      | { run_at: Date; attempts: number; locked_at: Date | null }
      | undefined;
  const review = async (id: string) => (await t.rt.admin.query(`select status, attempts, cancel_requested from reviews where id = $1`, [id])).rows[0];
  /** A worker, started on demand: the inline path needs none. */
  const worker = async () => {
    if (!workers[0]) workers.push(await startWorker(t.rt, { concurrency: 2 }));
    return workers[0]!;
  };
  const jobRun = (w: WorkerHandle, reviewId: string) =>
    new Promise<void>((resolve) =>
      w.runner.events.on('job:complete', ({ job: j }) => {
        if (j.task_identifier === 'run_review' && (j.payload as { review_id?: string }).review_id === reviewId) resolve();
      }),
    );

  it('answers from the request with no worker running: the same review GET shows, every event, reports on disk', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(owner.api_key), payload: { project_id: 'web', task_id: 'inline-1', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ status: 'completed', attempts: 1, progress: { completed: 5, total: 5 } });
    expect(body.findings.some((f: { rules: string[] }) => f.rules.includes('injection/sql-concat'))).toBe(true);
    const got = await t.app.inject({ url: `/v1/reviews/${body.id}`, headers: auth(owner.api_key) });
    expect(got.json()).toEqual(body);
    // The answer (serialized while the review's transaction committed) is the route's JSON like any other.
    expect(res.headers['content-type']).toBe(got.headers['content-type']);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers.location).toBe(`/v1/reviews/${body.id}`);

    const ev = await t.rt.admin.query(`select type, payload from events where review_id = $1 order by id`, [body.id]);
    expect(ev.rows.map((r) => r.type)).toEqual([
      'review.queued',
      'review.started',
      ...Array<string>(5).fill('reviewer.started'),
      ...Array<string>(5).fill('reviewer.completed'),
      'review.completed',
    ]);
    expect(ev.rows.filter((r) => r.type === 'reviewer.completed').map((r) => r.payload.completed)).toEqual([1, 2, 3, 4, 5]);
    const runs = await t.rt.admin.query(`select reviewer, status, duration_ms from reviewer_runs where review_id = $1 order by reviewer`, [body.id]);
    expect(runs.rows.map((r) => [r.reviewer, r.status])).toEqual(['correctness', 'maintainability', 'performance', 'security', 'tests'].map((p) => [p, 'completed']));

    const p = body.project_id as string;
    await expect(fs.readFile(latestReportPath(t.rt.config.dataDir, owner.org_id, p, 'web', 'inline-1'), 'utf8')).resolves.toContain('src/users.ts');
    for (const ext of ['md', 'json', 'sarif'] as const) await fs.access(reviewReportPath(t.rt.config.dataDir, owner.org_id, p, body.id, ext));

    // The fallback job (due after the grace period, for a worker to take over if this process had
    // died) was taken back by the transaction that completed the review.
    expect(await job(body.id)).toBeUndefined();
  });

  it('a fallback job that runs anyway (a worker already held it) does nothing once the review is complete', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(owner.api_key), payload: { project_id: 'web', task_id: 'inline-2', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } } });
    const id = res.json().id as string;
    const findings = (await t.rt.admin.query(`select count(*)::int as n from findings where review_id = $1`, [id])).rows[0].n;
    const w = await worker();
    const ran = jobRun(w, id);
    await t.rt.admin.query(`select graphile_worker.add_job('run_review', $1::json, job_key => $2)`, [JSON.stringify({ org_id: owner.org_id, review_id: id }), `${owner.org_id}:review:${id}`]);
    await ran;
    expect(await review(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await t.rt.admin.query(`select count(*)::int as n from findings where review_id = $1`, [id])).rows[0].n).toBe(findings);
    expect((await t.rt.admin.query(`select count(*)::int as n from events where review_id = $1 and type = 'review.completed'`, [id])).rows[0].n).toBe(1);
  });

  it('if the API process dies after accepting the review, a worker finishes it when the grace period ends', async () => {
    const w = await worker();
    // Accepted for inline execution, and then never run here (as if this process died).
    const started = await startReviewRow(t.rt.deps, ctx(), input('inline-3'), { inline: { graceMs: 300 } });
    expect(started.inline).toBe(true);
    expect(await review(started.row.id)).toMatchObject({ status: 'running', attempts: 1 });
    await jobRun(w, started.row.id);
    expect(await review(started.row.id)).toMatchObject({ status: 'completed', attempts: 2 });
    const runs = await t.rt.admin.query(`select count(*)::int as n from reviewer_runs where review_id = $1`, [started.row.id]);
    expect(runs.rows[0].n).toBe(5);
  });

  it('hands a review cancelled meanwhile to the worker, which records the cancellation', async () => {
    const w = await worker();
    const c = ctx();
    const started = await startReviewRow(t.rt.deps, c, input('inline-4'), { inline: { graceMs: 60_000 } });
    await cancelReview(t.rt.deps, c, started.row.id);
    const ran = jobRun(w, started.row.id);
    expect(await runReviewInline(t.rt.deps, started, { owner: inlineOwner(), graceMs: 60_000 })).toBeNull();
    await ran; // moved to now by the hand-over, not after the 60 s grace
    expect(await review(started.row.id)).toMatchObject({ status: 'cancelled' });
    expect((await t.rt.admin.query(`select count(*)::int as n from reviewer_runs where review_id = $1`, [started.row.id])).rows[0].n).toBe(0);
  });

  it('writes nothing when a worker took the review over meanwhile (attempt 2): no checkpoint, no event, its job kept', async () => {
    // No worker may run here: one left by an earlier test would claim the handed-over job at once and write its events.
    for (const w of workers.splice(0)) await w.stop();
    const started = await startReviewRow(t.rt.deps, ctx(), input('inline-7'), { inline: { graceMs: 60_000 } });
    expect(started.inline).toBe(true);
    // As a worker's claim does: the review is its attempt now (no worker runs in this test).
    await t.rt.admin.query(`update reviews set attempts = 2 where id = $1`, [started.row.id]);
    const eventsBefore = (await t.rt.admin.query(`select count(*)::int as n from events where review_id = $1`, [started.row.id])).rows[0].n;
    expect(await runReviewInline(t.rt.deps, started, { owner: inlineOwner(), graceMs: 60_000 })).toBeNull();
    expect(await review(started.row.id)).toMatchObject({ status: 'running', attempts: 2 });
    const count = async (table: string) => (await t.rt.admin.query(`select count(*)::int as n from ${table} where review_id = $1`, [started.row.id])).rows[0].n;
    expect(await count('reviewer_runs')).toBe(0);
    expect(await count('findings')).toBe(0);
    expect(await count('events')).toBe(eventsBefore);
    // Handed over: due now, not removed.
    expect((await job(started.row.id))?.run_at.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
  });

  it('does not run inline what it should not: timeout 0, the async endpoint', async () => {
    const r0 = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(owner.api_key), payload: { ...input('inline-5'), timeout_s: 0 } });
    expect(r0.statusCode, r0.body).toBe(202);
    const r1 = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(owner.api_key), payload: { ...input('inline-6') } });
    expect(r1.statusCode, r1.body).toBe(202);
    for (const id of [r0.json().id, r1.json().id]) {
      const j = await job(id);
      expect(j?.run_at.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
    }
  });
  // The slot check runs on every review start and every worker claim: it must read the org's
  // running reviews, not its history. 3,000 finished reviews later, the count reads the running ones.
  it("counts an org's running reviews from the running-only index, whatever its history", async () => {
    const { rows: [p] } = await t.rt.admin.query(`select id from projects where org_id = $1 and slug = 'web'`, [owner.org_id]);
    await t.rt.admin.query(
      `insert into reviews (org_id, project_id, task_id, developer_id, status, target, panel, completed_at)
       select $1, $2, 'history-' || i, $3, 'completed', '{"kind":"last_commit"}', '[]', now() from generate_series(1, 3000) i`,
      [owner.org_id, p.id, owner.user_id],
    );
    await t.rt.admin.query('analyze reviews');
    const c = await t.rt.appPool.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('quorum.org_id', $1, true)`, [owner.org_id]);
      const plan = (await c.query(`explain (analyze, format json) select count(*) from reviews where status = 'running' and id <> $1`, [owner.user_id])).rows[0]['QUERY PLAN'][0];
      await c.query('rollback');
      const nodes: Array<Record<string, unknown>> = [];
      const walk = (n: Record<string, unknown>) => {
        nodes.push(n);
        for (const k of (n.Plans as Array<Record<string, unknown>>) ?? []) walk(k);
      };
      walk(plan.Plan);
      expect(nodes.map((n) => n['Index Name']).filter(Boolean)).toContain('reviews_running');
      // Rows the scan produced before filtering: the running ones, not thousands.
      const scanned = nodes.filter((n) => String(n['Node Type']).includes('Scan')).reduce((a, n) => a + Number(n['Actual Rows'] ?? 0) + Number(n['Rows Removed by Filter'] ?? 0), 0);
      expect(scanned).toBeLessThan(50);
    } finally {
      c.release();
      await t.rt.admin.query(`delete from reviews where project_id = $1 and task_id like 'history-%'`, [p.id]);
    }
  });
  it('promotes a review of the org that waits for a slot when it completes (its completing statement looks)', async () => {
    for (const w of workers.splice(0)) await w.stop(); // nothing may run the waiting review but the promotion
    const a = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(owner.api_key), payload: { ...input('waits-for-slot') } });
    expect(a.statusCode, a.body).toBe(202);
    const waiting = a.json().id as string;
    // As a worker leaves a review that found no free slot: on the waiting list, its job due at the retry.
    const retryAt = new Date(Date.now() + 60_000);
    await withTenant(t.rt.deps.db, owner.org_id, async (tx) => {
      await markWaitingForSlot(tx, waiting, retryAt);
      await enqueueJob(tx, 'run_review', { org_id: owner.org_id, review_id: waiting }, { jobKey: `review:${waiting}`, priority: JOB_PRIORITY.normal, runAt: retryAt, maxAttempts: 10 });
    });
    expect((await job(waiting))!.run_at.getTime()).toBeGreaterThan(Date.now() + 50_000);
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(owner.api_key), payload: { ...input('frees-a-slot') } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().status).toBe('completed');
    // Promoted after the answer (nobody waits on it): off the waiting list, its job due now.
    const slotRetry = async () => (await t.rt.admin.query(`select slot_retry_at from reviews where id = $1`, [waiting])).rows[0].slot_retry_at as Date | null;
    for (let i = 0; i < 100 && (await slotRetry()) !== null; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await slotRetry()).toBeNull();
    expect((await job(waiting))!.run_at.getTime()).toBeLessThan(Date.now() + 5_000);
    await cancelReview(t.rt.deps, ctx(), waiting);
  });
  // The reviewers of an inline review start before its transaction has read the project, from the
  // project as this process last saw it; a plan that no longer fits is dropped.
  it('a project whose panel changed since this process last saw it is reviewed by its new panel', async () => {
    const c = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(owner.api_key), payload: { slug: 'panel-change' } });
    expect(c.statusCode, c.body).toBe(201);
    const sync = async (task: string) => {
      const r = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(owner.api_key), payload: { project_id: 'panel-change', task_id: task, target: { diff: newFileDiff('src/users.ts', SQLI_TS) } } });
      expect(r.statusCode, r.body).toBe(200);
      const runs = (await t.rt.admin.query(`select reviewer from reviewer_runs where review_id = $1 order by reviewer`, [r.json().id])).rows.map((x: { reviewer: string }) => x.reviewer);
      return { body: r.json(), runs };
    };
    expect((await sync('before')).runs).toEqual(['correctness', 'maintainability', 'performance', 'security', 'tests']);
    const u = await t.app.inject({ method: 'PATCH', url: '/v1/projects/panel-change', headers: auth(owner.api_key), payload: { settings: { panel: [{ persona: 'security', provider: 'builtin' }] } } });
    expect(u.statusCode, u.body).toBe(200);
    const after = await sync('after');
    expect(after.runs).toEqual(['security']);
    expect(after.body.findings.every((f: { reviewers: string[] }) => f.reviewers.every((r) => r === 'security'))).toBe(true);
    // Now to a provider that cannot run inline: the review is queued for a worker, none of the reviewers started early is kept.
    const v = await t.app.inject({ method: 'PATCH', url: '/v1/projects/panel-change', headers: auth(owner.api_key), payload: { settings: { panel: [{ persona: 'security', provider: 'anthropic' }] } } });
    expect(v.statusCode, v.body).toBe(200);
    const queued = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(owner.api_key), payload: { project_id: 'panel-change', task_id: 'llm', timeout_s: 1, target: { diff: newFileDiff('src/users.ts', SQLI_TS) } } });
    expect(queued.statusCode, queued.body).toBe(202);
    expect((await t.rt.admin.query(`select count(*)::int as n from reviewer_runs where review_id = $1`, [queued.json().id])).rows[0].n).toBe(0);
    await cancelReview(t.rt.deps, ctx(), queued.json().id);
  });

  it('a viewer of a project this process has seen gets 403 on the sync door, and no review is written', async () => {
    const before = (await t.rt.admin.query(`select count(*)::int as n from reviews where org_id = $1`, [owner.org_id])).rows[0].n;
    const key = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(owner.api_key), payload: { name: 'read-only', max_role: 'viewer' } });
    expect(key.statusCode, key.body).toBe(201);
    const r = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(key.json().api_key), payload: { ...input('viewer-try') } });
    expect(r.statusCode, r.body).toBe(403);
    expect((await t.rt.admin.query(`select count(*)::int as n from reviews where org_id = $1`, [owner.org_id])).rows[0].n).toBe(before);
  });
});
