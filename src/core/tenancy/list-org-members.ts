import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import type { Page } from './list-projects.js';
import type { MemberOut } from './org.schemas.js';
import { listMembers, memberOut } from './orgs.repo.js';

/** Any member may see who else is in the org. */
export async function listOrgMembers(
  deps: CoreDeps,
  actor: Actor,
  q: { cursor?: string | undefined; limit: number },
): Promise<Page<MemberOut>> {
  // The cursor is an email; PostgreSQL text cannot hold NUL, so such a cursor was never issued.
  if (q.cursor?.includes('\0')) throw new AppError('bad_request', 'invalid cursor');
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const rows = await listMembers(tx, q);
      const page = rows.slice(0, q.limit);
      return { items: page.map(memberOut), next_cursor: rows.length > q.limit ? page.at(-1)!.email.toLowerCase() : null };
    },
    { userId: actor.userId },
  );
}
