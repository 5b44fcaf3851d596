import { sql } from 'kysely';
import type { CoreDeps } from '../deps.js';
import { listSingletonSessions } from '../jobs/singletons.repo.js';
import type { Actor } from './actor.js';
import { requireOrgAdmin } from './rbac.js';

/** What only the answering process knows about itself (its role, its worker, its singletons). */
export interface ProcessHealth {
  role: string;
  hostname: string;
  pid: number;
  uptime_s: number;
  /** false while this process's circuit breaker holds the database for unavailable. */
  database_reachable: boolean;
  worker: null | {
    worker_id: string;
    concurrency: number;
    running_jobs: number;
    pool: { total: number; idle: number; waiting: number; max: number };
    singletons: Array<{ name: string; state: string; held_since: string | null; acquisitions: number }>;
  };
}

/**
 * Operational detail for administrators: this process's pool, the job queue (aggregates from the
 * named function quorum.system_queue_stats), live workers, cluster singletons and who holds them
 * (from pg_locks), schema and versions. Org admins only.
 */
export async function getHealthDetails(deps: CoreDeps, actor: Actor, version: string, proc?: ProcessHealth) {
  requireOrgAdmin(actor);
  const pool = deps.pool;
  const [server, queue, workers, schema, singletons] = await Promise.all([
    sql<{ v: string }>`select current_setting('server_version') as v`.execute(deps.db),
    sql<{ task: string; queued: string; locked: string; failed: string; oldest_run_at: Date | null }>`select * from quorum.system_queue_stats()`.execute(deps.db),
    sql<{ worker_id: string; hostname: string; pid: number; last_seen: Date; age_ms: number }>`
      select worker_id, hostname, pid, last_seen, (extract(epoch from now() - last_seen) * 1000)::int as age_ms
        from worker_heartbeats order by worker_id`.execute(deps.db),
    sql<{ v: number | null }>`select max(version) as v from quorum_migrations`.execute(deps.db),
    listSingletonSessions(deps.db),
  ]);
  const now = deps.clock.now().getTime();
  const lapseMs = deps.config.worker.lapseMs;
  const holders = new Map<string, { holder: string; backend_pid: number; waiting: number }>();
  for (const s of singletons) {
    const h = holders.get(s.name) ?? { holder: '', backend_pid: 0, waiting: 0 };
    if (s.state === 'held') Object.assign(h, { holder: s.holder, backend_pid: s.backendPid });
    else h.waiting++;
    holders.set(s.name, h);
  }
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
      oldest_age_s: r.oldest_run_at ? Math.max(0, Math.round((now - r.oldest_run_at.getTime()) / 1000)) : null,
    })),
    workers: workers.rows.map((w) => ({
      worker_id: w.worker_id,
      hostname: w.hostname,
      pid: w.pid,
      last_seen: w.last_seen.toISOString(),
      heartbeat_age_ms: w.age_ms,
      lapsed: w.age_ms > lapseMs,
    })),
    // Cluster singletons (sweepers, roll-overs): who holds each lock now, and how many processes wait for it.
    singletons: [...holders].map(([name, h]) => ({ name, holder: h.holder || null, backend_pid: h.backend_pid || null, waiting: h.waiting })),
    process: proc ?? null,
  };
}
