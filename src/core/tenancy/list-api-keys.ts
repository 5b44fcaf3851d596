import { sql } from 'kysely';
import { z } from 'zod';
import type { CoreDeps } from '../deps.js';
import { forbidden } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import { apiKeyOut } from './api-keys.repo.js';
import type { ApiKeyOut } from './api-key.schemas.js';
import type { Page } from './list-projects.js';
import { isOrgAdmin } from './rbac.js';

export const ListApiKeysQuery = z.object({
  /** Org admins: only this user's keys. Others may only name themselves. */
  user: z.string().uuid().optional(),
  /** The id of the last key of the previous page. */
  cursor: z.string().uuid().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListApiKeysQuery = z.infer<typeof ListApiKeysQuery>;

/** Your own keys, newest first; org admins (unrestricted credential) see every key of the org. */
export async function listApiKeys(deps: CoreDeps, actor: Actor, q: ListApiKeysQuery): Promise<Page<ApiKeyOut>> {
  const seesAll = isOrgAdmin(actor) && actor.keyProjectIds === null;
  if (q.user && q.user !== actor.userId && !seesAll) throw forbidden("only org admins may list other users' keys");
  const userId = seesAll ? q.user : actor.userId;
  return withTenant(deps.db, actor.orgId, async (tx) => {
    let query = tx.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit + 1);
    if (userId) query = query.where('user_id', '=', userId);
    // Keyset pagination on (created_at, id); an unknown cursor (RLS hides other orgs) yields an empty page.
    if (q.cursor) query = query.where(sql<boolean>`(created_at, id) < (select k.created_at, k.id from api_keys k where k.id = ${q.cursor})`);
    const rows = await query.execute();
    const page = rows.slice(0, q.limit);
    return { items: page.map(apiKeyOut), next_cursor: rows.length > q.limit ? page.at(-1)!.id : null };
  });
}
