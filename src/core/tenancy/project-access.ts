import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { notFound } from '../errors.js';
import type { Actor, ProjectRole } from './actor.js';
import { findProject, projectMembership, type Project } from './projects.repo.js';
import { effectiveProjectRole, requireProjectRole } from './rbac.js';

/**
 * Resolves a project reference for the actor and checks the role it needs.
 * Another org's project is a 404 (RLS hides it); a project of this org without a role is a 403.
 */
export async function loadProjectFor(
  tx: Transaction<Database>,
  actor: Actor,
  ref: string,
  needed: ProjectRole,
): Promise<{ project: Project; role: ProjectRole }> {
  const project = await findProject(tx, ref);
  if (!project) throw notFound('project');
  // Org owners/admins are admins of every project: no membership lookup needed.
  const orgAdmin = actor.orgRole === 'owner' || actor.orgRole === 'admin';
  const membership = orgAdmin ? null : await projectMembership(tx, project.id, actor.userId);
  const role = effectiveProjectRole(actor, project.id, membership);
  requireProjectRole(role, needed);
  return { project, role: role! };
}
