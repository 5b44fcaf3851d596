import type { Tier } from './actor.js';

/** Per-tier defaults. The gate and project creation read these; /v1/auth/me reports them. */
export interface TierLimits {
  max_projects: number;
  max_concurrent_reviews: number;
  monthly_budget_usd: number;
}

export const TIER_LIMITS: Readonly<Record<Tier, Readonly<TierLimits>>> = {
  free: { max_projects: 3, max_concurrent_reviews: 10, monthly_budget_usd: 10 },
  pro: { max_projects: 50, max_concurrent_reviews: 50, monthly_budget_usd: 500 },
  enterprise: { max_projects: 1000, max_concurrent_reviews: 200, monthly_budget_usd: 10_000 },
};

/** A tier's limits with the server's overrides (QUORUM_TIER_LIMITS) applied. */
export function tierLimits(overrides: Partial<Record<Tier, Partial<TierLimits>>> | undefined, tier: Tier): TierLimits {
  return { ...TIER_LIMITS[tier], ...overrides?.[tier] };
}

export function quotaFor(tier: Tier, overrides?: Partial<Record<Tier, Partial<TierLimits>>>): { tier: Tier } & TierLimits {
  return { tier, ...tierLimits(overrides, tier) };
}
