import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { AppError, notFound } from '../errors.js';
import type { Actor, OrgRole } from './actor.js';
import { countOwners, getMember, getOrg, type Member } from './orgs.repo.js';
import { requireOrgAdmin } from './rbac.js';

/**
 * Shared checks for changing or removing an org member: owner/admin only; only an owner may touch
 * the owner role (grant it, or change/remove an owner); the org must keep at least one owner.
 * Locks the org row first so two concurrent demotions cannot both pass the last-owner check.
 */
export async function loadMemberForChange(
  tx: Transaction<Database>,
  actor: Actor,
  userId: string,
  newRole: OrgRole | null,
): Promise<Member> {
  requireOrgAdmin(actor);
  await getOrg(tx, actor.orgId, { lock: true });
  const target = await getMember(tx, userId);
  if (!target) throw notFound('member');
  const touchesOwner = target.role === 'owner' || newRole === 'owner';
  if (touchesOwner && actor.orgRole !== 'owner') throw new AppError('forbidden', 'only an owner may grant or revoke the owner role');
  if (target.role === 'owner' && newRole !== 'owner' && (await countOwners(tx)) <= 1) {
    throw new AppError('conflict', 'the org must keep at least one owner; make someone else owner first');
  }
  return target;
}
