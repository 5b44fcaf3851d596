import type { Logger } from 'pino';
import type { CoreDeps } from '../../core/deps.js';
import { sweepWorktrees } from '../../core/git/sweep-worktrees.js';

/**
 * One pass of the worktree sweeper: removes worktrees whose lease lapsed (their process died) or
 * outlived the TTL, and lease-less leftovers. It runs as a singleton per data directory
 * (singleton-list.ts): worktrees live on a machine's own disk, so every machine's data directory
 * needs its own sweeper, and only one process per directory should walk it.
 */
export async function sweepWorktreesOnce(
  deps: CoreDeps,
  o: { lapseMs: number; selfOwner?: string | undefined; selfInUse?: ((reviewId: string) => boolean) | undefined; logger: Logger },
): Promise<void> {
  // The holder's own lapsed leases are skipped only while their review still runs here: a lease this
  // process failed to delete (database down at that moment) must not wait for it to die.
  const r = await sweepWorktrees(deps, { lapseMs: o.lapseMs, selfOwner: o.selfOwner, selfInUse: o.selfInUse, orphanGraceMs: deps.config.worktreeOrphanGraceMs });
  for (const x of r.removed) deps.metrics.worktreesRemoved.inc({ reason: x.reason });
  if (r.removed.length || r.failed.length) o.logger.info({ removed: r.removed, failed: r.failed, pruned: r.pruned }, 'worktree sweep');
}
