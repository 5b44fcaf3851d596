import type { Logger } from 'pino';
import type { CoreDeps } from '../../core/deps.js';
import { sweepWorktrees } from '../../core/git/sweep-worktrees.js';

/**
 * Periodically removes worktrees whose lease lapsed (their process died) or outlived the TTL.
 * Every worker process runs it; leases are claimed row by row, so sweeps never double-remove.
 */
export function startWorktreeSweeper(
  deps: CoreDeps,
  o: { intervalMs: number; lapseMs: number; selfOwner?: string | undefined; logger: Logger },
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = sweepWorktrees(deps, { lapseMs: o.lapseMs, selfOwner: o.selfOwner })
      .then((r) => {
        for (const x of r.removed) deps.metrics.worktreesRemoved.inc({ reason: x.reason });
        if (r.removed.length || r.failed.length) o.logger.info({ removed: r.removed, failed: r.failed, pruned: r.pruned }, 'worktree sweep');
      })
      .catch((e: unknown) => o.logger.warn({ err: { message: (e as Error).message } }, 'worktree sweep failed'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, o.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
