import { sql } from 'kysely';
import type { Db } from '../../db/client.js';

export interface QueueStat {
  task: string;
  queued: number;
  running: number;
  failed: number;
  /** Seconds since the oldest waiting job became runnable (0 when it is scheduled in the future). */
  oldestAgeS: number | null;
}

/** Queue depth by task, through the named aggregate function (0006): no payloads, no org data. */
export async function queueStats(db: Db): Promise<QueueStat[]> {
  const { rows } = await sql<{ task: string; queued: string; locked: string; failed: string; age_s: number | null }>`
    select task, queued, locked, failed, greatest(0, extract(epoch from now() - oldest_run_at))::float8 as age_s
      from quorum.system_queue_stats()`.execute(db);
  return rows.map((r) => ({ task: r.task, queued: Number(r.queued), running: Number(r.locked), failed: Number(r.failed), oldestAgeS: r.age_s }));
}

/** Seconds since each worker process's last heartbeat (database clock). */
export async function heartbeatAges(db: Db): Promise<Array<{ workerId: string; ageS: number }>> {
  const { rows } = await sql<{ worker_id: string; age_s: number }>`
    select worker_id, extract(epoch from now() - last_seen)::float8 as age_s from worker_heartbeats`.execute(db);
  return rows.map((r) => ({ workerId: r.worker_id, ageS: r.age_s }));
}
