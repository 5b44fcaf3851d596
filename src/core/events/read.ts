import { withTenant, type Db } from '../../db/client.js';
import type { EventOut } from './catalogue.js';
import { eventOut, selectEvents } from './events.repo.js';

export interface ReadEventsQuery {
  /** null: every event of the org (no ordering guarantee across streams; see insertEventInStream). */
  reviewId: string | null;
  /** Exclusive cursor: an event id, '0' for the beginning. */
  afterId: string;
  limit?: number;
}

export const MAX_READ_BATCH = 1000;

/** Events after a cursor, oldest first, read as the tenant (never from a NOTIFY payload). */
export async function readEvents(deps: { db: Db }, orgId: string, q: ReadEventsQuery): Promise<EventOut[]> {
  const limit = Math.min(Math.max(q.limit ?? 500, 1), MAX_READ_BATCH);
  const rows = await withTenant(deps.db, orgId, (tx) => selectEvents(tx, { reviewId: q.reviewId, afterId: q.afterId, limit }));
  return rows.map(eventOut);
}
