import type { Logger } from 'pino';
import type { Db } from '../../db/client.js';
import type { EventOut } from './catalogue.js';
import { followEvents, type WakeSource } from './follow.js';

/**
 * Resolves with the first event of the review (from its beginning) that satisfies the predicate,
 * or null after timeoutMs / on abort. Reads the table first, then again on each wake-up; the only
 * polling is a slow safety re-read (recheckMs) in case a wake-up was lost.
 */
export async function waitForEvent(
  deps: { db: Db; logger: Logger; events: WakeSource },
  orgId: string,
  reviewId: string,
  predicate: (e: EventOut) => boolean,
  timeoutMs: number,
  opts: { signal?: AbortSignal | undefined; recheckMs?: number | undefined } = {},
): Promise<EventOut | null> {
  let found: EventOut | null = null;
  const f = followEvents(deps, deps.events, { orgId, reviewId, afterId: '0', recheckMs: opts.recheckMs ?? 2_000 }, (events) => {
    found = events.find(predicate) ?? null;
    return found ? 'stop' : undefined;
  });
  const timer = setTimeout(() => f.stop(), timeoutMs);
  const onAbort = () => f.stop();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) f.stop();
  await f.done;
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  return found;
}
