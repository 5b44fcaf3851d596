import type { CoreDeps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import type { InviteOut } from './org.schemas.js';
import { getInvite, inviteOut, revokeInviteRow } from './orgs.repo.js';
import { requireOrgAdmin } from './rbac.js';

export async function revokeInvite(deps: CoreDeps, ctx: RequestContext, inviteId: string): Promise<InviteOut> {
  requireOrgAdmin(ctx.actor);
  const now = deps.clock.now();
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      // Locked so a concurrent accept either happens first (→ 409 here) or finds it revoked.
      const invite = await getInvite(tx, inviteId, { lock: true });
      if (!invite) throw notFound('invite');
      if (invite.accepted_at) throw new AppError('invite_accepted', 'this invite has already been accepted; remove the member instead');
      if (invite.revoked_at) throw new AppError('invite_revoked', 'this invite is already revoked');
      const row = await revokeInviteRow(tx, inviteId, now);
      await insertAudit(tx, ctx, { action: 'invite.revoke', targetType: 'invite', targetId: inviteId, diff: { email: row.email } });
      return inviteOut(row, now);
    },
    { userId: ctx.actor.userId },
  );
}
