import { EventEmitter } from 'node:events';
import { parseCrontab, type WorkerEvents } from 'graphile-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/adapters/worker/runner.js';
import { CRONTAB } from '../../src/adapters/worker/task-list.js';
import { enqueueJob } from '../../src/core/jobs/enqueue.js';
import { bootstrapOwner } from '../../src/core/tenancy/bootstrap.js';
import { withTenant } from '../../src/db/client.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { nextEvent, within } from './wait.js';

const DAY = 86_400_000;

describe('jobs: transactional enqueue, tenant jobs, audit retention', () => {
  let rt: TestRuntime;
  let orgA: string;
  let orgB: string;
  beforeAll(async () => {
    rt = await createTestRuntime({ QUORUM_AUDIT_RETENTION_DAYS: '30' });
    orgA = (await bootstrapOwner(rt.deps, { email: 'a@a.test', org: 'Org A' })).org_id;
    orgB = (await bootstrapOwner(rt.deps, { email: 'b@b.test', org: 'Org B' })).org_id;
  });
  afterAll(async () => rt.close());

  const jobsOf = async (task: string) =>
    (
      await rt.admin.query<{ id: string; payload: Record<string, unknown>; key: string | null; attempts: number; max_attempts: number; last_error: string | null; locked_by: string | null }>(
        `select j.id, j.payload, j.key, j.attempts, j.max_attempts, j.last_error, j.locked_by
           from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
          where t.identifier = $1 order by j.id`,
        [task],
      )
    ).rows;

  /** Audit rows inserted with created_at already in the past (the append-only trigger forbids UPDATE). */
  const insertAudit = async (org: string, action: string, ageDays: number) => {
    await rt.admin.query(`insert into audit_log (org_id, action, created_at) values ($1, $2, now() - make_interval(days => $3))`, [
      org,
      action,
      ageDays,
    ]);
  };
  const auditActions = async (org: string, prefix: string) =>
    (await rt.admin.query<{ action: string }>(`select action from audit_log where org_id = $1 and action like $2 order by action`, [org, `${prefix}%`])).rows.map(
      (r) => r.action,
    );

  it('purge_audit for org A deletes only A\'s rows older than the retention window, inside withTenant', async () => {
    for (const org of [orgA, orgB]) {
      await insertAudit(org, 'test.old.1', 400);
      await insertAudit(org, 'test.old.2', 31);
      await insertAudit(org, 'test.recent.1', 29);
      await insertAudit(org, 'test.recent.2', 0);
    }
    const jobId = await withTenant(rt.deps.db, orgA, (tx) => enqueueJob(tx, 'purge_audit', { org_id: orgA, correlation_id: 'req-1' }));
    expect(jobId).toMatch(/^\d+$/);

    const events = new EventEmitter() as WorkerEvents;
    // job:complete carries the error (null on success), so a failure shows its message, not a timeout.
    const done = nextEvent(events, 'job:complete', (e) => e.job.id === jobId);
    const w = await startWorker(rt, { concurrency: 2, events });
    try {
      const ev = await done;
      expect(ev.error).toBeNull();
      expect(ev.job.task_identifier).toBe('purge_audit');
      // The worker is registered while it runs: heartbeat row names its graphile worker ids.
      const hb = await rt.admin.query(`select graphile_worker_ids from worker_heartbeats where worker_id = $1`, [w.workerId]);
      expect(hb.rows[0].graphile_worker_ids).toContain(ev.worker.workerId);
    } finally {
      await w.stop();
    }
    expect(await auditActions(orgA, 'test.')).toEqual(['test.recent.1', 'test.recent.2']);
    expect(await auditActions(orgB, 'test.')).toEqual(['test.old.1', 'test.old.2', 'test.recent.1', 'test.recent.2']);
    expect(await jobsOf('purge_audit')).toEqual([]); // completed jobs are deleted
    // Graceful stop leaves nothing for a sweeper.
    expect((await rt.admin.query(`select 1 from worker_heartbeats where worker_id = $1`, [w.workerId])).rowCount).toBe(0);
  });

  it('a job without org_id fails permanently on its first attempt with a clear error', async () => {
    const { rows } = await rt.admin.query<{ id: string }>(`select id from graphile_worker.add_job('purge_audit', '{"correlation_id":"x"}'::json)`);
    const jobId = rows[0]!.id;
    const events = new EventEmitter() as WorkerEvents;
    const failed = nextEvent(events, 'job:failed', (e) => e.job.id === jobId);
    const w = await startWorker(rt, { concurrency: 1, events });
    let message: string;
    try {
      message = ((await failed).error as Error).message;
    } finally {
      await w.stop();
    }
    expect(message).toMatch(/purge_audit/);
    expect(message).toMatch(/org_id/);
    expect(message).toMatch(/must carry the org_id/);
    const [job] = (await jobsOf('purge_audit')).filter((j) => j.id === jobId);
    expect(job).toMatchObject({ attempts: 1, max_attempts: 1, locked_by: null });
    expect(job!.last_error).toBe(message);
    // attempts = max_attempts: graphile-worker's get_job never hands it out again.
    await rt.admin.query(`delete from graphile_worker._private_jobs where id = $1`, [jobId]);
  });

  it('enqueue is transactional, tenant-guarded and namespaces job keys by org', async () => {
    await expect(
      withTenant(rt.deps.db, orgA, async (tx) => {
        await enqueueJob(tx, 'purge_audit', { org_id: orgA }, { jobKey: 'k' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await jobsOf('purge_audit')).toEqual([]);

    // A tenant transaction cannot enqueue work for another org, nor can code outside withTenant.
    await expect(withTenant(rt.deps.db, orgA, (tx) => enqueueJob(tx, 'purge_audit', { org_id: orgB }))).rejects.toThrow(
      /org_id must be the current org/,
    );
    await expect(rt.deps.db.transaction().execute((tx) => enqueueJob(tx, 'purge_audit', { org_id: orgA }))).rejects.toThrow(/no tenant/);
    await expect(
      withTenant(rt.deps.db, orgA, (tx) => enqueueJob(tx, 'purge_audit', { org_id: 'nope' })),
    ).rejects.toMatchObject({ code: 'validation_failed' });

    const runAt = new Date(Date.now() + DAY);
    const a = await withTenant(rt.deps.db, orgA, (tx) =>
      enqueueJob(tx, 'purge_audit', { org_id: orgA }, { jobKey: 'same', priority: 7, maxAttempts: 3, runAt }),
    );
    const b = await withTenant(rt.deps.db, orgB, (tx) => enqueueJob(tx, 'purge_audit', { org_id: orgB }, { jobKey: 'same' }));
    const rows = await rt.admin.query(
      `select id, key, priority, max_attempts, run_at, payload from graphile_worker._private_jobs where id = any($1::bigint[]) order by id`,
      [[a, b]],
    );
    expect(rows.rows).toHaveLength(2); // same caller key in two orgs: two jobs, neither replaced the other
    expect(rows.rows[0]).toMatchObject({ key: `${orgA}:same`, priority: 7, max_attempts: 3, payload: { org_id: orgA } });
    expect(Math.abs(new Date(rows.rows[0].run_at).getTime() - runAt.getTime())).toBeLessThan(1000);
    expect(rows.rows[1]).toMatchObject({ key: `${orgB}:same`, payload: { org_id: orgB } });
    await rt.admin.query(`delete from graphile_worker._private_jobs where id = any($1::bigint[])`, [[a, b]]);
  });

  it('audit_retention (the daily cron job) fans out one purge_audit per org, and each runs', async () => {
    const cron = parseCrontab(CRONTAB);
    expect(cron.map((c) => c.task)).toEqual(['audit_retention']);

    await insertAudit(orgB, 'test.fanout.old', 90);
    await insertAudit(orgB, 'test.fanout.new', 1);
    const orgs = (await rt.admin.query<{ id: string }>(`select id from orgs`)).rows.map((r) => r.id).sort();
    expect(orgs.length).toBeGreaterThanOrEqual(2);

    const events = new EventEmitter() as WorkerEvents;
    const purged = new Set<string>();
    const allPurged = new Promise<void>((resolve) => {
      events.on('job:success', ({ job }) => {
        if (job.task_identifier !== 'purge_audit') return;
        purged.add((job.payload as { org_id: string }).org_id);
        if (purged.size === orgs.length) resolve();
      });
    });
    const fanout = nextEvent(events, 'job:success', (e) => e.job.task_identifier === 'audit_retention');
    // What graphile-worker's cron inserts at 03:00 UTC (payload {_cron: …}, no org).
    await rt.admin.query(`select graphile_worker.add_job('audit_retention', json_build_object('_cron', json_build_object('ts', now())))`);
    const w = await startWorker(rt, { concurrency: 3, events });
    try {
      await fanout;
      await within(allPurged, 15_000, 'a purge_audit success for every org');
    } finally {
      await w.stop();
    }
    expect([...purged].sort()).toEqual(orgs);
    expect(await auditActions(orgB, 'test.fanout')).toEqual(['test.fanout.new']);
  });
});
