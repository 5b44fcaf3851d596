import type { Logger } from 'pino';
import type { Db } from '../../db/client.js';
import { TERMINAL_EVENT_TYPES, type EventOut } from './catalogue.js';
import { readEvents } from './read.js';

/** Where wake-ups come from (the EventHub): a hint that the stream may have new rows, never data. */
export interface WakeSource {
  subscribe(orgId: string, reviewId: string | null, wake: () => void): () => void;
}

export type FollowEnd = 'terminal' | 'stopped' | 'sink_error';

export interface FollowOptions {
  orgId: string;
  reviewId: string | null;
  /** Exclusive cursor to start after ('0' = from the beginning: replay). */
  afterId: string;
  /** End after delivering the review's terminal event (and nothing after it). */
  untilTerminal?: boolean;
  /** Safety re-read period: wake-ups carry the latency, this only bounds a lost one. */
  recheckMs?: number;
  batch?: number;
}

/** Receives events in id order, each exactly once; may be async (backpressure). Return 'stop' to end. */
export type EventSink = (events: EventOut[]) => void | 'stop' | Promise<void | 'stop'>;

export interface Follower {
  readonly done: Promise<FollowEnd>;
  lastId(): string;
  /** Re-read now (the heartbeat of a stream uses it as its safety net). */
  wake(): void;
  stop(): void;
}

const READ_RETRY_MS = 1000;

/**
 * Follows one stream: subscribe first, then read from the cursor, so an event committed between the
 * two is read rather than missed. Every wake-up (NOTIFY, listener reconnect, safety timer) triggers a
 * re-read of `id > cursor`; wake-ups arriving during a read coalesce into one more read, so a burst
 * of 1000 notifications costs a handful of queries.
 */
export function followEvents(deps: { db: Db; logger: Logger }, hub: WakeSource, o: FollowOptions, sink: EventSink): Follower {
  const batch = o.batch ?? 500;
  let cursor = o.afterId;
  let reading = false;
  let dirty = false;
  let ended = false;
  let retry: NodeJS.Timeout | undefined;
  let resolveDone!: (r: FollowEnd) => void;
  const done = new Promise<FollowEnd>((r) => (resolveDone = r));

  const end = (why: FollowEnd) => {
    if (ended) return;
    ended = true;
    unsubscribe();
    clearInterval(recheck);
    clearTimeout(retry);
    resolveDone(why);
  };

  const pump = async (): Promise<void> => {
    if (ended) return;
    if (reading) {
      dirty = true;
      return;
    }
    reading = true;
    try {
      do {
        dirty = false;
        for (;;) {
          const events = await readEvents(deps, o.orgId, { reviewId: o.reviewId, afterId: cursor, limit: batch });
          if (ended || events.length === 0) break;
          const t = o.untilTerminal ? events.findIndex((e) => TERMINAL_EVENT_TYPES.has(e.type)) : -1;
          const deliver = t >= 0 ? events.slice(0, t + 1) : events;
          cursor = deliver[deliver.length - 1]!.id;
          let r: void | 'stop';
          try {
            r = await sink(deliver);
          } catch (e) {
            deps.logger.debug({ err: e }, 'event sink failed; stream ends');
            end('sink_error');
            return;
          }
          if (t >= 0) return end('terminal');
          if (r === 'stop') return end('stopped');
          if (events.length < batch) break;
        }
      } while (dirty && !ended);
    } catch (e) {
      // The database is unreachable or busy: keep the cursor and try again shortly.
      deps.logger.warn({ err: e, review_id: o.reviewId }, 'reading events failed; retrying');
      clearTimeout(retry);
      retry = setTimeout(() => void pump(), READ_RETRY_MS);
      retry.unref();
    } finally {
      reading = false;
    }
  };

  const wake = () => void pump();
  const unsubscribe = hub.subscribe(o.orgId, o.reviewId, wake);
  const recheck = setInterval(wake, o.recheckMs ?? 15_000);
  recheck.unref();
  void pump();

  return { done, lastId: () => cursor, wake, stop: () => end('stopped') };
}
