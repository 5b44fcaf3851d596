import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { isUuid, withUser } from '../../db/client.js';
import type { RefreshInput, SessionOut } from './auth.schemas.js';
import { chooseOrg, issueSession, orgSummary } from './session.js';
import { verifyRefreshToken } from './tokens.js';
import { getUser, lockRefreshToken, markRefreshTokenUsed, revokeRefreshFamily, userOrgs } from './users.repo.js';

type Outcome = { kind: 'ok'; session: SessionOut } | { kind: 'invalid' | 'revoked' | 'reused' | 'expired' };

/**
 * Rotates a refresh token: each one is good exactly once. Presenting a used one means two parties
 * hold the chain (a stolen token), so the whole family is revoked and both parties must log in again.
 * The revocation is committed before the 401 is thrown, hence the outcome value instead of a throw.
 */
export async function refreshSession(deps: CoreDeps, input: RefreshInput): Promise<SessionOut> {
  const now = deps.clock.now();
  const claims = await verifyRefreshToken(deps.jwtKey, input.refresh_token, now);
  if (!isUuid(claims.sub) || !isUuid(claims.jti) || !isUuid(claims.fam)) {
    throw new AppError('unauthenticated', 'invalid token');
  }
  const outcome = await withUser(deps.db, claims.sub, async (tx): Promise<Outcome> => {
    const row = await lockRefreshToken(tx, claims.jti);
    if (!row || row.family_id !== claims.fam) return { kind: 'invalid' };
    if (row.revoked_at) return { kind: 'revoked' };
    if (row.used_at) {
      await revokeRefreshFamily(tx, row.family_id, now);
      deps.logger.warn({ user_id: claims.sub, family_id: row.family_id }, 'refresh token reused; family revoked');
      return { kind: 'reused' };
    }
    if (row.expires_at <= now) return { kind: 'expired' };
    const user = await getUser(tx, claims.sub);
    if (!user || user.disabled) return { kind: 'invalid' };
    const orgs = await userOrgs(tx, user.id);
    const org = chooseOrg(orgs, input.org_id, row.org_id);
    if (!org) return { kind: 'invalid' };
    await markRefreshTokenUsed(tx, row.id, now);
    const session = await issueSession(deps, tx, user, orgSummary(org), orgs.map(orgSummary), row.family_id);
    return { kind: 'ok', session };
  });
  switch (outcome.kind) {
    case 'ok':
      return outcome.session;
    case 'reused':
      throw new AppError('token_reused', 'refresh token already used; every session of this login has been revoked');
    case 'expired':
      throw new AppError('token_expired', 'refresh token expired');
    case 'revoked':
      throw new AppError('unauthenticated', 'refresh token revoked');
    case 'invalid':
      throw new AppError('unauthenticated', 'invalid token');
  }
}
