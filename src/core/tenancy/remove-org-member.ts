import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { loadMemberForChange } from './org-member-rules.js';
import { deleteMembership } from './orgs.repo.js';

/** Removes a member; their project roles and API keys in this org go with the membership. */
export async function removeOrgMember(deps: CoreDeps, ctx: RequestContext, userId: string): Promise<{ user_id: string; removed: true }> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const target = await loadMemberForChange(tx, ctx.actor, userId, null);
      await deleteMembership(tx, userId);
      await insertAudit(tx, ctx, {
        action: 'member.remove',
        targetType: 'user',
        targetId: userId,
        diff: { email: target.email, role: target.role },
      });
      return { user_id: userId, removed: true as const };
    },
    { userId: ctx.actor.userId },
  );
}
