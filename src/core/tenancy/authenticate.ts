import { sql } from 'kysely';
import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { isUuid, withTenant } from '../../db/client.js';
import type { Actor, OrgRole, ProjectRole } from './actor.js';
import { hashApiKey, looksLikeApiKey } from './api-key-format.js';
import { verifyAccessToken } from './tokens.js';

const unauthenticated = () => new AppError('unauthenticated', 'missing or invalid credentials');

/** API key → actor, through the named cross-org lookup `quorum.auth_api_key`. */
export async function authenticateApiKey(deps: CoreDeps, rawKey: string): Promise<Actor> {
  if (!looksLikeApiKey(rawKey)) throw unauthenticated();
  const hash = hashApiKey(rawKey);
  const hashHex = hash.toString('hex');
  const nowMs = deps.clock.now().getTime();
  const cached = deps.apiKeyCache.get(hashHex, nowMs);
  if (cached) {
    if (cached.expiresAt && cached.expiresAt.getTime() <= nowMs) throw new AppError('token_expired', 'API key expired');
    return cached.actor;
  }
  const res = await sql<{
    key_id: string;
    org_id: string;
    user_id: string;
    project_ids: string[] | null;
    max_role: ProjectRole | null;
    expires_at: Date | null;
    revoked_at: Date | null;
    org_role: OrgRole;
    user_disabled: boolean;
  }>`select * from quorum.auth_api_key(${hash})`.execute(deps.db);
  const row = res.rows[0];
  const now = deps.clock.now();
  if (!row || row.revoked_at || row.user_disabled) throw unauthenticated();
  if (row.expires_at && row.expires_at <= now) throw new AppError('token_expired', 'API key expired');
  const actor: Actor = {
    userId: row.user_id,
    orgId: row.org_id,
    orgRole: row.org_role,
    apiKeyId: row.key_id,
    keyProjectIds: row.project_ids,
    keyMaxRole: row.max_role,
  };
  deps.apiKeyCache.set(hashHex, actor, row.expires_at, nowMs);
  return actor;
}

/** JWT access token → actor; the membership is re-read so a removed member loses access at once. */
export async function authenticateAccessToken(deps: CoreDeps, token: string): Promise<Actor> {
  const claims = await verifyAccessToken(deps.jwtKey, token, deps.clock.now());
  if (!isUuid(claims.sub) || !isUuid(claims.org)) throw unauthenticated();
  const m = await withTenant(
    deps.db,
    claims.org,
    (tx) =>
      tx
        .selectFrom('org_memberships')
        .innerJoin('users', 'users.id', 'org_memberships.user_id')
        .select(['org_memberships.role', 'users.disabled'])
        .where('org_memberships.user_id', '=', claims.sub)
        .executeTakeFirst(),
    { userId: claims.sub },
  );
  if (!m || m.disabled) throw unauthenticated();
  return { userId: claims.sub, orgId: claims.org, orgRole: m.role, apiKeyId: null, keyProjectIds: null, keyMaxRole: null };
}

/** `X-API-Key: qk_…`, or `Authorization: Bearer qk_…` / `Bearer <jwt>`. */
export async function authenticate(
  deps: CoreDeps,
  headers: { apiKey?: string | undefined; authorization?: string | undefined },
): Promise<Actor> {
  if (headers.apiKey) return authenticateApiKey(deps, headers.apiKey.trim());
  const auth = headers.authorization;
  if (!auth) throw new AppError('unauthenticated', 'authentication required: send X-API-Key or Authorization: Bearer');
  const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
  if (!m) throw unauthenticated();
  const token = m[1]!;
  return token.startsWith('qk_') ? authenticateApiKey(deps, token) : authenticateAccessToken(deps, token);
}
