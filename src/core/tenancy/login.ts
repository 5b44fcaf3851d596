import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withUser } from '../../db/client.js';
import type { LoginInput, SessionOut } from './auth.schemas.js';
import { verifyPassword } from './password.js';
import { chooseOrg, issueSession, orgSummary } from './session.js';
import { findLoginByEmail, getUser, userOrgs } from './users.repo.js';

/**
 * Email + password → tokens for the requested org (when a member) or the earliest joined one.
 * Unknown email, wrong password, disabled account and password-less account all answer the same
 * 401 after the same single argon2 verification, so neither message nor timing tells them apart.
 */
export async function login(deps: CoreDeps, input: LoginInput): Promise<SessionOut> {
  const rec = await findLoginByEmail(deps.db, input.email);
  const ok = await verifyPassword(rec?.passwordHash ?? null, input.password);
  if (!rec || !ok || rec.disabled) throw new AppError('invalid_credentials', 'invalid email or password');
  return withUser(deps.db, rec.userId, async (tx) => {
    const user = await getUser(tx, rec.userId);
    if (!user) throw new AppError('invalid_credentials', 'invalid email or password');
    const orgs = await userOrgs(tx, user.id);
    const org = chooseOrg(orgs, input.org_id);
    // Right credentials but no org (removed from all of them): a token needs an org to act in.
    if (!org) throw new AppError('forbidden', 'your account is not a member of any org; ask for an invite');
    return issueSession(deps, tx, user, orgSummary(org), orgs.map(orgSummary));
  });
}
