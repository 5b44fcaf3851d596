import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import type { MeOut } from './auth.schemas.js';
import { getOrg } from './orgs.repo.js';
import { orgSummary } from './session.js';
import { quotaFor } from './tiers.js';
import { getUser, userOrgs } from './users.repo.js';

/** Who am I: the user, the org this credential acts in, every org of the user, the key's limits, the quota. */
export async function getMe(deps: CoreDeps, actor: Actor): Promise<MeOut> {
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const user = await getUser(tx, actor.userId);
      const org = await getOrg(tx, actor.orgId);
      if (!user || !org) throw new AppError('unauthenticated', 'missing or invalid credentials');
      const orgs = await userOrgs(tx, actor.userId);
      return {
        user: { id: user.id, email: user.email, name: user.name },
        org: orgSummary({ ...org, role: actor.orgRole }),
        orgs: orgs.map(orgSummary),
        api_key: actor.apiKeyId ? { id: actor.apiKeyId, project_ids: actor.keyProjectIds, max_role: actor.keyMaxRole } : null,
        quota: quotaFor(org.tier, deps.config.tierLimits),
      };
    },
    { userId: actor.userId },
  );
}
