import type { CoreDeps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { hashToken } from './api-key-format.js';
import { insertAudit } from './audit.repo.js';
import type { AcceptedInviteOut } from './org.schemas.js';
import type { AcceptInviteInput } from './org.schemas.js';
import { findInviteByTokenHash, getMember, getOrg, insertMembership, markInviteAccepted, type InviteByToken } from './orgs.repo.js';
import { orgSummary } from './session.js';
import { getUser } from './users.repo.js';

/** Looks an invite up by its secret and refuses one that can no longer be used. */
export async function loadUsableInvite(deps: CoreDeps, token: string): Promise<InviteByToken> {
  const invite = await findInviteByTokenHash(deps.db, hashToken(token));
  if (!invite) throw notFound('invite');
  if (invite.acceptedAt) throw new AppError('invite_accepted', 'this invite has already been accepted');
  if (invite.revokedAt) throw new AppError('invite_revoked', 'this invite has been revoked');
  if (invite.expiresAt <= deps.clock.now()) throw new AppError('invite_expired', 'this invite has expired; ask for a new one');
  return invite;
}

export function requireInviteEmail(invite: InviteByToken, email: string): void {
  // The token is the secret, but binding it to the address it was sent to stops a forwarded or
  // leaked link from admitting someone else.
  if (invite.email.toLowerCase() !== email.toLowerCase()) {
    throw new AppError('forbidden', 'this invite was sent to a different email address');
  }
}

/** The authenticated user joins the invite's org with the invite's role. Audited in that org. */
export async function acceptInvite(deps: CoreDeps, ctx: RequestContext, input: AcceptInviteInput): Promise<AcceptedInviteOut> {
  const invite = await loadUsableInvite(deps, input.token);
  const userId = ctx.actor.userId;
  return withTenant(
    deps.db,
    invite.orgId,
    async (tx) => {
      const user = await getUser(tx, userId);
      if (!user) throw new AppError('unauthenticated', 'missing or invalid credentials');
      requireInviteEmail(invite, user.email);
      if (await getMember(tx, userId)) throw new AppError('already_exists', 'you are already a member of this org');
      if (!(await markInviteAccepted(tx, invite.id, deps.clock.now()))) {
        throw new AppError('conflict', 'this invite is no longer pending');
      }
      await insertMembership(tx, invite.orgId, userId, invite.role);
      const org = await getOrg(tx, invite.orgId);
      if (!org) throw notFound('invite');
      // The row belongs to the org being joined; the credential used is still recorded.
      await insertAudit(tx, { ...ctx, actor: { ...ctx.actor, orgId: invite.orgId, orgRole: invite.role } }, {
        action: 'invite.accept',
        targetType: 'invite',
        targetId: invite.id,
        diff: { user_id: userId, role: invite.role },
      });
      return { org: orgSummary({ ...org, role: invite.role }) };
    },
    { userId },
  );
}
