import { PREPARE } from '../../db/client.js';
import { sql, type Insertable, type OperationNodeSource, type RawBuilder, type Transaction } from 'kysely';
import type { Database, ReviewsTable } from '../../db/schema.js';
import { eventsInStreamCtes, type NewEvent } from '../events/events.repo.js';
import { commitWithoutWaitingForDisk, REVIEW_COLUMNS_BUT_REPORTS, type ReviewRow } from './reviews.repo.js';

const REVIEW_COLUMNS_BUT_TARGET = [...REVIEW_COLUMNS_BUT_REPORTS.filter((c) => c !== 'target'), 'report_md', 'report_json'] as const;

/**
 * A new review with everything that goes with it, in ONE statement (one round trip instead of
 * four or five): the row, its events, its job (enqueueJobCall), its audit row (auditInsert), and —
 * for a review answered only after a later synchronous commit — an asynchronous commit of this
 * transaction (commitWithoutWaitingForDisk). All of it exists if and only if the transaction
 * commits (house rule 5).
 */
export async function insertReviewWithOutbox(
  tx: Transaction<Database>,
  input: {
    review: Insertable<ReviewsTable> & { id: string };
    /** The review's target as stored (review.target is its JSON). */
    target: ReviewRow['target'];
    events: readonly NewEvent[];
    job: RawBuilder<string>;
    audit: OperationNodeSource;
    commitWithoutWaitingForDisk: boolean;
  },
): Promise<ReviewRow> {
  // The target (a diff can be 256 kB) is not read back: the caller has it.
  const { rows } = await sql<Omit<ReviewRow, 'target'> & { job_id: string | null; async_commit: string | null }>`${sql.raw(PREPARE)}
    with r as (${tx.insertInto('reviews').values(input.review).returning(REVIEW_COLUMNS_BUT_TARGET)}),
         ${eventsInStreamCtes('ev', input.review.id, input.events)},
         a as (${input.audit}),
         j as materialized (select ${input.job} as id)
    select r.*, j.id as job_id,
           ${input.commitWithoutWaitingForDisk ? commitWithoutWaitingForDisk() : sql`null`} as async_commit
      from r, j`.execute(tx);
  const row = rows[0];
  if (!row?.job_id) throw new Error('review insert returned no row or no job id');
  const { job_id: _job, async_commit: _commit, ...review } = row;
  return { ...review, target: input.target };
}
