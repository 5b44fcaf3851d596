import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { hashToken, randomToken } from './api-key-format.js';
import { insertAudit } from './audit.repo.js';
import type { CreatedInviteOut, CreateInviteInput } from './org.schemas.js';
import { findMemberByEmail, hasPendingInvite, insertInvite, inviteOut } from './orgs.repo.js';
import { requireOrgAdmin } from './rbac.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Invites an email address (owner/admin). The token is returned once; only its SHA-256 is kept. */
export async function createInvite(deps: CoreDeps, ctx: RequestContext, input: CreateInviteInput): Promise<CreatedInviteOut> {
  requireOrgAdmin(ctx.actor);
  const now = deps.clock.now();
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      if (await findMemberByEmail(tx, input.email)) throw new AppError('already_exists', 'this person is already a member of the org');
      if (await hasPendingInvite(tx, input.email, now)) {
        throw new AppError('already_exists', 'a pending invite for this email exists; revoke it first to send a new one');
      }
      const token = `qi_${randomToken(32)}`;
      const row = await insertInvite(tx, {
        orgId: ctx.actor.orgId,
        email: input.email,
        role: input.role,
        tokenHash: hashToken(token),
        expiresAt: new Date(now.getTime() + input.expires_in_days * DAY_MS),
        createdBy: ctx.actor.userId,
      });
      await insertAudit(tx, ctx, {
        action: 'invite.create',
        targetType: 'invite',
        targetId: row.id,
        diff: { email: row.email, role: row.role, expires_at: row.expires_at.toISOString() },
      });
      return { ...inviteOut(row, now), token };
    },
    { userId: ctx.actor.userId },
  );
}
