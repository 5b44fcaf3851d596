import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import type { Database, LimitScope } from '../../db/schema.js';
import type { Tier } from '../tenancy/actor.js';

export interface LimitRow {
  id: string;
  scope: LimitScope;
  subjectId: string;
  monthlyBudgetUsd: number | null;
  rpm: number | null;
  tpm: number | null;
  updatedAt: Date;
}

export interface OrgPolicyRows {
  tier: Tier;
  limits: LimitRow[];
}

function toLimit(r: { id: string; scope: LimitScope; subject_id: string; monthly_budget_usd: string | null; rpm: number | null; tpm: number | null; updated_at: Date }): LimitRow {
  return {
    id: r.id,
    scope: r.scope,
    subjectId: r.subject_id,
    monthlyBudgetUsd: r.monthly_budget_usd === null ? null : Number(r.monthly_budget_usd),
    rpm: r.rpm,
    tpm: r.tpm,
    updatedAt: r.updated_at,
  };
}

/** The org's tier and every limit row it has (one org's rows: a handful to a few hundred). */
export async function loadOrgPolicyRows(tx: Transaction<Database>, orgId: string): Promise<OrgPolicyRows> {
  const org = await tx.selectFrom('orgs').select('tier').where('id', '=', orgId).executeTakeFirst();
  const rows = await tx.selectFrom('gate_limits').selectAll().execute();
  return { tier: org?.tier ?? 'free', limits: rows.map(toLimit) };
}

export async function listLimits(tx: Transaction<Database>): Promise<LimitRow[]> {
  const rows = await tx.selectFrom('gate_limits').selectAll().orderBy('scope').orderBy('subject_id').execute();
  return rows.map(toLimit);
}

export async function upsertLimit(
  tx: Transaction<Database>,
  orgId: string,
  v: { scope: LimitScope; subjectId: string; monthlyBudgetUsd: number | null; rpm: number | null; tpm: number | null },
): Promise<LimitRow> {
  const row = await tx
    .insertInto('gate_limits')
    .values({ org_id: orgId, scope: v.scope, subject_id: v.subjectId, monthly_budget_usd: v.monthlyBudgetUsd, rpm: v.rpm, tpm: v.tpm })
    .onConflict((oc) =>
      oc.columns(['org_id', 'scope', 'subject_id']).doUpdateSet({ monthly_budget_usd: v.monthlyBudgetUsd, rpm: v.rpm, tpm: v.tpm, updated_at: sql`now()` }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return toLimit(row);
}

export async function deleteLimit(tx: Transaction<Database>, id: string): Promise<LimitRow | undefined> {
  const row = await tx.deleteFrom('gate_limits').where('id', '=', id).returningAll().executeTakeFirst();
  return row ? toLimit(row) : undefined;
}
