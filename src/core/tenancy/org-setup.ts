import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { AppError } from '../errors.js';
import type { Tier } from './actor.js';

/** Turns an org name into a slug; uniqueness is settled by the unique index, with a suffix on clash. */
export function slugify(name: string): string {
  const s = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return s || 'org';
}

/**
 * Creates a user (or reuses one by email) and a new org they own, inside a tenant transaction for
 * the new org. Shared by bootstrap and signup.
 */
export async function insertOrgWithOwner(
  tx: Transaction<Database>,
  input: { orgId: string; orgName: string; tier?: Tier; email: string; name: string; passwordHash: string | null; userId?: string },
): Promise<{ orgId: string; userId: string; orgSlug: string }> {
  const userId = input.userId ?? randomUUID();
  await sql`select set_config('quorum.user_id', ${userId}, true)`.execute(tx);
  const base = slugify(input.orgName);
  let slug = base;
  for (let i = 0; ; i++) {
    try {
      await sql`savepoint org_slug`.execute(tx);
      await tx.insertInto('orgs').values({ id: input.orgId, name: input.orgName, slug, tier: input.tier ?? 'free', settings: '{}' }).execute();
      await sql`release savepoint org_slug`.execute(tx);
      break;
    } catch (e) {
      await sql`rollback to savepoint org_slug`.execute(tx);
      if ((e as { code?: string }).code !== '23505' || i > 20) throw e;
      slug = `${base}-${randomUUID().slice(0, 6)}`;
    }
  }
  if (!input.userId) {
    try {
      await sql`savepoint user_insert`.execute(tx);
      await tx.insertInto('users').values({ id: userId, email: input.email, name: input.name, password_hash: input.passwordHash }).execute();
      await sql`release savepoint user_insert`.execute(tx);
    } catch (e) {
      await sql`rollback to savepoint user_insert`.execute(tx);
      if ((e as { code?: string }).code === '23505') throw new AppError('already_exists', 'a user with this email already exists');
      throw e;
    }
  }
  await tx.insertInto('org_memberships').values({ org_id: input.orgId, user_id: userId, role: 'owner' }).execute();
  return { orgId: input.orgId, userId, orgSlug: slug };
}
