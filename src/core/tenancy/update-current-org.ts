import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { orgOut } from './get-current-org.js';
import type { OrgOut, UpdateOrgInput } from './org.schemas.js';
import { getOrg, updateOrgName } from './orgs.repo.js';
import { requireOrgAdmin } from './rbac.js';

/** Renames the org (owner/admin). The slug stays: it may be in scripts and URLs. */
export async function updateCurrentOrg(deps: CoreDeps, ctx: RequestContext, input: UpdateOrgInput): Promise<OrgOut> {
  requireOrgAdmin(ctx.actor);
  const orgId = ctx.actor.orgId;
  return withTenant(
    deps.db,
    orgId,
    async (tx) => {
      const before = await getOrg(tx, orgId, { lock: true });
      if (!before) throw notFound('org');
      await updateOrgName(tx, orgId, input.name);
      await insertAudit(tx, ctx, {
        action: 'org.update',
        targetType: 'org',
        targetId: orgId,
        diff: { before: { name: before.name }, after: { name: input.name } },
      });
      return orgOut({ ...before, name: input.name }, ctx.actor.orgRole, deps.config.tierLimits);
    },
    { userId: ctx.actor.userId },
  );
}
