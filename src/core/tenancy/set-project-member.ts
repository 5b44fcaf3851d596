import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import type { ProjectMemberOut, SetProjectMemberInput } from './member.schemas.js';
import { memberIdOf } from './orgs.repo.js';
import { loadProjectFor } from './project-access.js';

/** Grants or changes a member's role on a project (project admin). The user must belong to the org. */
export async function setProjectMember(
  deps: CoreDeps,
  ctx: RequestContext,
  ref: string,
  userRef: string,
  input: SetProjectMemberInput,
): Promise<ProjectMemberOut> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const { project } = await loadProjectFor(tx, ctx.actor, ref, 'admin');
      const userId = await memberIdOf(tx, userRef);
      // RLS scopes org_memberships and users to this org: another org's user is simply not found.
      const user = await tx
        .selectFrom('org_memberships as m')
        .innerJoin('users as u', 'u.id', 'm.user_id')
        .select(['u.id', 'u.email', 'u.name'])
        .where('m.user_id', '=', userId)
        .executeTakeFirst();
      if (!user) throw notFound('user');
      const before = await tx
        .selectFrom('project_members')
        .select('role')
        .where('project_id', '=', project.id)
        .where('user_id', '=', userId)
        .forUpdate()
        .executeTakeFirst();
      const row = await tx
        .insertInto('project_members')
        .values({ org_id: ctx.actor.orgId, project_id: project.id, user_id: userId, role: input.role })
        .onConflict((oc) => oc.columns(['project_id', 'user_id']).doUpdateSet({ role: input.role }))
        .returningAll()
        .executeTakeFirstOrThrow();
      await insertAudit(tx, ctx, {
        action: 'project_member.set',
        projectId: project.id,
        targetType: 'user',
        targetId: userId,
        diff: { before: before ? { role: before.role } : null, after: { role: row.role } },
      });
      return {
        project_id: row.project_id,
        user_id: row.user_id,
        email: user.email,
        name: user.name,
        role: row.role,
        created_at: row.created_at.toISOString(),
      };
    },
    { userId: ctx.actor.userId },
  );
}
