import { sql, type Selectable, type Transaction } from 'kysely';
import type { Database, RefreshTokensTable } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import { AppError } from '../errors.js';
import type { OrgRole, Tier } from './actor.js';

export interface User {
  id: string;
  email: string;
  name: string;
  disabled: boolean;
}

export interface LoginRecord {
  userId: string;
  name: string;
  passwordHash: string | null;
  disabled: boolean;
}

export interface UserOrg {
  id: string;
  name: string;
  slug: string;
  tier: Tier;
  role: OrgRole;
  joinedAt: Date;
}

/** Login by email, before any org is known: the named cross-org function `quorum.auth_user_by_email`. */
export async function findLoginByEmail(db: Tx, email: string): Promise<LoginRecord | undefined> {
  const res = await sql<{ user_id: string; name: string; password_hash: string | null; disabled: boolean }>`
    select user_id, name, password_hash, disabled from quorum.auth_user_by_email(${email})`.execute(db);
  const r = res.rows[0];
  return r && { userId: r.user_id, name: r.name, passwordHash: r.password_hash, disabled: r.disabled };
}

/** Every org of a user, earliest joined first (`quorum.auth_user_orgs`). */
export async function userOrgs(db: Tx, userId: string): Promise<UserOrg[]> {
  const res = await sql<{ org_id: string; name: string; slug: string; tier: Tier; role: OrgRole; joined_at: Date }>`
    select org_id, name, slug, tier, role, joined_at from quorum.auth_user_orgs(${userId}::uuid)`.execute(db);
  return res.rows.map((r) => ({ id: r.org_id, name: r.name, slug: r.slug, tier: r.tier, role: r.role, joinedAt: r.joined_at }));
}

/** The acting user's own row: visible by RLS when `quorum.user_id` is set to it. */
export async function getUser(tx: Transaction<Database>, userId: string): Promise<User | undefined> {
  const r = await tx.selectFrom('users').select(['id', 'email', 'name', 'disabled']).where('id', '=', userId).executeTakeFirst();
  return r;
}

export async function insertUser(
  tx: Transaction<Database>,
  v: { id: string; email: string; name: string; passwordHash: string },
): Promise<void> {
  try {
    await sql`savepoint user_insert`.execute(tx);
    await tx.insertInto('users').values({ id: v.id, email: v.email, name: v.name, password_hash: v.passwordHash }).execute();
    await sql`release savepoint user_insert`.execute(tx);
  } catch (e) {
    await sql`rollback to savepoint user_insert`.execute(tx);
    // A concurrent signup with the same email lost the race to the unique index.
    if ((e as { code?: string }).code === '23505') throw new AppError('already_exists', 'a user with this email already exists');
    throw e;
  }
}

// ---------------------------------------------------------------- refresh tokens (RLS: the user's own rows)

export type RefreshTokenRow = Selectable<RefreshTokensTable>;

export async function insertRefreshToken(
  tx: Transaction<Database>,
  v: { id: string; userId: string; familyId: string; orgId: string; expiresAt: Date },
): Promise<void> {
  await tx
    .insertInto('refresh_tokens')
    .values({ id: v.id, user_id: v.userId, family_id: v.familyId, org_id: v.orgId, expires_at: v.expiresAt })
    .execute();
}

/** Locks the row so that two concurrent rotations of one token serialise: the second sees it used. */
export async function lockRefreshToken(tx: Transaction<Database>, id: string): Promise<RefreshTokenRow | undefined> {
  return tx.selectFrom('refresh_tokens').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function markRefreshTokenUsed(tx: Transaction<Database>, id: string, at: Date): Promise<void> {
  await tx.updateTable('refresh_tokens').set({ used_at: at }).where('id', '=', id).execute();
}

export async function revokeRefreshFamily(tx: Transaction<Database>, familyId: string, at: Date): Promise<number> {
  const res = await tx
    .updateTable('refresh_tokens')
    .set({ revoked_at: at })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
