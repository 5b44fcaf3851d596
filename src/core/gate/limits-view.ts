import type { LimitRow } from './gate-policy.repo.js';
import type { LimitOut } from './usage.schemas.js';

/** A limit row as the API shows it, with its subject's month-to-date spend. */
export function limitOut(r: LimitRow, spent: Array<{ scope: string; subjectId: string; spentUsd: number }>): LimitOut {
  const s = r.scope === 'key' ? undefined : spent.find((x) => x.scope === r.scope && x.subjectId === r.subjectId);
  return {
    id: r.id,
    scope: r.scope,
    subject_id: r.subjectId,
    monthly_budget_usd: r.monthlyBudgetUsd,
    rpm: r.rpm,
    tpm: r.tpm,
    spent_this_month_usd: r.scope === 'key' ? null : Math.round((s?.spentUsd ?? 0) * 1e6) / 1e6,
    updated_at: r.updatedAt.toISOString(),
  };
}

export function monthKey(d: Date): string {
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-01`;
}
