import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from '../tenancy/actor.js';
import { insertAudit } from '../tenancy/audit.repo.js';
import { requireOrgAdmin } from '../tenancy/rbac.js';
import { deleteLimit } from './gate-policy.repo.js';
import { limitOut } from './limits-view.js';
import type { LimitOut } from './usage.schemas.js';

/** Removes a limit row: that subject falls back to the defaults (org admins). */
export async function removeLimit(deps: CoreDeps, ctx: RequestContext, id: string): Promise<LimitOut> {
  requireOrgAdmin(ctx.actor);
  const out = await withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const row = await deleteLimit(tx, id);
      if (!row) throw notFound('limit');
      await insertAudit(tx, ctx, { action: 'limit.remove', targetType: 'limit', targetId: id, diff: { scope: row.scope, subject_id: row.subjectId } });
      return limitOut(row, []);
    },
    { userId: ctx.actor.userId },
  );
  deps.gate.invalidateOrg?.(ctx.actor.orgId);
  return out;
}
