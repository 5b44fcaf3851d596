import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import { projectOut } from './project-out.js';
import type { ProjectOut } from './project.schemas.js';
import { listProjectsRows } from './projects.repo.js';
import { effectiveProjectRole } from './rbac.js';

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Org admins see every project; others see those they have a role in (and their key allows). */
export async function listProjects(
  deps: CoreDeps,
  actor: Actor,
  q: { cursor?: string | undefined; limit: number },
): Promise<Page<ProjectOut>> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const admin = actor.orgRole === 'owner' || actor.orgRole === 'admin';
    const rows = await listProjectsRows(tx, {
      userId: admin ? null : actor.userId,
      onlyIds: actor.keyProjectIds,
      cursor: q.cursor,
      limit: q.limit,
    });
    const page = rows.slice(0, q.limit);
    return {
      items: page.map((p) => projectOut(p, effectiveProjectRole(actor, p.id, p.memberRole))),
      next_cursor: rows.length > q.limit ? page.at(-1)!.slug : null,
    };
  });
}
