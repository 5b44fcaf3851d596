import { isUuid, withTenant } from '../../db/client.js';
import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import { findReviewScope } from './events.repo.js';

export interface ReviewStream {
  orgId: string;
  projectId: string;
  reviewId: string;
}

/**
 * May the actor watch this review's events? Viewer role on its project is enough. A review of
 * another org is invisible under RLS, so it is a 404 exactly like one that does not exist.
 */
export async function authorizeReviewEvents(deps: Pick<CoreDeps, 'db'>, actor: Actor, reviewId: string): Promise<ReviewStream> {
  if (!isUuid(reviewId)) throw notFound('review');
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const review = await findReviewScope(tx, reviewId);
    if (!review) throw notFound('review');
    await loadProjectFor(tx, actor, review.project_id, 'viewer');
    return { orgId: actor.orgId, projectId: review.project_id, reviewId: review.id };
  });
}
