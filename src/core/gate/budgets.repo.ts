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
 * Records one call (quorum.gate_settle, one round trip): the ledger row, its cost moved from the
 * reservation it ran under to the month's spend of the org, project and user. Returns the budgets
 * that crossed 90 % with this call. (The buckets' unused reservation is given back separately,
 * before this: see PgBucketStore — quorum.gate_settle's bucket arguments stay empty.)
 */
export async function settleCall(
  tx: Transaction<Database>,
  v: {
    entry: LedgerEntry;
    month: string;
    reservationId: string | undefined;
    subjects: BudgetSubject[];
  },
): Promise<BudgetCrossing[]> {
  const e = v.entry;
  const tokens = [e.inputTokens, e.outputTokens, e.cacheCreationTokens, e.cacheReadTokens];
  const { rows } = await sql<{ scope: BudgetScope; subject_id: string; spent_usd: string; limit_usd: string }>`
    select * from quorum.gate_settle(
      ${v.reservationId ?? null}::uuid, ${e.orgId}::uuid, ${e.projectId}::uuid, ${e.userId}::uuid, ${e.apiKeyId}::uuid, ${e.reviewId}::uuid,
      ${e.provider}, ${e.model}, ${tokens}::int[], ${e.costUsd.toFixed(6)}::numeric, ${Math.round(e.latencyMs)}::int, ${Math.round(e.waitMs)}::int,
      ${e.attempts}::int, ${e.outcome}, ${e.errorCode}, ${v.month}::date,
      ${v.subjects.map((s) => s.scope)}::text[], ${v.subjects.map((s) => s.subjectId)}::uuid[],
      ${v.subjects.map((s) => (s.limitUsd === undefined ? null : s.limitUsd))}::numeric[],
      '{}'::text[], '{}'::float8[], '{}'::float8[])`.execute(tx);
  return rows.map((r) => ({
    subject: v.subjects.find((s) => s.scope === r.scope && s.subjectId === r.subject_id) ?? { scope: r.scope, subjectId: r.subject_id, limitUsd: Number(r.limit_usd) },
    spentUsd: Number(r.spent_usd),
  }));
}

/** Month-to-date spend of the given subjects (for the limits listing). */
export async function monthSpend(tx: Transaction<Database>, month: string): Promise<Array<{ scope: BudgetScope; subjectId: string; spentUsd: number }>> {
  const rows = await tx.selectFrom('budget_spend').select(['scope', 'subject_id', 'spent_usd']).where('month', '=', month).execute();
  return rows.map((r) => ({ scope: r.scope, subjectId: r.subject_id, spentUsd: Number(r.spent_usd) }));
}
