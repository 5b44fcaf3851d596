import { sql, type Selectable, type Transaction } from 'kysely';
import type { Database, InvitesTable } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import { AppError } from '../errors.js';
import type { OrgRole, Tier } from './actor.js';
import type { InviteOut, MemberOut } from './org.schemas.js';

export interface Org {
  id: string;
  name: string;
  slug: string;
  tier: Tier;
  createdAt: Date;
}

/** The org of the current tenant transaction (RLS shows no other). */
export async function getOrg(tx: Transaction<Database>, orgId: string, opts: { lock?: boolean } = {}): Promise<Org | undefined> {
  let q = tx.selectFrom('orgs').select(['id', 'name', 'slug', 'tier', 'created_at']).where('id', '=', orgId);
  // Locking the org row serialises membership changes, so "is this the last owner?" cannot race.
  if (opts.lock) q = q.forUpdate();
  const r = await q.executeTakeFirst();
  return r && { id: r.id, name: r.name, slug: r.slug, tier: r.tier, createdAt: r.created_at };
}

export async function updateOrgName(tx: Transaction<Database>, orgId: string, name: string): Promise<void> {
  await tx.updateTable('orgs').set({ name }).where('id', '=', orgId).execute();
}

// ---------------------------------------------------------------- members

export interface Member {
  userId: string;
  email: string;
  name: string;
  role: OrgRole;
  joinedAt: Date;
}

export function memberOut(m: Member): MemberOut {
  return { user_id: m.userId, email: m.email, name: m.name, role: m.role, joined_at: m.joinedAt.toISOString() };
}

function membersQuery(tx: Transaction<Database>) {
  return tx
    .selectFrom('org_memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'u.name', 'm.role', 'm.created_at']);
}

type MemberRow = { user_id: string; email: string; name: string; role: OrgRole; created_at: Date };
const toMember = (r: MemberRow): Member => ({ userId: r.user_id, email: r.email, name: r.name, role: r.role, joinedAt: r.created_at });

/** Ordered by lower(email), which is unique, so the email itself is a stable cursor. */
export async function listMembers(tx: Transaction<Database>, q: { cursor?: string | undefined; limit: number }): Promise<Member[]> {
  let query = membersQuery(tx).orderBy(sql`lower(u.email)`).limit(q.limit + 1);
  if (q.cursor) query = query.where(sql<boolean>`lower(u.email) > lower(${q.cursor})`);
  return (await query.execute()).map(toMember);
}

export async function getMember(tx: Transaction<Database>, userId: string): Promise<Member | undefined> {
  const r = await membersQuery(tx).where('m.user_id', '=', userId).executeTakeFirst();
  return r && toMember(r);
}

export async function findMemberByEmail(tx: Transaction<Database>, email: string): Promise<Member | undefined> {
  const r = await membersQuery(tx).where(sql<boolean>`lower(u.email) = lower(${email})`).executeTakeFirst();
  return r && toMember(r);
}

/** A member of the current org named by user id or email (how people name each other), else undefined. */
export async function findMember(tx: Transaction<Database>, ref: string): Promise<Member | undefined> {
  return UUID_RE.test(ref) ? getMember(tx, ref) : ref.includes('@') ? findMemberByEmail(tx, ref) : undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The user id a request names (id or email of a member of the current org). An id that is no
 * longer a member's is kept as given: rows about a person who left still name them.
 */
export async function memberIdOf(tx: Transaction<Database>, ref: string): Promise<string> {
  const m = await findMember(tx, ref);
  if (m) return m.userId;
  if (UUID_RE.test(ref)) return ref;
  throw new AppError('not_found', 'no member of this org has that email');
}

export async function countOwners(tx: Transaction<Database>): Promise<number> {
  const r = await tx
    .selectFrom('org_memberships')
    .select(sql<string>`count(*)`.as('n'))
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function insertMembership(tx: Transaction<Database>, orgId: string, userId: string, role: OrgRole): Promise<void> {
  await tx.insertInto('org_memberships').values({ org_id: orgId, user_id: userId, role }).execute();
}

export async function setMemberRole(tx: Transaction<Database>, userId: string, role: OrgRole): Promise<void> {
  await tx.updateTable('org_memberships').set({ role }).where('user_id', '=', userId).execute();
}

/** Cascades (by foreign key) to the member's project roles and API keys in this org. */
export async function deleteMembership(tx: Transaction<Database>, userId: string): Promise<void> {
  await tx.deleteFrom('org_memberships').where('user_id', '=', userId).execute();
}

// ---------------------------------------------------------------- invites

export type InviteRow = Selectable<InvitesTable>;

export function inviteStatus(r: Pick<InviteRow, 'accepted_at' | 'revoked_at' | 'expires_at'>, now: Date): InviteOut['status'] {
  if (r.accepted_at) return 'accepted';
  if (r.revoked_at) return 'revoked';
  if (r.expires_at <= now) return 'expired';
  return 'pending';
}

export function inviteOut(r: InviteRow, now: Date): InviteOut {
  return {
    id: r.id,
    email: r.email,
    role: r.role,
    status: inviteStatus(r, now),
    expires_at: r.expires_at.toISOString(),
    accepted_at: r.accepted_at?.toISOString() ?? null,
    revoked_at: r.revoked_at?.toISOString() ?? null,
    created_by: r.created_by,
    created_at: r.created_at.toISOString(),
  };
}

export async function insertInvite(
  tx: Transaction<Database>,
  v: { orgId: string; email: string; role: 'admin' | 'member'; tokenHash: Buffer; expiresAt: Date; createdBy: string },
): Promise<InviteRow> {
  return tx
    .insertInto('invites')
    .values({ org_id: v.orgId, email: v.email, role: v.role, token_hash: v.tokenHash, expires_at: v.expiresAt, created_by: v.createdBy })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function hasPendingInvite(tx: Transaction<Database>, email: string, now: Date): Promise<boolean> {
  const r = await tx
    .selectFrom('invites')
    .select('id')
    .where(sql<boolean>`lower(email) = lower(${email})`)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return r !== undefined;
}

/** Ordered by id: stable under inserts, so the last id is the cursor. */
export async function listInvites(tx: Transaction<Database>, q: { cursor?: string | undefined; limit: number }): Promise<InviteRow[]> {
  let query = tx.selectFrom('invites').selectAll().orderBy('id').limit(q.limit + 1);
  if (q.cursor) query = query.where('id', '>', q.cursor);
  return query.execute();
}

export async function getInvite(tx: Transaction<Database>, id: string, opts: { lock?: boolean } = {}): Promise<InviteRow | undefined> {
  let q = tx.selectFrom('invites').selectAll().where('id', '=', id);
  if (opts.lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function revokeInviteRow(tx: Transaction<Database>, id: string, at: Date): Promise<InviteRow> {
  return tx.updateTable('invites').set({ revoked_at: at }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Marks a still-pending invite accepted; false when someone else accepted or revoked it first. */
export async function markInviteAccepted(tx: Transaction<Database>, id: string, at: Date): Promise<boolean> {
  const res = await tx
    .updateTable('invites')
    .set({ accepted_at: at })
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface InviteByToken {
  id: string;
  orgId: string;
  email: string;
  role: 'admin' | 'member';
  expiresAt: Date;
  acceptedAt: Date | null;
  revokedAt: Date | null;
}

/** An invite is found by its secret before its org is known: the named function `quorum.auth_invite_by_token`. */
export async function findInviteByTokenHash(db: Tx, tokenHash: Buffer): Promise<InviteByToken | undefined> {
  const res = await sql<{
    invite_id: string;
    org_id: string;
    email: string;
    role: 'admin' | 'member';
    expires_at: Date;
    accepted_at: Date | null;
    revoked_at: Date | null;
  }>`select * from quorum.auth_invite_by_token(${tokenHash})`.execute(db);
  const r = res.rows[0];
  return (
    r && {
      id: r.invite_id,
      orgId: r.org_id,
      email: r.email,
      role: r.role,
      expiresAt: r.expires_at,
      acceptedAt: r.accepted_at,
      revokedAt: r.revoked_at,
    }
  );
}
