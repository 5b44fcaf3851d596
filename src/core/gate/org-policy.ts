import type { GateConfig, TenantRateLimits } from '../../config.js';
import { withTenant, type Db } from '../../db/client.js';
import { tierLimits, type TierLimits } from '../tenancy/tiers.js';
import type { Tier } from '../tenancy/actor.js';
import { loadOrgPolicyRows, type LimitRow } from './gate-policy.repo.js';

/**
 * An org's limits as the gate applies them: rows in `gate_limits` override the configured
 * defaults; the org's monthly budget defaults to its tier's.
 */
export class OrgPolicy {
  private readonly rows = new Map<string, LimitRow>();

  constructor(
    readonly tier: Tier,
    rows: LimitRow[],
    private readonly defaults: GateConfig['defaults'],
    private readonly tiers: Partial<Record<Tier, Partial<TierLimits>>> = {},
  ) {
    for (const r of rows) this.rows.set(`${r.scope}:${r.subjectId}`, r);
  }

  rateLimit(scope: 'org' | 'user' | 'key', subjectId: string): TenantRateLimits {
    const row = this.rows.get(`${scope}:${subjectId}`);
    const d = this.defaults[scope];
    return { rpm: row?.rpm ?? d.rpm, tpm: row?.tpm ?? d.tpm };
  }

  budget(scope: 'org' | 'project' | 'user', subjectId: string): number | undefined {
    const v = this.rows.get(`${scope}:${subjectId}`)?.monthlyBudgetUsd;
    if (v !== null && v !== undefined) return v;
    return scope === 'org' ? tierLimits(this.tiers, this.tier).monthly_budget_usd : undefined;
  }
}

/** Per-process cache (a few seconds): limits are read on every LLM call. */
export class OrgPolicyCache {
  private readonly cache = new Map<string, { at: number; policy: Promise<OrgPolicy> }>();

  constructor(
    private readonly db: Db,
    private readonly config: GateConfig,
    private readonly tiers: Partial<Record<Tier, Partial<TierLimits>>> = {},
    private readonly ttlMs = 5_000,
  ) {}

  get(orgId: string): Promise<OrgPolicy> {
    const hit = this.cache.get(orgId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.policy;
    const policy = withTenant(this.db, orgId, (tx) => loadOrgPolicyRows(tx, orgId)).then((r) => new OrgPolicy(r.tier, r.limits, this.config.defaults, this.tiers));
    policy.catch(() => this.cache.delete(orgId));
    this.cache.set(orgId, { at: Date.now(), policy });
    return policy;
  }

  invalidate(orgId: string): void {
    this.cache.delete(orgId);
  }
}
