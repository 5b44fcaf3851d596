import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor, OrgRole } from './actor.js';
import type { OrgOut } from './org.schemas.js';
import { getOrg, type Org } from './orgs.repo.js';
import { quotaFor } from './tiers.js';

export function orgOut(org: Org, role: OrgRole, tiers?: CoreDeps['config']['tierLimits']): OrgOut {
  return {
    id: org.id,
    name: org.name,
    slug: org.slug,
    tier: org.tier,
    role,
    created_at: org.createdAt.toISOString(),
    quota: quotaFor(org.tier, tiers),
  };
}

export async function getCurrentOrg(deps: CoreDeps, actor: Actor): Promise<OrgOut> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const org = await getOrg(tx, actor.orgId);
    if (!org) throw notFound('org');
    return orgOut(org, actor.orgRole, deps.config.tierLimits);
  });
}
