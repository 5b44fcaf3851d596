import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { isUuid, withUser } from '../../db/client.js';
import type { LogoutInput } from './auth.schemas.js';
import { verifyRefreshToken } from './tokens.js';
import { revokeRefreshFamily } from './users.repo.js';

/**
 * Revokes the refresh token's whole family (every rotation of this login). Access tokens already
 * issued stay valid until they expire (≤ 1 h): they are stateless by design.
 */
export async function logout(deps: CoreDeps, input: LogoutInput): Promise<{ ok: true; revoked: number }> {
  const now = deps.clock.now();
  const claims = await verifyRefreshToken(deps.jwtKey, input.refresh_token, now);
  if (!isUuid(claims.sub) || !isUuid(claims.fam)) throw new AppError('unauthenticated', 'invalid token');
  const revoked = await withUser(deps.db, claims.sub, (tx) => revokeRefreshFamily(tx, claims.fam, now));
  return { ok: true, revoked };
}
