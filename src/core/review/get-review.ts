import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import type { ReviewOut } from './review.schemas.js';
import { findReview, listFindings, progressOf, reviewOut } from './reviews.repo.js';

/** A review with its findings; viewer role on its project. Another org's review is a 404. */
export async function getReview(deps: CoreDeps, actor: Actor, reviewId: string): Promise<ReviewOut> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const r = await findReview(tx, reviewId);
    if (!r) throw notFound('review');
    await loadProjectFor(tx, actor, r.project_id, 'viewer');
    const findings = await listFindings(tx, r.id);
    const progress = await progressOf(tx, [r.id]);
    return reviewOut(r, { completed: progress.get(r.id) ?? 0, findingsCount: findings.length, findings });
  });
}
