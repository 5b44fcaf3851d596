import { findMember } from '../tenancy/orgs.repo.js';
import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { CoreDeps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { isUuid, withTenant } from '../../db/client.js';
import type { RequestContext } from '../tenancy/actor.js';
import { insertAudit } from '../tenancy/audit.repo.js';
import { findProject } from '../tenancy/projects.repo.js';
import { requireOrgAdmin } from '../tenancy/rbac.js';
import { monthSpend } from './budgets.repo.js';
import { deleteLimit, loadOrgPolicyRows, upsertLimit } from './gate-policy.repo.js';
import { limitOut, monthKey } from './limits-view.js';
import type { LimitOut, SetLimitInput } from './usage.schemas.js';

/** The id of the subject a limit is about, checked to belong to the org. */
async function resolveSubject(tx: Transaction<Database>, orgId: string, scope: SetLimitInput['scope'], subject: string | undefined): Promise<string> {
  if (scope === 'org') {
    if (subject !== undefined && subject !== orgId) throw new AppError('validation_failed', 'an org limit is about your own org: omit subject');
    return orgId;
  }
  const ref = subject as string;
  if (scope === 'project') {
    const p = await findProject(tx, ref);
    if (!p) throw notFound('project');
    return p.id;
  }
  if (scope === 'user') {
    const member = await findMember(tx, ref);
    if (!member) throw notFound('member');
    return member.userId;
  }
  if (!isUuid(ref)) throw notFound('API key');
  const key = await tx.selectFrom('api_keys').select('id').where('id', '=', ref).executeTakeFirst();
  if (!key) throw notFound('API key');
  return key.id;
}

/**
 * Sets a budget and/or rate limits for the org, a project, a member or an API key (org admins).
 * Fields left out keep their value; null clears one; a row with nothing left is removed. Applies
 * to this process's gate at once and to every other process within seconds.
 */
export async function setLimit(deps: CoreDeps, ctx: RequestContext, input: SetLimitInput): Promise<LimitOut | { removed: true; scope: string; subject_id: string }> {
  requireOrgAdmin(ctx.actor);
  const orgId = ctx.actor.orgId;
  const result = await withTenant(
    deps.db,
    orgId,
    async (tx) => {
      const subjectId = await resolveSubject(tx, orgId, input.scope, input.subject);
      const existing = (await loadOrgPolicyRows(tx, orgId)).limits.find((r) => r.scope === input.scope && r.subjectId === subjectId);
      const next = {
        monthlyBudgetUsd: input.monthly_budget_usd !== undefined ? input.monthly_budget_usd : (existing?.monthlyBudgetUsd ?? null),
        rpm: input.rpm !== undefined ? input.rpm : (existing?.rpm ?? null),
        tpm: input.tpm !== undefined ? input.tpm : (existing?.tpm ?? null),
      };
      const diff = { scope: input.scope, subject_id: subjectId, before: existing ? { monthly_budget_usd: existing.monthlyBudgetUsd, rpm: existing.rpm, tpm: existing.tpm } : null, after: next };
      if (next.monthlyBudgetUsd === null && next.rpm === null && next.tpm === null) {
        if (existing) await deleteLimit(tx, existing.id);
        await insertAudit(tx, ctx, { action: 'limit.remove', targetType: 'limit', targetId: existing?.id ?? null, diff });
        return { removed: true as const, scope: input.scope, subject_id: subjectId };
      }
      const row = await upsertLimit(tx, orgId, { scope: input.scope, subjectId, ...next });
      await insertAudit(tx, ctx, { action: 'limit.set', targetType: 'limit', targetId: row.id, diff });
      return limitOut(row, await monthSpend(tx, monthKey(deps.clock.now())));
    },
    { userId: ctx.actor.userId },
  );
  deps.gate.invalidateOrg?.(orgId);
  return result;
}
