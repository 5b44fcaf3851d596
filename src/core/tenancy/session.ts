import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { CoreDeps } from '../deps.js';
import type { OrgSummaryOut, SessionOut, UserOut } from './auth.schemas.js';
import { ACCESS_TTL_S, signAccessToken, signRefreshToken } from './tokens.js';
import { insertRefreshToken, type UserOrg } from './users.repo.js';

/** What login, signup and refresh have in common: a token pair and the refresh token's row. */

export function orgSummary(o: Pick<UserOrg, 'id' | 'name' | 'slug' | 'tier' | 'role'>): OrgSummaryOut {
  return { id: o.id, name: o.name, slug: o.slug, tier: o.tier, role: o.role };
}

/** The first preferred org the user still belongs to, else the earliest joined, else none. */
export function chooseOrg(orgs: UserOrg[], ...preferred: Array<string | undefined>): UserOrg | undefined {
  for (const id of preferred) {
    const hit = id ? orgs.find((o) => o.id === id) : undefined;
    if (hit) return hit;
  }
  return orgs[0];
}

/**
 * Signs an access and a refresh token for `org` and records the refresh token (id = jti) so it can
 * be rotated once and revoked. `tx` must have `quorum.user_id` set to the user (refresh-token RLS).
 * `familyId` continues a rotation chain; omitted, a new family starts (login, signup).
 */
export async function issueSession(
  deps: CoreDeps,
  tx: Transaction<Database>,
  user: UserOut,
  org: OrgSummaryOut,
  orgs: OrgSummaryOut[],
  familyId?: string,
): Promise<SessionOut> {
  const now = deps.clock.now();
  const access = await signAccessToken(deps.jwtKey, { sub: user.id, org: org.id }, now);
  const refresh = await signRefreshToken(deps.jwtKey, { sub: user.id, org: org.id, ...(familyId && { fam: familyId }) }, now);
  await insertRefreshToken(tx, { id: refresh.jti, userId: user.id, familyId: refresh.fam, orgId: org.id, expiresAt: refresh.expiresAt });
  return {
    access_token: access,
    refresh_token: refresh.token,
    token_type: 'Bearer',
    expires_in: ACCESS_TTL_S,
    user: { id: user.id, email: user.email, name: user.name },
    org,
    orgs,
  };
}

/** Request facts for the audit trail of a public route (signup), where there is no actor yet. */
export interface RequestInfo {
  ip: string | null;
  userAgent: string | null;
  correlationId: string;
}
