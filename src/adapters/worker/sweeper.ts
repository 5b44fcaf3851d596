import type { Logger } from 'pino';
import type pg from 'pg';
import { sweepLapsed, type SweepResult } from './worker-heartbeats.repo.js';

export type { SweepResult } from './worker-heartbeats.repo.js';

export interface SweeperOptions {
  /** Owner pool: the sweep touches the graphile_worker schema. */
  pool: pg.Pool;
  lapseMs: number;
  /** This process's worker id: its own heartbeat row is never swept. */
  selfWorkerId?: string | undefined;
  logger: Logger;
  /** Called after every sweep that unlocked or removed something (observability, tests). */
  onSweep?: ((r: SweepResult) => void) | undefined;
}

/**
 * graphile-worker leaves a SIGKILLed worker's jobs locked for ~4 hours. One sweep unlocks the jobs
 * of workers whose heartbeat lapsed. It runs as a cluster singleton (singleton-list.ts); sweeps are
 * also idempotent and race-safe, so a brief overlap of two holders during a failover is harmless.
 */
export async function sweepOnce(o: SweeperOptions): Promise<SweepResult> {
  const r = await sweepLapsed(o.pool, o.lapseMs, o.selfWorkerId);
  if (r.lapsed.length > 0 || r.unlockedJobs.length > 0) {
    o.logger.warn(
      {
        lapsed_workers: r.lapsed.map((w) => ({
          worker_id: w.worker_id,
          hostname: w.hostname,
          pid: w.pid,
          last_seen: w.last_seen,
          graphile_worker_ids: w.graphile_worker_ids,
        })),
        orphan_worker_ids: r.orphanWorkerIds,
        unlocked_jobs: r.unlockedJobs,
      },
      `swept ${r.lapsed.length} lapsed worker(s), unlocked ${r.unlockedJobs.length} job(s)`,
    );
    o.onSweep?.(r);
  }
  return r;
}
