import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import { loadProjectFor } from './project-access.js';
import { projectOut } from './project-out.js';
import type { ProjectOut } from './project.schemas.js';

export async function getProject(deps: CoreDeps, actor: Actor, ref: string): Promise<ProjectOut> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const { project, role } = await loadProjectFor(tx, actor, ref, 'viewer');
    return projectOut(project, role);
  });
}
