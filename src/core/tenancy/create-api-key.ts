import type { CoreDeps } from '../deps.js';
import { AppError, forbidden } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { ProjectRole, RequestContext } from './actor.js';
import { insertApiKey } from './api-keys.repo.js';
import type { CreateApiKeyInput, CreatedApiKeyOut } from './api-key.schemas.js';
import { insertAudit } from './audit.repo.js';
import { isUuid } from '../../db/client.js';
import { ProjectSlug } from './project.schemas.js';
import { findProject } from './projects.repo.js';
import { atLeast, isOrgAdmin, ORG_ROLE_RANK } from './rbac.js';

const DAY_MS = 86_400_000;

/**
 * Creates an API key, returned once. A key can never reach further than the credential that
 * created it: a project-limited or role-capped key passes its limits on (omitted limits are
 * inherited; an explicit request beyond them is refused rather than silently narrowed).
 * Only org admins may create keys for someone else, and never for a member who outranks them.
 */
export async function createApiKey(deps: CoreDeps, ctx: RequestContext, input: CreateApiKeyInput): Promise<CreatedApiKeyOut> {
  const actor = ctx.actor;
  // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
  if (input.name.includes('\0')) throw new AppError('validation_failed', 'name must not contain NUL characters');
  const targetUserId = input.user_id ?? actor.userId;
  const forOther = targetUserId !== actor.userId;
  // A project-limited key must not mint keys for other people: that would widen its reach.
  if (forOther && !(isOrgAdmin(actor) && actor.keyProjectIds === null)) {
    throw forbidden('only org admins (with an unrestricted credential) may create keys for another user');
  }
  if (input.max_role && actor.keyMaxRole && !atLeast(actor.keyMaxRole, input.max_role)) {
    throw forbidden(`your key is capped at ${actor.keyMaxRole}; it cannot create a key with ${input.max_role}`);
  }
  const maxRole: ProjectRole | null = input.max_role ?? actor.keyMaxRole;

  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const target = await tx
        .selectFrom('org_memberships')
        .select('role')
        .where('user_id', '=', targetUserId)
        .executeTakeFirst();
      if (!target) throw new AppError('not_found', 'user not found in this org');
      if (ORG_ROLE_RANK[target.role] > ORG_ROLE_RANK[actor.orgRole]) {
        throw forbidden('you cannot create a key for a member with a higher org role than yours');
      }

      let projectIds: string[] | null = actor.keyProjectIds;
      if (input.projects) {
        const ids: string[] = [];
        const unknown: number[] = [];
        for (const [i, ref] of input.projects.entries()) {
          // Only well-formed ids or slugs are looked up; anything else cannot name a project.
          const p = isUuid(ref) || ProjectSlug.safeParse(ref).success ? await findProject(tx, ref) : undefined;
          if (p) ids.push(p.id);
          else unknown.push(i);
        }
        // Indexes, not values: the message never echoes what another org might own.
        if (unknown.length) throw new AppError('unprocessable', 'some projects do not exist in this org', { unknown_indexes: unknown });
        const unique = [...new Set(ids)];
        if (actor.keyProjectIds && unique.some((id) => !actor.keyProjectIds!.includes(id))) {
          throw forbidden('your key is limited to other projects; a new key cannot reach further');
        }
        projectIds = unique;
      }

      const expiresAt = input.expires_in_days ? new Date(deps.clock.now().getTime() + input.expires_in_days * DAY_MS) : null;
      const key = await insertApiKey(tx, {
        orgId: actor.orgId,
        userId: targetUserId,
        name: input.name,
        projectIds,
        maxRole,
        expiresAt,
        createdBy: actor.userId,
      });
      await insertAudit(tx, ctx, {
        action: 'api_key.create',
        targetType: 'api_key',
        targetId: key.id,
        diff: { name: key.name, prefix: key.prefix, user_id: key.user_id, project_ids: key.project_ids, max_role: key.max_role, expires_at: key.expires_at },
      });
      return key;
    },
    { userId: actor.userId },
  );
}
