import type { WorkerEventMap, WorkerEvents } from 'graphile-worker';

/** Rejects when `p` has not settled within `ms` (no test waits unboundedly). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The first `name` event matching `match`, within `ms`. Attach before causing the event. */
export function nextEvent<K extends keyof WorkerEventMap>(
  events: WorkerEvents,
  name: K,
  match: (e: WorkerEventMap[K]) => boolean,
  ms = 15_000,
): Promise<WorkerEventMap[K]> {
  let listener: ((e: WorkerEventMap[K]) => void) | undefined;
  const p = new Promise<WorkerEventMap[K]>((resolve) => {
    listener = (e) => {
      if (match(e)) resolve(e);
    };
    events.on(name, listener);
  });
  return within(p, ms, `${name}`).finally(() => events.off(name, listener!));
}

/** Polls a condition (a database state, not a clock) every 20 ms until it yields a value, within `ms`. */
export async function until<T>(probe: () => Promise<T | undefined | null | false>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
