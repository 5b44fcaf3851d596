import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { CURRENT_VERSION, EVENT_CATALOGUE, type EventType, type PayloadOf } from '../events/catalogue.js';
import { emitEvent, InvalidEventError } from '../events/emit.js';
import { insertEventsInStream, type NewEvent } from '../events/events.repo.js';

/** Emits an event of one review in the caller's transaction. */
export function emitReviewEvent<T extends EventType>(
  tx: Transaction<Database>,
  review: { org_id: string; project_id: string; id: string },
  correlationId: string | null | undefined,
  type: T,
  payload: PayloadOf<T>,
) {
  return emitEvent(tx, { orgId: review.org_id, correlationId: correlationId ?? null }, { type, payload, projectId: review.project_id, reviewId: review.id });
}

export type ReviewEvent = { [T in EventType]: { type: T; payload: PayloadOf<T> } }[EventType];

/**
 * Emits several events of one review in one statement, in order, validated like emitEvent. Emit
 * late in the transaction: the stream's ordering lock is held until commit.
 */
export async function emitReviewEvents(
  tx: Transaction<Database>,
  review: { org_id: string; project_id: string; id: string },
  correlationId: string | null | undefined,
  events: readonly ReviewEvent[],
): Promise<void> {
  await insertEventsInStream(tx, review.id, reviewEventRows(review, correlationId, events));
}

/**
 * Events of one review as outbox rows, validated against the catalogue (a malformed event fails
 * its producer, not a client), for a statement that writes them along with other rows
 * (eventsInStreamCtes; the stream key is the review id).
 */
export function reviewEventRows(
  review: { org_id: string; project_id: string; id: string },
  correlationId: string | null | undefined,
  events: readonly ReviewEvent[],
): NewEvent[] {
  return events.map((ev) => {
    const version = CURRENT_VERSION[ev.type];
    const parsed = EVENT_CATALOGUE[ev.type].versions[version].safeParse(ev.payload);
    if (!parsed.success) throw new InvalidEventError(`invalid ${ev.type} v${version} payload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    return { orgId: review.org_id, projectId: review.project_id, reviewId: review.id, type: ev.type, version, payload: parsed.data, correlationId: correlationId ?? null };
  });
}
