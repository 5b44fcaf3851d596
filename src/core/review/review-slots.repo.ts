import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { Tier } from '../tenancy/actor.js';

/**
 * Running reviews of the org other than `reviewId`, counted under a per-org transaction lock so
 * that two workers claiming at once cannot both take the last slot.
 */
export async function runningReviewsExcept(tx: Transaction<Database>, orgId: string, reviewId: string): Promise<{ running: number; tier: Tier }> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'quorum:review-slots:' + orgId}, 0))`.execute(tx);
  // A statement of its own after the lock's: its snapshot includes what the last holder committed.
  const { rows } = await sql<{ tier: Tier | null; n: string }>`
    select (select tier from orgs where id = ${orgId}) as tier,
           (select count(*) from reviews where status = 'running' and id <> ${reviewId}) as n`.execute(tx);
  return { running: Number(rows[0]!.n), tier: rows[0]!.tier ?? 'free' };
}

/** Records that a review waits for a slot until `at` (its job's run_at). */
export async function markWaitingForSlot(tx: Transaction<Database>, reviewId: string, at: Date | null): Promise<void> {
  await tx.updateTable('reviews').set({ slot_retry_at: at }).where('id', '=', reviewId).execute();
}

/** Whether any review of the org (RLS) waits for a slot. */
export async function anyWaitingReview(tx: Transaction<Database>): Promise<boolean> {
  const r = await tx.selectFrom('reviews').select('id').where('status', '=', 'queued').where('slot_retry_at', 'is not', null).limit(1).executeTakeFirst();
  return r !== undefined;
}

/**
 * The oldest reviews waiting for a slot whose retry is more than a second away — their job is not
 * due, so no worker can be holding it and it can be moved in place — locked and taken off the
 * waiting list.
 */
export async function takeWaitingReviews(tx: Transaction<Database>, limit: number): Promise<Array<{ id: string; org_id: string; priority: 'low' | 'normal' | 'high'; correlation_id: string | null }>> {
  if (limit <= 0) return [];
  const rows = await tx
    .selectFrom('reviews')
    .select(['id', 'org_id', 'priority', 'correlation_id'])
    .where('status', '=', 'queued')
    .where('slot_retry_at', '>', sql<Date>`now() + interval '1 second'`)
    .orderBy('created_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
  if (rows.length) await tx.updateTable('reviews').set({ slot_retry_at: null }).where('id', 'in', rows.map((r) => r.id)).execute();
  return rows;
}
