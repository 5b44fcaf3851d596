import type { CoreDeps } from '../deps.js';
import { followEvents } from '../events/follow.js';
import type { Actor } from '../tenancy/actor.js';
import { getReview } from './get-review.js';
import type { ReviewOut } from './review.schemas.js';

/**
 * Waits until the review reaches a terminal state or `timeoutMs` passes, driven by the review's
 * events (NOTIFY wake-ups from whichever process runs it), then returns its current state.
 */
export async function waitForReview(deps: CoreDeps, actor: Actor, reviewId: string, timeoutMs: number): Promise<{ review: ReviewOut; done: boolean }> {
  let done = false;
  if (timeoutMs > 0) {
    const f = followEvents(deps, deps.events, { orgId: actor.orgId, reviewId, afterId: '0', untilTerminal: true, recheckMs: 2_000 }, () => {});
    const timer = setTimeout(() => f.stop(), timeoutMs);
    done = (await f.done) === 'terminal';
    clearTimeout(timer);
  }
  const review = await getReview(deps, actor, reviewId);
  return { review, done: done || ['completed', 'failed', 'cancelled'].includes(review.status) };
}
