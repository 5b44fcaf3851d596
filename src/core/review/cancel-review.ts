import type { CoreDeps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { enqueueJob } from '../jobs/enqueue.js';
import { emitReviewEvent } from './review-events.js';
import { runReviewJobOptions } from './start-review.js';
import type { RequestContext } from '../tenancy/actor.js';
import { insertAudit } from '../tenancy/audit.repo.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import type { ReviewOut } from './review.schemas.js';
import { lockReview, progressOf, reviewOut } from './reviews.repo.js';

/**
 * Cancels a review. A queued review is cancelled at once; a running one is flagged and its worker
 * stops between (and aborts in-flight) reviewer calls, then records `review.cancelled`; a running
 * review nobody works on right now is cancelled by the first worker free.
 * The review's developer, or a project admin, may cancel.
 */
export async function cancelReview(deps: CoreDeps, ctx: RequestContext, reviewId: string): Promise<ReviewOut> {
  return withTenant(deps.db, ctx.actor.orgId, async (tx) => {
    const r = await lockReview(tx, reviewId);
    if (!r) throw notFound('review');
    const { role } = await loadProjectFor(tx, ctx.actor, r.project_id, 'reviewer');
    if (r.developer_id !== ctx.actor.userId && role !== 'admin') {
      throw new AppError('forbidden', 'only the developer who started the review or a project admin can cancel it');
    }
    if (r.status === 'completed' || r.status === 'failed' || r.status === 'cancelled') {
      throw new AppError('conflict', `the review is already ${r.status}`);
    }
    const now = deps.clock.now();
    const queued = r.status === 'queued';
    const row = await tx
      .updateTable('reviews')
      .set(queued ? { status: 'cancelled', cancel_requested: true, completed_at: now } : { cancel_requested: true })
      .where('id', '=', r.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (queued) {
      await emitReviewEvent(tx, r, ctx.correlationId, 'review.cancelled', { reason: 'cancelled by request' });
    } else {
      // Its job is made due now: a worker that holds it stops between reviewers; one that does not
      // (the attempt failed and waits out its retry back-off, or the review runs in an API process
      // and its job is held back) claims it at once and records the cancellation, instead of minutes later.
      await enqueueJob(tx, 'run_review', { org_id: r.org_id, review_id: r.id, ...(r.correlation_id && { correlation_id: r.correlation_id }) }, runReviewJobOptions(r, now));
    }
    await insertAudit(tx, ctx, { action: 'review.cancel', projectId: r.project_id, targetType: 'review', targetId: r.id, diff: { status_before: r.status } });
    const progress = await progressOf(tx, [r.id]);
    return reviewOut(row, { completed: progress.get(r.id) ?? 0, findingsCount: 0 });
  });
}
