import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { loadMemberForChange } from './org-member-rules.js';
import type { MemberOut, UpdateMemberInput } from './org.schemas.js';
import { memberOut, setMemberRole } from './orgs.repo.js';

export async function updateOrgMember(deps: CoreDeps, ctx: RequestContext, userId: string, input: UpdateMemberInput): Promise<MemberOut> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const target = await loadMemberForChange(tx, ctx.actor, userId, input.role);
      await setMemberRole(tx, userId, input.role);
      await insertAudit(tx, ctx, {
        action: 'member.update',
        targetType: 'user',
        targetId: userId,
        diff: { before: { role: target.role }, after: { role: input.role } },
      });
      return memberOut({ ...target, role: input.role });
    },
    { userId: ctx.actor.userId },
  );
}
