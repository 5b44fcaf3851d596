import type { CoreDeps } from '../deps.js';
import type { Actor } from '../tenancy/actor.js';
import { followReviewProgress, type ReviewProgress } from './follow-review-progress.js';
import { getReview } from './get-review.js';
import type { ReviewOut } from './review.schemas.js';

/**
 * waitForReview with progress: one event stream both reports k/n and ends the wait at the
 * review's terminal event (every progress callback has run by then), then the review is read.
 */
export async function waitForReviewWithProgress(
  deps: CoreDeps,
  actor: Actor,
  reviewId: string,
  timeoutMs: number,
  onProgress: (p: ReviewProgress) => void | Promise<void>,
): Promise<{ review: ReviewOut; done: boolean }> {
  let done = false;
  if (timeoutMs > 0) {
    const f = followReviewProgress(deps, actor, reviewId, onProgress);
    const timer = setTimeout(() => f.stop(), timeoutMs);
    done = (await f.done) === 'terminal';
    clearTimeout(timer);
  }
  const review = await getReview(deps, actor, reviewId);
  return { review, done: done || ['completed', 'failed', 'cancelled'].includes(review.status) };
}
