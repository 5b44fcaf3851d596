import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';

export type BudgetScope = 'org' | 'project' | 'user';

export interface BudgetSubject {
  scope: BudgetScope;
  subjectId: string;
  /** Monthly limit in USD; undefined = no budget at this level (spend is still recorded). */
  limitUsd: number | undefined;
}

export type ReserveOutcome =
  | { kind: 'ok'; reservationId: string }
  | { kind: 'exceeded'; subject: BudgetSubject; spentUsd: number }
  | { kind: 'wait'; subject: BudgetSubject };

/** Serializes reservations and settlements of one org (budgets of all its subjects) for this transaction. */
async function lockOrgBudgets(tx: Transaction<Database>, orgId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'quorum:budget:' + orgId}, 0))`.execute(tx);
}

/**
 * Reserves the worst-case cost of one call against every budget that applies. Spend already
 * recorded plus reservations of calls in flight plus this one must fit each budget:
 * - spent + amount > limit → exceeded (waiting cannot help before the month turns);
 * - spent + reserved + amount > limit → wait: calls in flight usually cost less than reserved.
 */
export async function reserveBudget(
  tx: Transaction<Database>,
  v: { orgId: string; projectId: string | null; userId: string | null; month: string; amountUsd: number; expiresAt: Date; subjects: BudgetSubject[] },
): Promise<ReserveOutcome> {
  await lockOrgBudgets(tx, v.orgId);
  const limited = v.subjects.filter((s) => s.limitUsd !== undefined);
  if (limited.length > 0) {
    const spent = await tx
      .selectFrom('budget_spend')
      .select(['scope', 'subject_id', 'spent_usd'])
      .where('month', '=', v.month)
      .where((eb) => eb.or(limited.map((s) => eb.and([eb('scope', '=', s.scope), eb('subject_id', '=', s.subjectId)]))))
      .execute();
    const reserved = await tx
      .selectFrom('budget_reservations')
      .select([
        sql<string>`coalesce(sum(amount_usd), 0)`.as('org'),
        sql<string>`coalesce(sum(amount_usd) filter (where project_id = ${v.projectId}), 0)`.as('project'),
        sql<string>`coalesce(sum(amount_usd) filter (where user_id = ${v.userId}), 0)`.as('user'),
      ])
      .where('month', '=', v.month)
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirstOrThrow();
    for (const s of limited) {
      const limit = s.limitUsd as number;
      const sp = Number(spent.find((r) => r.scope === s.scope && r.subject_id === s.subjectId)?.spent_usd ?? 0);
      if (sp + v.amountUsd > limit) return { kind: 'exceeded', subject: s, spentUsd: sp };
      if (sp + Number(reserved[s.scope]) + v.amountUsd > limit) return { kind: 'wait', subject: s };
    }
  }
  const row = await tx
    .insertInto('budget_reservations')
    .values({ org_id: v.orgId, project_id: v.projectId, user_id: v.userId, month: v.month, amount_usd: v.amountUsd, expires_at: v.expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { kind: 'ok', reservationId: row.id };
}

export async function releaseReservation(tx: Transaction<Database>, id: string): Promise<void> {
  await tx.deleteFrom('budget_reservations').where('id', '=', id).execute();
}

export interface LedgerEntry {
  orgId: string;
  projectId: string | null;
  userId: string | null;
  apiKeyId: string | null;
  reviewId: string | null;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  costUsd: number;
  latencyMs: number;
  waitMs: number;
  attempts: number;
  outcome: 'ok' | 'error' | 'aborted' | 'rejected';
  errorCode: string | null;
}

export interface BudgetCrossing {
  subject: BudgetSubject;
  spentUsd: number;
}

/**
 * Records one call: the ledger row, its cost added to the month's spend of the org, project and
 * user, and its reservation released — one transaction, so spend and reservations never disagree.
 * Returns the budgets that crossed 90 % with this call (each at most once per month).
 */
export async function settleCall(
  tx: Transaction<Database>,
  v: { entry: LedgerEntry; month: string; reservationId: string | undefined; subjects: BudgetSubject[] },
): Promise<BudgetCrossing[]> {
  const e = v.entry;
  await lockOrgBudgets(tx, e.orgId);
  if (v.reservationId) await releaseReservation(tx, v.reservationId);
  await tx
    .insertInto('usage_ledger')
    .values({
      org_id: e.orgId,
      project_id: e.projectId,
      user_id: e.userId,
      api_key_id: e.apiKeyId,
      review_id: e.reviewId,
      provider: e.provider,
      model: e.model,
      input_tokens: e.inputTokens,
      output_tokens: e.outputTokens,
      cache_creation_tokens: e.cacheCreationTokens,
      cache_read_tokens: e.cacheReadTokens,
      cost_usd: e.costUsd.toFixed(6),
      latency_ms: Math.round(e.latencyMs),
      wait_ms: Math.round(e.waitMs),
      attempts: e.attempts,
      outcome: e.outcome,
      error_code: e.errorCode,
    })
    .execute();
  if (e.costUsd <= 0) return [];
  const crossings: BudgetCrossing[] = [];
  for (const s of v.subjects) {
    const row = await tx
      .insertInto('budget_spend')
      .values({ org_id: e.orgId, scope: s.scope, subject_id: s.subjectId, month: v.month, spent_usd: e.costUsd.toFixed(6) })
      .onConflict((oc) => oc.columns(['org_id', 'scope', 'subject_id', 'month']).doUpdateSet({ spent_usd: sql`budget_spend.spent_usd + excluded.spent_usd` }))
      .returning(['spent_usd', 'warned_at'])
      .executeTakeFirstOrThrow();
    const spent = Number(row.spent_usd);
    if (s.limitUsd !== undefined && row.warned_at === null && spent >= 0.9 * s.limitUsd) {
      await tx
        .updateTable('budget_spend')
        .set({ warned_at: sql`now()` })
        .where('scope', '=', s.scope)
        .where('subject_id', '=', s.subjectId)
        .where('month', '=', v.month)
        .execute();
      crossings.push({ subject: s, spentUsd: spent });
    }
  }
  return crossings;
}

/** Month-to-date spend of the given subjects (for the limits listing). */
export async function monthSpend(tx: Transaction<Database>, month: string): Promise<Array<{ scope: BudgetScope; subjectId: string; spentUsd: number }>> {
  const rows = await tx.selectFrom('budget_spend').select(['scope', 'subject_id', 'spent_usd']).where('month', '=', month).execute();
  return rows.map((r) => ({ scope: r.scope, subjectId: r.subject_id, spentUsd: Number(r.spent_usd) }));
}
