import type { CoreDeps } from '../deps.js';
import { followEvents, type Follower } from '../events/follow.js';
import type { Actor } from '../tenancy/actor.js';

export interface ReviewProgress {
  completed: number;
  total: number;
  /** The reviewer that just finished (absent for the initial total). */
  reviewer?: string;
  status?: 'completed' | 'failed';
}

/**
 * Calls `onProgress` with k/n as the review's reviewers finish (its `reviewer.completed` events,
 * replayed from the beginning, then live) until the review ends or `stop()` is called. The caller
 * must already be allowed to see the review (it started it, or authorizeReviewEvents said so).
 */
export function followReviewProgress(
  deps: Pick<CoreDeps, 'db' | 'logger' | 'events'>,
  actor: Actor,
  reviewId: string,
  onProgress: (p: ReviewProgress) => void | Promise<void>,
): Follower {
  return followEvents(deps, deps.events, { orgId: actor.orgId, reviewId, afterId: '0', untilTerminal: true, recheckMs: 2_000 }, async (events) => {
    for (const e of events) {
      const p = e.payload as { completed?: number; total?: number; reviewer?: string; status?: 'completed' | 'failed' };
      if (e.type === 'reviewer.completed' && typeof p.completed === 'number' && typeof p.total === 'number') {
        await onProgress({ completed: p.completed, total: p.total, ...(p.reviewer && { reviewer: p.reviewer }), ...(p.status && { status: p.status }) });
      } else if (e.type === 'review.queued' && typeof p.total === 'number') {
        await onProgress({ completed: 0, total: p.total });
      }
    }
  });
}
