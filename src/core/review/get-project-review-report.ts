import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { isUuid, withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import { getReviewReport, type ReportFormat, type ReportOut } from './get-review-report.js';
import { findReview } from './reviews.repo.js';

/**
 * A review's report addressed through its project (`review://{project}/{review_id}`): the review
 * must belong to that project, else it is a 404 like any review the actor cannot see.
 */
export async function getProjectReviewReport(deps: CoreDeps, actor: Actor, projectRef: string, reviewId: string, format: ReportFormat): Promise<ReportOut> {
  if (!isUuid(reviewId)) throw notFound('review');
  await withTenant(deps.db, actor.orgId, async (tx) => {
    const { project } = await loadProjectFor(tx, actor, projectRef, 'viewer');
    const r = await findReview(tx, reviewId);
    if (!r || r.project_id !== project.id) throw notFound('review');
  });
  return getReviewReport(deps, actor, reviewId, format);
}
