import { sql } from 'kysely';
import type { CoreDeps } from '../deps.js';
import type { Actor } from './actor.js';
import { requireOrgAdmin } from './rbac.js';

/**
 * Operational detail for administrators: this process's pool, the job queue (aggregates from the
 * named function quorum.system_queue_stats), live workers, schema and versions. Org admins only.
 */
export async function getHealthDetails(deps: CoreDeps, actor: Actor, version: string) {
  requireOrgAdmin(actor);
  const pool = deps.pool;
  const [server, queue, workers, schema] = await Promise.all([
    sql<{ v: string }>`select current_setting('server_version') as v`.execute(deps.db),
    sql<{ task: string; queued: string; locked: string; failed: string; oldest_run_at: Date | null }>`select * from quorum.system_queue_stats()`.execute(deps.db),
    sql<{ worker_id: string; hostname: string; pid: number; last_seen: Date; age_ms: number }>`
      select worker_id, hostname, pid, last_seen, (extract(epoch from now() - last_seen) * 1000)::int as age_ms
        from worker_heartbeats order by worker_id`.execute(deps.db),
    sql<{ v: number | null }>`select max(version) as v from quorum_migrations`.execute(deps.db),
  ]);
  return {
    status: 'ok',
    versions: { quorum: version, node: process.version, postgres: server.rows[0]?.v ?? null, schema: schema.rows[0]?.v ?? null },
    database: { mode: deps.config.database.mode, pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: deps.config.database.poolSize } },
    queue: queue.rows.map((r) => ({
      task: r.task,
      queued: Number(r.queued),
      running: Number(r.locked),
      failed: Number(r.failed),
      oldest_queued_at: r.oldest_run_at?.toISOString() ?? null,
    })),
    workers: workers.rows.map((w) => ({ worker_id: w.worker_id, hostname: w.hostname, pid: w.pid, last_seen: w.last_seen.toISOString(), heartbeat_age_ms: w.age_ms })),
  };
}
