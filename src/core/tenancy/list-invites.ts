import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { isUuid, withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import type { Page } from './list-projects.js';
import type { InviteOut } from './org.schemas.js';
import { inviteOut, listInvites as listInviteRows } from './orgs.repo.js';
import { requireOrgAdmin } from './rbac.js';

/** Owner/admin: invites carry the addresses of people who are not members (yet). */
export async function listInvites(deps: CoreDeps, actor: Actor, q: { cursor?: string | undefined; limit: number }): Promise<Page<InviteOut>> {
  requireOrgAdmin(actor);
  // The cursor is the last invite id of the previous page; anything else was not issued by us.
  if (q.cursor !== undefined && !isUuid(q.cursor)) throw new AppError('bad_request', 'invalid cursor');
  const now = deps.clock.now();
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const rows = await listInviteRows(tx, q);
    const page = rows.slice(0, q.limit);
    return { items: page.map((r) => inviteOut(r, now)), next_cursor: rows.length > q.limit ? page.at(-1)!.id : null };
  });
}
