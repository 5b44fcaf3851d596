import { sql, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { Database, EventsTable } from '../../db/schema.js';
import type { EventOut } from './catalogue.js';

export type EventRow = Selectable<EventsTable>;

/** Namespace of our advisory locks that order a stream's events (first key of the two-int form). */
const STREAM_LOCK_NS = 0x51564e54; // 'QVNT'

export interface NewEvent {
  orgId: string;
  projectId: string | null;
  reviewId: string | null;
  type: string;
  version: number;
  payload: unknown;
  correlationId: string | null;
}

/**
 * Inserts one event after taking its stream's lock (a review, or an org's review-less events),
 * held until commit. Identity ids are handed out at INSERT, not at COMMIT: without the lock two
 * concurrent transactions could commit ids 11 then 10, and a reader whose cursor already passed
 * 11 would never see 10. With it, ids of one stream become visible in increasing order. The lock
 * and the insert travel in one statement (the materialized CTE runs before the id is drawn).
 */
export async function insertEventInStream(tx: Transaction<Database>, streamKey: string, e: NewEvent): Promise<{ id: string; created_at: Date }> {
  const { rows } = await sql<{ id: string; created_at: Date }>`
    with stream_lock as materialized (select pg_advisory_xact_lock(${STREAM_LOCK_NS}::int, hashtext(${streamKey}::text)) as locked)
    insert into events (org_id, project_id, review_id, type, version, payload, correlation_id)
    select ${e.orgId}::uuid, ${e.projectId}::uuid, ${e.reviewId}::uuid, ${e.type}::text, ${e.version}::int, ${JSON.stringify(e.payload)}::jsonb, ${e.correlationId}::text
      from stream_lock
    returning id, created_at`.execute(tx);
  return rows[0]!;
}

/**
 * Several events of one stream in one statement (a review's burst: its reviewers starting or
 * completing together), under the same lock as insertEventInStream; ids follow the array order.
 */
export async function insertEventsInStream(tx: Transaction<Database>, streamKey: string, es: readonly NewEvent[]): Promise<void> {
  if (es.length === 0) return;
  await sql`with ${eventsInStreamCtes('ev', streamKey, es)} select 1`.execute(tx);
}

/**
 * insertEventsInStream as two CTEs (`<name>_lock`, then `<name>`) of a larger statement, so that a
 * write and its events travel in one round trip (house rule 5 holds: one statement, one
 * transaction). Data-modifying CTEs run whether or not the statement reads them. With `onlyIf`
 * (the name of an earlier CTE of the statement), neither the lock nor the events are taken unless
 * that CTE returns a row. `es` must not be empty.
 */
export function eventsInStreamCtes(name: string, streamKey: string, es: readonly NewEvent[], opts: { onlyIf?: string } = {}): RawBuilder<unknown> {
  if (es.length === 0) throw new Error('eventsInStreamCtes: no events');
  const lock = sql.id(`${name}_lock`);
  return sql`${lock} as materialized (
      select pg_advisory_xact_lock(${STREAM_LOCK_NS}::int, hashtext(${streamKey}::text)) as locked${opts.onlyIf ? sql` from ${sql.id(opts.onlyIf)}` : sql``}
    ), ${sql.id(name)} as (
      insert into events (org_id, project_id, review_id, type, version, payload, correlation_id)
      select e.org_id, e.project_id, e.review_id, e.type, e.version, e.payload, e.correlation_id
        from ${lock},
             unnest(${es.map((e) => e.orgId)}::uuid[], ${es.map((e) => e.projectId)}::uuid[], ${es.map((e) => e.reviewId)}::uuid[],
                    ${es.map((e) => e.type)}::text[], ${es.map((e) => e.version)}::int[], ${es.map((e) => JSON.stringify(e.payload))}::jsonb[],
                    ${es.map((e) => e.correlationId)}::text[])
               with ordinality as e(org_id, project_id, review_id, type, version, payload, correlation_id, ord)
       order by e.ord
      returning id)`;
}

/** Events after a cursor, oldest first; RLS scopes them to the transaction's org. */
export async function selectEvents(
  tx: Transaction<Database>,
  q: { reviewId: string | null; afterId: string; limit: number },
): Promise<EventRow[]> {
  let query = tx.selectFrom('events').selectAll().where('id', '>', q.afterId).orderBy('id').limit(q.limit);
  if (q.reviewId) query = query.where('review_id', '=', q.reviewId);
  return query.execute();
}

/** The review's project, or undefined when it does not exist in this org (RLS). */
export async function findReviewScope(tx: Transaction<Database>, reviewId: string): Promise<{ id: string; project_id: string } | undefined> {
  return tx.selectFrom('reviews').select(['id', 'project_id']).where('id', '=', reviewId).executeTakeFirst();
}

export function eventOut(r: EventRow): EventOut {
  return {
    id: String(r.id),
    type: r.type,
    version: r.version,
    org_id: r.org_id,
    project_id: r.project_id,
    review_id: r.review_id,
    correlation_id: r.correlation_id,
    created_at: r.created_at.toISOString(),
    payload: r.payload,
  };
}
