import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { RequestContext } from '../tenancy/actor.js';
import { CURRENT_VERSION, EVENT_CATALOGUE, type EventType, type PayloadOf } from './catalogue.js';
import { insertEventInStream } from './events.repo.js';

/** Who emits: a request (its actor's org and correlation id) or a job acting for an org. */
export type EmitContext = RequestContext | { orgId: string; correlationId?: string | null | undefined };

export interface EmitInput<T extends EventType> {
  type: T;
  payload: PayloadOf<T>;
  projectId?: string | null | undefined;
  /** Required for review-scoped types. */
  reviewId?: string | null | undefined;
}

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

/**
 * Writes one event into the outbox in the caller's transaction (house rule 5): it exists, and its
 * NOTIFY wakes listeners, only if that transaction commits. The payload is validated against the
 * catalogue, so a malformed event fails the producer's transaction instead of reaching clients.
 * Emit late in the transaction: the stream's ordering lock taken here is held until commit.
 */
export async function emitEvent<T extends EventType>(
  tx: Transaction<Database>,
  ctx: EmitContext,
  ev: EmitInput<T>,
): Promise<{ id: string; created_at: Date }> {
  const entry = EVENT_CATALOGUE[ev.type];
  if (!entry) throw new InvalidEventError(`unknown event type ${String(ev.type)}`);
  const version = CURRENT_VERSION[ev.type];
  const parsed = entry.versions[version].safeParse(ev.payload);
  if (!parsed.success) {
    throw new InvalidEventError(`invalid ${ev.type} v${version} payload: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const reviewId = ev.reviewId ?? null;
  if (entry.scope === 'review' && (!reviewId || !ev.projectId)) {
    throw new InvalidEventError(`${ev.type} needs a review id and a project id`);
  }
  const { orgId, correlationId } = 'actor' in ctx ? { orgId: ctx.actor.orgId, correlationId: ctx.correlationId } : ctx;
  return insertEventInStream(tx, reviewId ?? `org:${orgId}`, {
    orgId,
    projectId: ev.projectId ?? null,
    reviewId,
    type: ev.type,
    version,
    payload: parsed.data,
    correlationId: correlationId ?? null,
  });
}
