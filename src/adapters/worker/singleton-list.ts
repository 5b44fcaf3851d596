import { DEAD_WORKER_SWEEPER } from '../../core/jobs/singletons.repo.js';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { CoreDeps } from '../../core/deps.js';
import { periodic, type SingletonContext, type SingletonSpec } from './singleton.js';
import { sweepOnce, type SweepResult } from './sweeper.js';
import { databaseUptimeMs } from './worker-heartbeats.repo.js';
import { sweepWorktreesOnce } from './worktree-sweeper.js';

export interface SingletonListContext {
  /** Owner pool (the lapsed-worker sweep touches the graphile_worker schema). */
  ownerPool: pg.Pool;
  /** This process's worker id: its own heartbeat and leases are never swept. */
  workerId: string;
  onSweep?: ((r: SweepResult) => void) | undefined;
  /** Whether a review runs in this process now (its lease is in use even if its beat lapsed). */
  runsReview: (reviewId: string) => boolean;
}

/**
 * Every cluster singleton a worker process offers to run. Each runs in exactly one process at a
 * time (see singleton.ts). To add one (e.g. the gate's budget month roll-over), append a spec:
 *   { name: 'budget-rollover', run: periodic(60_000, async (ctx) => rollOverBudgets(deps, ctx)) }
 */
export function buildSingletons(deps: CoreDeps, c: SingletonListContext): SingletonSpec[] {
  const cfg = deps.config.worker;
  // After an outage of its own lock connection, or within a lapse of a database restart, heartbeats
  // and lease beats are stale through no fault of their owners: wait so live processes beat again.
  const quiet = (ctx: SingletonContext) => (ctx.afterOutage ? cfg.lapseMs : 0);
  const recentlyRestarted = async () => (await databaseUptimeMs(deps.db)) < cfg.lapseMs;
  return [
    {
      // Cluster-wide: unlocks the jobs of worker processes whose heartbeat lapsed (SIGKILL, crash).
      name: DEAD_WORKER_SWEEPER,
      run: periodic(
        cfg.sweepIntervalMs,
        async (ctx) => {
          if (await recentlyRestarted()) return;
          const r = await sweepOnce({ pool: c.ownerPool, lapseMs: cfg.lapseMs, selfWorkerId: c.workerId, logger: ctx.logger, onSweep: c.onSweep });
          deps.metrics.sweptWorkers.inc(r.lapsed.length + r.orphanWorkerIds.length);
          deps.metrics.sweptJobs.inc(r.unlockedJobs.length);
        },
        { firstDelayMs: quiet },
      ),
    },
    {
      // Per data directory: worktrees are files on this machine's disk.
      name: worktreeSweeperName(deps.config.dataDir),
      run: periodic(
        Math.max(cfg.sweepIntervalMs, 5_000),
        async (ctx) => {
          if (await recentlyRestarted()) return;
          await sweepWorktreesOnce(deps, { lapseMs: cfg.lapseMs, selfOwner: c.workerId, selfInUse: c.runsReview, logger: ctx.logger });
        },
        { firstDelayMs: quiet },
      ),
    },
  ];
}

/** `worktree-sweeper/<digest of host and data directory>`: one sweeper per machine's data directory. */
export function worktreeSweeperName(dataDir: string): string {
  const digest = createHash('sha256').update(`${os.hostname()}\0${path.resolve(dataDir)}`).digest('hex').slice(0, 10);
  return `worktree-sweeper/${digest}`;
}
