import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { memberIdOf } from './orgs.repo.js';
import { loadProjectFor } from './project-access.js';

/** Removes an explicit project membership (project admin). Org admins keep their implicit admin role. */
export async function removeProjectMember(
  deps: CoreDeps,
  ctx: RequestContext,
  ref: string,
  userRef: string,
): Promise<{ project_id: string; user_id: string; removed: true }> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const { project } = await loadProjectFor(tx, ctx.actor, ref, 'admin');
      const userId = await memberIdOf(tx, userRef);
      const row = await tx
        .deleteFrom('project_members')
        .where('project_id', '=', project.id)
        .where('user_id', '=', userId)
        .returning('role')
        .executeTakeFirst();
      if (!row) throw notFound('project member');
      await insertAudit(tx, ctx, {
        action: 'project_member.remove',
        projectId: project.id,
        targetType: 'user',
        targetId: userId,
        diff: { before: { role: row.role }, after: null },
      });
      return { project_id: project.id, user_id: userId, removed: true as const };
    },
    { userId: ctx.actor.userId },
  );
}
