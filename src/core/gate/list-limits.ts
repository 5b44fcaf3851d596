import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { requireOrgAdmin } from '../tenancy/rbac.js';
import { tierLimits } from '../tenancy/tiers.js';
import { monthSpend } from './budgets.repo.js';
import { loadOrgPolicyRows } from './gate-policy.repo.js';
import { limitOut, monthKey } from './limits-view.js';
import type { LimitsOut } from './usage.schemas.js';

/** Budgets and rate limits of the org (org admins), with month-to-date spend and the defaults that apply elsewhere. */
export async function listLimits(deps: CoreDeps, actor: Actor): Promise<LimitsOut> {
  requireOrgAdmin(actor);
  const month = monthKey(deps.clock.now());
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const { tier, limits } = await loadOrgPolicyRows(tx, actor.orgId);
      const spent = await monthSpend(tx, month);
      const d = deps.config.gate.defaults;
      const rate = (l: { rpm?: number | undefined; tpm?: number | undefined }) => ({ rpm: l.rpm ?? null, tpm: l.tpm ?? null });
      return {
        month: month.slice(0, 7),
        tier,
        defaults: { org_monthly_budget_usd: tierLimits(deps.config.tierLimits, tier).monthly_budget_usd, org: rate(d.org), user: rate(d.user), key: rate(d.key) },
        org_spent_this_month_usd: Math.round((spent.find((s) => s.scope === 'org')?.spentUsd ?? 0) * 1e6) / 1e6,
        items: limits.map((r) => limitOut(r, spent)),
      };
    },
    { userId: actor.userId },
  );
}
