import { withTenant, type Db } from '../../db/client.js';
import type { ProjectRole } from './actor.js';
import { projectMembership } from './projects.repo.js';

/**
 * The role a developer holds on a project now (org owners and admins are project admins; no
 * membership = viewer). The gate orders one org's LLM calls by it (admin > reviewer > viewer).
 */
export async function developerRole(db: Db, orgId: string, projectId: string, userId: string): Promise<ProjectRole> {
  return withTenant(db, orgId, async (tx) => {
    const m = await tx.selectFrom('org_memberships').select('role').where('user_id', '=', userId).executeTakeFirst();
    if (m?.role === 'owner' || m?.role === 'admin') return 'admin';
    return (await projectMembership(tx, projectId, userId)) ?? 'viewer';
  });
}
