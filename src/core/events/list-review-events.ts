import type { CoreDeps } from '../deps.js';
import type { Actor } from '../tenancy/actor.js';
import { authorizeReviewEvents } from './authorize-review-events.js';
import type { EventListOut } from './catalogue.js';
import { readEvents } from './read.js';

/** The JSON (non-streaming) view of a review's events after a cursor: for CLIs, scripts and tests. */
export async function listReviewEvents(
  deps: Pick<CoreDeps, 'db'>,
  actor: Actor,
  reviewId: string,
  q: { after: string; limit: number },
): Promise<EventListOut> {
  const s = await authorizeReviewEvents(deps, actor, reviewId);
  const rows = await readEvents(deps, s.orgId, { reviewId: s.reviewId, afterId: q.after, limit: q.limit + 1 });
  const items = rows.slice(0, q.limit);
  return { items, last_id: items.at(-1)?.id ?? null, has_more: rows.length > q.limit };
}
