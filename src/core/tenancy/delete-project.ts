import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { loadProjectFor } from './project-access.js';
import { requireOrgAdmin } from './rbac.js';

export async function deleteProject(deps: CoreDeps, ctx: RequestContext, ref: string): Promise<{ id: string; deleted: true }> {
  return withTenant(deps.db, ctx.actor.orgId, async (tx) => {
    const { project } = await loadProjectFor(tx, ctx.actor, ref, 'admin');
    requireOrgAdmin(ctx.actor);
    await tx.deleteFrom('projects').where('id', '=', project.id).execute();
    await insertAudit(tx, ctx, {
      action: 'project.delete',
      projectId: project.id,
      targetType: 'project',
      targetId: project.id,
      diff: { slug: project.slug },
    });
    return { id: project.id, deleted: true as const };
  });
}
