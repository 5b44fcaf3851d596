import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { EventType, PayloadOf } from '../events/catalogue.js';
import { emitEvent } from '../events/emit.js';

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
