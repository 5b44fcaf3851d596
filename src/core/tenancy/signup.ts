import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CoreDeps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import { loadUsableInvite, requireInviteEmail } from './accept-invite.js';
import type { SessionOut, SignupInput } from './auth.schemas.js';
import { insertAudit } from './audit.repo.js';
import { insertOrgWithOwner } from './org-setup.js';
import { getOrg, insertMembership, markInviteAccepted } from './orgs.repo.js';
import { hashPassword } from './password.js';
import { issueSession, orgSummary, type RequestInfo } from './session.js';
import { findLoginByEmail, insertUser } from './users.repo.js';

const exists = () => new AppError('already_exists', 'a user with this email already exists; log in instead');

/**
 * Signup by config: 'open' creates the user and an org they own; with an invite token (required in
 * 'invite' mode) the user joins the inviting org instead; 'closed' refuses. One audit row,
 * `user.signup`, in the org the user ends up in.
 */
export async function signup(deps: CoreDeps, req: RequestInfo, input: SignupInput): Promise<SessionOut> {
  const mode = deps.config.auth.signup;
  if (mode === 'closed') throw new AppError('signup_closed', 'signup is closed on this server; ask an administrator');
  // On a new installation (no user at all) the first person may sign up and owns the first org:
  // the zero-set-up way in, equivalent to `quorum bootstrap`. After that, invitations only.
  if (!input.invite_token && mode === 'invite' && (await hasUsers(deps))) {
    throw new AppError('signup_closed', 'signup is by invitation only: pass the invite_token you were sent');
  }
  return input.invite_token ? signupWithInvite(deps, req, input, input.invite_token) : signupOpen(deps, req, input);
}

async function hasUsers(deps: CoreDeps): Promise<boolean> {
  const r = await sql<{ has: boolean }>`select quorum.system_has_users() as has`.execute(deps.db);
  return r.rows[0]?.has ?? true;
}

const actorFor = (userId: string, orgId: string, orgRole: Actor['orgRole']): Actor => ({
  userId,
  orgId,
  orgRole,
  apiKeyId: null,
  keyProjectIds: null,
  keyMaxRole: null,
});

async function signupOpen(deps: CoreDeps, req: RequestInfo, input: SignupInput): Promise<SessionOut> {
  if (await findLoginByEmail(deps.db, input.email)) throw exists();
  const passwordHash = await hashPassword(input.password);
  const orgId = randomUUID();
  const orgName = input.org_name ?? `${input.name}'s org`;
  return withTenant(deps.db, orgId, async (tx) => {
    // Sets quorum.user_id to the new user, which the refresh-token row needs below.
    const { userId, orgSlug } = await insertOrgWithOwner(tx, { orgId, orgName, email: input.email, name: input.name, passwordHash });
    await insertAudit(tx, { ...req, actor: actorFor(userId, orgId, 'owner') }, {
      action: 'user.signup',
      targetType: 'user',
      targetId: userId,
      diff: { email: input.email, via: 'open', org_name: orgName },
    });
    const org = orgSummary({ id: orgId, name: orgName, slug: orgSlug, tier: 'free', role: 'owner' });
    return issueSession(deps, tx, { id: userId, email: input.email, name: input.name }, org, [org]);
  });
}

async function signupWithInvite(deps: CoreDeps, req: RequestInfo, input: SignupInput, token: string): Promise<SessionOut> {
  const invite = await loadUsableInvite(deps, token);
  requireInviteEmail(invite, input.email);
  if (await findLoginByEmail(deps.db, input.email)) throw exists();
  const passwordHash = await hashPassword(input.password);
  const userId = randomUUID();
  return withTenant(
    deps.db,
    invite.orgId,
    async (tx) => {
      await insertUser(tx, { id: userId, email: input.email, name: input.name, passwordHash });
      if (!(await markInviteAccepted(tx, invite.id, deps.clock.now()))) {
        throw new AppError('conflict', 'this invite is no longer pending');
      }
      await insertMembership(tx, invite.orgId, userId, invite.role);
      const org = await getOrg(tx, invite.orgId);
      if (!org) throw notFound('invite');
      await insertAudit(tx, { ...req, actor: actorFor(userId, invite.orgId, invite.role) }, {
        action: 'user.signup',
        targetType: 'user',
        targetId: userId,
        diff: { email: input.email, via: 'invite', invite_id: invite.id, role: invite.role },
      });
      const summary = orgSummary({ ...org, role: invite.role });
      return issueSession(deps, tx, { id: userId, email: input.email, name: input.name }, summary, [summary]);
    },
    { userId },
  );
}
