import { AppError } from '../errors.js';
import type { Actor, OrgRole, ProjectRole } from './actor.js';

const PROJECT_RANK: Record<ProjectRole, number> = { viewer: 1, reviewer: 2, admin: 3 };

export function minRole(a: ProjectRole, b: ProjectRole | null): ProjectRole {
  if (!b) return a;
  return PROJECT_RANK[a] <= PROJECT_RANK[b] ? a : b;
}

export function atLeast(role: ProjectRole | null, needed: ProjectRole): boolean {
  return role !== null && PROJECT_RANK[role] >= PROJECT_RANK[needed];
}

/** Org owners and admins act as admins of every project; a key's cap still applies. */
export function isOrgAdmin(actor: Actor): boolean {
  const admin = actor.orgRole === 'owner' || actor.orgRole === 'admin';
  return admin && (actor.keyMaxRole === null || actor.keyMaxRole === 'admin');
}

/**
 * The effective role of the actor on a project: org admin → admin, else the project membership,
 * capped by the API key's max role; none when the key is limited to other projects.
 */
export function effectiveProjectRole(actor: Actor, projectId: string, membership: ProjectRole | null): ProjectRole | null {
  if (actor.keyProjectIds && !actor.keyProjectIds.includes(projectId)) return null;
  const base: ProjectRole | null = actor.orgRole === 'owner' || actor.orgRole === 'admin' ? 'admin' : membership;
  if (!base) return null;
  return minRole(base, actor.keyMaxRole);
}

export function requireProjectRole(role: ProjectRole | null, needed: ProjectRole): void {
  if (!atLeast(role, needed)) {
    throw new AppError(
      'forbidden',
      role ? `this needs the ${needed} role on the project; you have ${role}` : 'you have no role in this project',
    );
  }
}

export function requireOrgAdmin(actor: Actor): void {
  if (!isOrgAdmin(actor)) throw new AppError('forbidden', 'this needs the org admin or owner role');
}

/** Org-wide management (creating projects, keys for others, the audit log) with an unrestricted credential. */
export function requireUnrestrictedOrgAdmin(actor: Actor): void {
  requireOrgAdmin(actor);
  if (actor.keyProjectIds) throw new AppError('forbidden', 'this API key is limited to some projects; org-wide changes need an unrestricted credential');
}

export const ORG_ROLE_RANK: Record<OrgRole, number> = { member: 1, admin: 2, owner: 3 };
