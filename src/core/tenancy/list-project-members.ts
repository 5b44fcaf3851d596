import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import type { Page } from './list-projects.js';
import type { ListMembersQuery, ProjectMemberOut } from './member.schemas.js';
import { loadProjectFor } from './project-access.js';

/** The explicit members of a project (viewer and up may see who else works on it). */
export async function listProjectMembers(deps: CoreDeps, actor: Actor, ref: string, q: ListMembersQuery): Promise<Page<ProjectMemberOut>> {
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const { project } = await loadProjectFor(tx, actor, ref, 'viewer');
      let query = tx
        .selectFrom('project_members as pm')
        .innerJoin('users as u', 'u.id', 'pm.user_id')
        .select(['pm.project_id', 'pm.user_id', 'pm.role', 'pm.created_at', 'u.email', 'u.name'])
        .where('pm.project_id', '=', project.id)
        .orderBy('pm.user_id')
        .limit(q.limit + 1);
      if (q.cursor) query = query.where('pm.user_id', '>', q.cursor);
      const rows = await query.execute();
      const page = rows.slice(0, q.limit);
      return {
        items: page.map((r) => ({ ...r, created_at: r.created_at.toISOString() })),
        next_cursor: rows.length > q.limit ? page.at(-1)!.user_id : null,
      };
    },
    { userId: actor.userId },
  );
}
