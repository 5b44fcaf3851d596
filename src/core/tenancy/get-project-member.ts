import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import type { ProjectMemberOut } from './member.schemas.js';
import { memberIdOf } from './orgs.repo.js';
import { loadProjectFor } from './project-access.js';

export async function getProjectMember(deps: CoreDeps, actor: Actor, ref: string, userRef: string): Promise<ProjectMemberOut> {
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const { project } = await loadProjectFor(tx, actor, ref, 'viewer');
      const userId = await memberIdOf(tx, userRef);
      const r = await tx
        .selectFrom('project_members as pm')
        .innerJoin('users as u', 'u.id', 'pm.user_id')
        .select(['pm.project_id', 'pm.user_id', 'pm.role', 'pm.created_at', 'u.email', 'u.name'])
        .where('pm.project_id', '=', project.id)
        .where('pm.user_id', '=', userId)
        .executeTakeFirst();
      if (!r) throw notFound('project member');
      return { ...r, created_at: r.created_at.toISOString() };
    },
    { userId: actor.userId },
  );
}
