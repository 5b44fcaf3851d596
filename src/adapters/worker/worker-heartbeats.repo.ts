import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from '../../db/client.js';

export interface HeartbeatRow {
  workerId: string;
  hostname: string;
  pid: number;
  graphileWorkerIds: string[];
}

/**
 * Writes this process's heartbeat with the database clock. Returns whether the row had to be
 * created: after the first beat that means a sweeper deleted it (this process was thought dead).
 */
export async function upsertHeartbeat(db: Db, row: HeartbeatRow): Promise<{ inserted: boolean }> {
  const res = await db
    .insertInto('worker_heartbeats')
    .values({
      worker_id: row.workerId,
      hostname: row.hostname,
      pid: row.pid,
      graphile_worker_ids: row.graphileWorkerIds,
      last_seen: sql<Date>`now()`,
    })
    .onConflict((oc) =>
      oc.column('worker_id').doUpdateSet({
        graphile_worker_ids: (eb) => eb.ref('excluded.graphile_worker_ids'),
        last_seen: sql<Date>`now()`,
      }),
    )
    .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
    .executeTakeFirstOrThrow();
  return { inserted: res.inserted };
}

export async function deleteHeartbeat(db: Db, workerId: string): Promise<void> {
  await db.deleteFrom('worker_heartbeats').where('worker_id', '=', workerId).execute();
}

export interface LapsedWorker {
  worker_id: string;
  hostname: string;
  pid: number;
  graphile_worker_ids: string[];
  last_seen: Date;
}

export interface UnlockedJob {
  id: string;
  task_identifier: string;
  locked_by: string;
}

export interface SweepResult {
  lapsed: LapsedWorker[];
  /** graphile worker ids holding jobs that no heartbeat row claims (see sweepLapsed). */
  orphanWorkerIds: string[];
  unlockedJobs: UnlockedJob[];
}

/**
 * One sweep, in one owner transaction (the graphile_worker schema is the owner's; this is the
 * named cross-org path "the reaper"):
 *  1. DELETE … RETURNING the heartbeat rows whose last_seen (database clock) is older than the
 *     lapse: row locks make each lapsed row returned to exactly one concurrent sweeper.
 *  2. Add "orphans": workers holding a job locked for longer than the lapse whose id is in no
 *     heartbeat row. This covers a process killed between locking its first job and writing the
 *     heartbeat that names its workers.
 *  3. graphile_worker.force_unlock_workers (what WorkerUtils.forceUnlockWorkers calls) on all of
 *     them, in the same transaction as the DELETE: a sweeper that dies midway unlocks nothing and
 *     deletes nothing, so the next sweep still finds the rows.
 *  4. NOTIFY jobs:insert so idle workers pick the freed jobs up now rather than at their next poll.
 * Right after a database restart every heartbeat is old (nobody could beat while it was down), yet
 * the workers are alive: the sweeper's singleton skips its ticks then (databaseUptimeMs).
 */
export async function sweepLapsed(pool: pg.Pool, lapseMs: number, selfWorkerId?: string): Promise<SweepResult> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const lapse = [lapseMs / 1000];
    // Never its own row: a process that is sweeping is alive, even if a CPU-bound stretch (or a
    // starved CPU) delayed its beats past the lapse; sweeping itself would re-run its own jobs.
    const { rows: lapsed } = await client.query<LapsedWorker>(
      `delete from worker_heartbeats
        where last_seen < now() - make_interval(secs => $1::double precision)
          and worker_id is distinct from $2
        returning worker_id, hostname, pid, graphile_worker_ids, last_seen`,
      [...lapse, selfWorkerId ?? null],
    );
    const { rows: orphans } = await client.query<{ locked_by: string }>(
      `select distinct j.locked_by from graphile_worker._private_jobs j
        where j.locked_by is not null
          and j.locked_at < now() - make_interval(secs => $1::double precision)
          and not exists (select 1 from worker_heartbeats h where j.locked_by = any (h.graphile_worker_ids))`,
      lapse,
    );
    // The rows just deleted no longer name their workers; report those as lapsed, not orphaned.
    const lapsedIds = new Set(lapsed.flatMap((w) => w.graphile_worker_ids));
    const orphanWorkerIds = orphans.map((r) => r.locked_by).filter((id) => !lapsedIds.has(id));
    const ids = [...lapsedIds, ...orphanWorkerIds];
    let unlockedJobs: UnlockedJob[] = [];
    if (ids.length > 0) {
      ({ rows: unlockedJobs } = await client.query<UnlockedJob>(
        `select id, task_identifier, locked_by from graphile_worker.jobs where locked_by = any ($1::text[]) order by id`,
        [ids],
      ));
      await client.query('select graphile_worker.force_unlock_workers($1::text[])', [ids]);
      if (unlockedJobs.length > 0) {
        await client.query(`select pg_notify('jobs:insert', json_build_object('r', random(), 'count', $1::int)::text)`, [
          unlockedJobs.length,
        ]);
      }
    }
    await client.query('commit');
    return { lapsed, orphanWorkerIds, unlockedJobs };
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

/** How long the database server has been up (ms): sweeps that judge liveness by heartbeats wait a lapse after a restart. */
export async function databaseUptimeMs(db: Db): Promise<number> {
  const { rows } = await sql<{ ms: number }>`select (extract(epoch from now() - pg_postmaster_start_time()) * 1000)::float8 as ms`.execute(db);
  return rows[0]?.ms ?? 0;
}

/**
 * Unlocks the jobs held by graphile workers of THIS process that are gone (a job runner that died
 * and is being replaced): they run again at once, here or elsewhere, instead of waiting for a sweep.
 */
export async function unlockOwnWorkers(pool: pg.Pool, graphileWorkerIds: string[]): Promise<number> {
  if (graphileWorkerIds.length === 0) return 0;
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rowCount } = await client.query('select 1 from graphile_worker.jobs where locked_by = any ($1::text[])', [graphileWorkerIds]);
    await client.query('select graphile_worker.force_unlock_workers($1::text[])', [graphileWorkerIds]);
    if (rowCount) await client.query(`select pg_notify('jobs:insert', json_build_object('r', random(), 'count', $1::int)::text)`, [rowCount]);
    await client.query('commit');
    return rowCount ?? 0;
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

/** Jobs locked by any of `graphileWorkerIds` (this process's current pool and workers). */
export async function jobsLockedBy(pool: pg.Pool, graphileWorkerIds: string[]): Promise<Array<{ id: string; locked_by: string }>> {
  if (graphileWorkerIds.length === 0) return [];
  const { rows } = await pool.query<{ id: string; locked_by: string }>(
    'select id, locked_by from graphile_worker._private_jobs where locked_by = any ($1::text[])',
    [graphileWorkerIds],
  );
  return rows;
}

/**
 * Unlocks specific jobs still locked by this process although none of its workers runs them (their
 * completion write was lost to a database fault). They run again (idempotently) at once.
 */
export async function unlockJobs(pool: pg.Pool, jobIds: string[], graphileWorkerIds: string[]): Promise<number> {
  if (jobIds.length === 0) return 0;
  const { rows } = await pool.query<{ n: number }>(
    `with j as (
       update graphile_worker._private_jobs set locked_at = null, locked_by = null
        where id = any ($1::bigint[]) and locked_by = any ($2::text[])
        returning job_queue_id),
     q as (
       update graphile_worker._private_job_queues jq set locked_at = null, locked_by = null
         from j where jq.id = j.job_queue_id and jq.locked_by = any ($2::text[]))
     select count(*)::int as n, pg_notify('jobs:insert', json_build_object('r', random(), 'count', count(*))::text) from j`,
    [jobIds, graphileWorkerIds],
  );
  return rows[0]?.n ?? 0;
}
