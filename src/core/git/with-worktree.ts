import { withTenant } from '../../db/client.js';
import type { CoreDeps } from '../deps.js';
import type { RetryOptions } from './git-exec.js';
import { deleteLease, heartbeatLease, insertLease } from './leases.repo.js';
import { worktreeLocation } from './paths.js';
import { createWorktree, removeWorktree, type Worktree } from './worktrees.js';

export interface WithWorktreeInput {
  orgId: string;
  projectId: string;
  projectSlug: string;
  taskId: string;
  reviewId: string;
  mirrorPath: string;
  commitish: string;
  /** The owning process (worker id): shown by the sweeper, used by heartbeatLeases. */
  owner: string;
  /** How often the lease is refreshed while `fn` runs (default config.worker.heartbeatMs). */
  heartbeatMs?: number;
  /** Keep the worktree's branch after `fn` succeeded (e.g. it carries a commit made for the review). */
  keepBranch?: boolean;
  retry?: RetryOptions;
}

export interface LeasedWorktree extends Worktree {
  leaseId: string;
  /** Aborted if the lease disappears while `fn` runs (a sweeper reclaimed it): stop using the files. */
  signal: AbortSignal;
}

/**
 * Runs `fn` in a fresh worktree held under a lease, and removes both however `fn` ends.
 *
 * Order matters for crash safety: the lease is committed before the directory exists, so any
 * worktree on disk without a lease is an orphan; and the lease is deleted only after the
 * directory is gone, so a failed removal leaves a lease that lapses and the sweeper retries.
 * The lease's heartbeat runs here, per worktree, so it covers exactly the time `fn` runs.
 */
export async function withWorktree<T>(
  deps: Pick<CoreDeps, 'db' | 'config' | 'logger'>,
  i: WithWorktreeInput,
  fn: (wt: LeasedWorktree) => Promise<T>,
): Promise<T> {
  const dataDir = deps.config.dataDir;
  const loc = worktreeLocation(dataDir, i);
  const lease = await withTenant(deps.db, i.orgId, (tx) =>
    insertLease(tx, { orgId: i.orgId, projectId: i.projectId, reviewId: i.reviewId, path: loc.path, branch: loc.branch, owner: i.owner }),
  );
  const log = deps.logger.child({ review_id: i.reviewId, lease_id: lease.id });
  const lost = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;
  let succeeded = false;
  try {
    // The lease (unique path) was just committed: leftovers of this review's earlier attempts are ours to reclaim.
    const wt = await createWorktree({ dataDir, ...i, reclaimLeftovers: true }, i.retry);
    timer = setInterval(() => {
      if (beating) return; // never pile up writes behind a slow database
      beating = withTenant(deps.db, i.orgId, (tx) => heartbeatLease(tx, lease.id))
        .then((alive) => {
          if (!alive && !lost.signal.aborted) {
            log.warn('worktree lease was reclaimed by a sweeper while in use');
            lost.abort(new Error('worktree lease lost'));
          }
        })
        .catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'worktree lease heartbeat failed'))
        .finally(() => {
          beating = undefined;
        });
    }, i.heartbeatMs ?? deps.config.worker.heartbeatMs);
    timer.unref();
    const result = await fn({ ...wt, leaseId: lease.id, signal: lost.signal });
    succeeded = true;
    return result;
  } finally {
    if (timer) clearInterval(timer);
    await beating;
    // Always attempted, even if creation failed midway: the lease (unique path) makes this path and
    // branch ours alone, so nothing of another review can be removed here.
    let removed = false;
    try {
      // An attempt that failed or was aborted (shutdown, database fault) drops its branch too: the
      // next attempt of the review creates it again, under the same name.
      await removeWorktree({ dataDir, mirrorPath: i.mirrorPath, path: loc.path, branch: loc.branch, keepBranch: i.keepBranch && succeeded }, i.retry);
      removed = true;
    } catch (e) {
      log.warn({ err: { message: (e as Error).message } }, 'could not remove worktree; the sweeper will retry when its lease lapses');
    }
    if (removed) {
      await withTenant(deps.db, i.orgId, (tx) => deleteLease(tx, lease.id)).catch((e: unknown) =>
        log.warn({ err: { message: (e as Error).message } }, 'could not delete worktree lease; it will lapse'),
      );
    }
  }
}
