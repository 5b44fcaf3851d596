import type { Logger } from 'pino';
import type pg from 'pg';
import { sweepLapsed, type SweepResult } from './worker-heartbeats.repo.js';

export type { SweepResult } from './worker-heartbeats.repo.js';

export interface SweeperOptions {
  /** Owner pool: the sweep touches the graphile_worker schema. */
  pool: pg.Pool;
  intervalMs: number;
  lapseMs: number;
  /** This process's worker id: its own heartbeat row is never swept. */
  selfWorkerId?: string | undefined;
  logger: Logger;
  /** Called after every sweep that unlocked or removed something (observability, tests). */
  onSweep?: ((r: SweepResult) => void) | undefined;
}

/**
 * graphile-worker leaves a SIGKILLed worker's jobs locked for ~4 hours. Every worker process runs
 * this sweeper; sweeps are idempotent and race-safe, so running it everywhere is fine and any
 * surviving process recovers the jobs within lapse + interval.
 */
export async function sweepOnce(o: Omit<SweeperOptions, 'intervalMs'>): Promise<SweepResult> {
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

export interface Sweeper {
  stop(): Promise<void>;
}

export function startSweeper(o: SweeperOptions): Sweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> | undefined;
  const tick = () => {
    current = sweepOnce(o)
      .catch((e: unknown) => o.logger.warn({ err: { message: (e as Error).message } }, 'worker sweep failed'))
      .finally(() => {
        current = undefined;
        if (!stopped) schedule();
      });
  };
  const schedule = () => {
    timer = setTimeout(tick, o.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
