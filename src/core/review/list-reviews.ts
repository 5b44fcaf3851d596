import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import type { Page } from '../tenancy/list-projects.js';
import { memberIdOf } from '../tenancy/orgs.repo.js';
import { isOrgAdmin } from '../tenancy/rbac.js';
import type { ListReviewsQuery, ReviewOut } from './review.schemas.js';
import { findingsCount, progressOf, reviewOut } from './reviews.repo.js';
import { afterCursor, cursorAt, decodeTimeCursor, encodeTimeCursor } from './time-cursor.js';

export async function listReviews(deps: CoreDeps, actor: Actor, q: ListReviewsQuery): Promise<Page<ReviewOut>> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    let query = tx.selectFrom('reviews').selectAll('reviews').select(cursorAt('reviews.created_at').as('cursor_at')).orderBy('reviews.created_at', 'desc').orderBy('reviews.id', 'desc').limit(q.limit + 1);
    if (q.project) {
      const { project } = await loadProjectFor(tx, actor, q.project, 'viewer');
      query = query.where('reviews.project_id', '=', project.id);
    } else if (!isOrgAdmin(actor) || actor.keyProjectIds) {
      // Only projects the actor has a role in (and the key allows).
      const admin = actor.orgRole === 'owner' || actor.orgRole === 'admin';
      if (!admin) {
        query = query.where('reviews.project_id', 'in', (sub) =>
          sub.selectFrom('project_members').select('project_id').where('user_id', '=', actor.userId),
        );
      }
      if (actor.keyProjectIds) {
        query = query.where('reviews.project_id', 'in', actor.keyProjectIds.length ? actor.keyProjectIds : ['00000000-0000-0000-0000-000000000000']);
      }
    }
    if (q.developer) query = query.where('reviews.developer_id', '=', await memberIdOf(tx, q.developer));
    if (q.task_id) query = query.where('reviews.task_id', '=', q.task_id);
    if (q.status) query = query.where('reviews.status', '=', q.status);
    if (q.min_score !== undefined) query = query.where('reviews.score', '>=', String(q.min_score) as never);
    if (q.since) query = query.where('reviews.created_at', '>=', q.since);
    const cur = decodeTimeCursor(q.cursor);
    if (cur) query = query.where(afterCursor('reviews.created_at', 'reviews.id', cur));
    const rows = await query.execute();
    const page = rows.slice(0, q.limit);
    const ids = page.map((r) => r.id);
    const [counts, progress] = [await findingsCount(tx, ids), await progressOf(tx, ids)];
    const last = page.at(-1);
    return {
      items: page.map((r) => reviewOut(r, { completed: progress.get(r.id) ?? 0, findingsCount: counts.get(r.id) ?? 0 })),
      next_cursor: rows.length > q.limit && last ? encodeTimeCursor(last.cursor_at, last.id) : null,
    };
  });
}
