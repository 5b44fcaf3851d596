import os from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';
import {
  SINGLETON_NAME_RE,
  holdsSingletonLock,
  prepareLockSession,
  singletonApplicationName,
  waitForSingletonLock,
} from '../../core/jobs/singletons.repo.js';

/**
 * Work that must run exactly once across the cluster (the lapsed-worker sweeper, a data directory's
 * worktree sweeper, a budget month roll-over), however many processes offer to run it.
 *
 * Mechanism: a PostgreSQL session-level advisory lock held on a dedicated connection. Chosen over
 * graphile-worker cron or job keys because
 *  - the lapsed-worker sweeper is what recovers jobs of a SIGKILLed worker, so it cannot itself be
 *    a queue job (a job held by the dead worker would wait for the sweeper that waits for it);
 *  - cron has one-minute granularity, sweepers tick every few seconds;
 *  - a session lock dies with its session: a SIGKILLed holder's socket closes and PostgreSQL
 *    grants the lock to the next waiter in its queue at once (no lease to expire, no polling), and
 *    a holder on a vanished machine is dropped by the TCP keepalive/user timeout set on the session;
 *  - PostgreSQL's pg_locks is the truth about who holds what (/health/detailed reads it).
 * The holder re-checks its lock every `pingMs`; when the check fails (database restart, network)
 * the body is aborted and the process queues for the lock again. Bodies must be safe to overlap
 * briefly with a successor's (ours are idempotent, race-safe sweeps): an aborted body may still be
 * finishing its last tick while the next holder starts. Needs a direct connection or a session-mode
 * pooler (PgBouncer in transaction mode would break session locks).
 */

export interface SingletonContext {
  name: string;
  /** Aborted when the lock is lost or the process stops: the body must return soon after. */
  signal: AbortSignal;
  /**
   * True when this process lost its lock connection (database restart, network) before this
   * acquisition. Liveness judged by heartbeats is unreliable right after an outage (nobody could
   * beat), so sweepers wait one lapse first.
   */
  afterOutage: boolean;
  /** Asks PostgreSQL whether this session still holds the lock (periodic() asks before each tick). */
  confirm(): Promise<boolean>;
  logger: Logger;
}

/** Runs while the lock is held; should resolve when `signal` aborts. Throwing releases the lock (and retries after a backoff). */
export type SingletonBody = (ctx: SingletonContext) => Promise<void>;

export interface SingletonSpec {
  /** Lower-case, ≤ 32 characters, no spaces (it travels in application_name). */
  name: string;
  run: SingletonBody;
}

export interface SingletonStatus {
  name: string;
  state: 'connecting' | 'waiting' | 'held' | 'stopped';
  heldSince: string | null;
  acquisitions: number;
}

export interface SingletonOptions {
  /** Connection settings of the lock session (any role: advisory locks need no privilege). */
  connection: pg.ClientConfig;
  logger: Logger;
  /** Holder check period (config.worker.singletonPingMs). */
  pingMs: number;
  /** A waiter re-issues its lock request this often (proves its connection alive). */
  lockWaitMs?: number;
  /** `host:pid` by default. */
  holder?: string;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  onChange?: (s: SingletonStatus) => void;
}

export interface SingletonHandle {
  readonly name: string;
  status(): SingletonStatus;
  /** Aborts the body, waits for it, closes the session (which releases the lock). Idempotent. */
  stop(): Promise<void>;
}

/** Repeats `tick` every `everyMs` while held; the first tick after `firstDelayMs(ctx)` (default: at once). */
export function periodic(everyMs: number, tick: (ctx: SingletonContext) => Promise<void>, o: { firstDelayMs?: (ctx: SingletonContext) => number } = {}): SingletonBody {
  return async (ctx) => {
    let delay = o.firstDelayMs?.(ctx) ?? 0;
    while (!ctx.signal.aborted) {
      if (delay > 0 && !(await sleep(delay, ctx.signal))) return;
      delay = everyMs;
      if (ctx.signal.aborted) return;
      // Narrows the overlap with a successor to a tick already running when the lock was lost (the
      // holder's ping then ends the body).
      if (!(await ctx.confirm())) continue;
      try {
        await tick(ctx);
      } catch (e) {
        ctx.logger.warn({ err: { message: (e as Error).message } }, `singleton ${ctx.name}: tick failed`);
      }
    }
  };
}

export function runSingleton(spec: SingletonSpec, o: SingletonOptions): SingletonHandle {
  if (!SINGLETON_NAME_RE.test(spec.name)) throw new Error(`invalid singleton name ${JSON.stringify(spec.name)}`);
  const name = spec.name;
  const holder = o.holder ?? `${os.hostname()}:${process.pid}`;
  const log = o.logger.child({ singleton: name });
  const lockWaitMs = o.lockWaitMs ?? 15_000;
  const backoffMin = o.backoffMinMs ?? 100;
  const backoffMax = o.backoffMaxMs ?? 5_000;
  const stopper = new AbortController();
  let state: SingletonStatus['state'] = 'connecting';
  let heldSince: Date | null = null;
  let acquisitions = 0;
  let client: pg.Client | undefined;
  const stopped = new Promise<void>((r) => stopper.signal.addEventListener('abort', () => r(), { once: true }));

  const status = (): SingletonStatus => ({ name, state, heldSince: heldSince?.toISOString() ?? null, acquisitions });
  const setState = (s: SingletonStatus['state']) => {
    if (s === state) return;
    state = s;
    heldSince = s === 'held' ? new Date() : null;
    o.onChange?.(status());
  };

  /** One session: connect, queue for the lock, run the body while the lock holds. Resolves when the session is over. */
  const session = async (afterOutage: boolean): Promise<{ lost: boolean }> => {
    setState('connecting');
    const c = new pg.Client({
      ...o.connection,
      application_name: singletonApplicationName(name, holder),
      keepAlive: true,
      statement_timeout: undefined,
      // A waiter's lock request returns within lockWaitMs; anything much slower is a dead socket.
      query_timeout: lockWaitMs + 15_000,
    });
    client = c;
    let onLost!: (e: Error) => void;
    const lostP = new Promise<Error>((r) => (onLost = r));
    c.on('error', (e) => onLost(e));
    c.on('end', () => onLost(new Error('lock connection ended')));
    // A stop ends a session still connecting or queueing at once. A held one is ended only after
    // its body has returned (the `stopped` branch below): ending it here would hand the lock to a
    // waiter while a tick still runs — two bodies at once.
    const onStop = () => {
      if (state !== 'held') void c.end().catch(() => {});
    };
    stopper.signal.addEventListener('abort', onStop, { once: true });
    try {
      // Raced with the session's end: pg never settles connect() when end() is called while it
      // connects (stop() right after start), and the stop would wait forever.
      const connecting = c.connect();
      connecting.catch(() => {});
      await Promise.race([connecting, lostP.then((e) => Promise.reject(e))]);
      await prepareLockSession(c, { lockWaitMs });
      setState('waiting');
      while (!(await waitForSingletonLock(c, name))) {
        if (stopper.signal.aborted) return { lost: false };
      }
      if (stopper.signal.aborted) return { lost: false };
      acquisitions++;
      setState('held');
      log.info({ holder, after_outage: afterOutage }, `singleton ${name} acquired`);

      const body = new AbortController();
      const bodyDone = spec
        .run({ name, signal: body.signal, afterOutage, logger: log, confirm: () => holdsSingletonLock(c, name).catch(() => false) })
        .then(() => undefined, (e: unknown) => e as Error);
      const pinger = (async (): Promise<Error | undefined> => {
        while (!body.signal.aborted) {
          if (!(await sleep(o.pingMs, body.signal))) return undefined;
          try {
            if (!(await holdsSingletonLock(c, name))) return new Error('the lock is no longer held by this session');
          } catch (e) {
            return e as Error;
          }
        }
        return undefined;
      })();
      const why = await Promise.race([
        lostP.then((e) => ({ kind: 'lost' as const, e })),
        pinger.then((e) => (e ? { kind: 'lost' as const, e } : { kind: 'stopped' as const, e: undefined })),
        bodyDone.then((e) => ({ kind: 'body' as const, e })),
        stopped.then(() => ({ kind: 'stopped' as const, e: undefined })),
      ]);
      body.abort();
      await bodyDone;
      await pinger;
      if (why.kind === 'lost' && !stopper.signal.aborted) {
        log.warn({ err: { message: why.e.message } }, `singleton ${name} lost its lock connection; queueing again`);
        return { lost: true };
      }
      if (why.kind === 'body' && !stopper.signal.aborted) {
        log.warn({ err: why.e ? { message: why.e.message } : undefined }, `singleton ${name} body ended; releasing the lock`);
      }
      return { lost: false };
    } catch (e) {
      if (stopper.signal.aborted) return { lost: false };
      log.warn({ err: { message: (e as Error).message } }, `singleton ${name}: lock session failed; retrying`);
      return { lost: true };
    } finally {
      stopper.signal.removeEventListener('abort', onStop);
      client = undefined;
      // Ending the session releases the lock (or leaves the wait queue).
      await c.end().catch(() => {});
    }
  };

  const loop = (async () => {
    let attempt = 0;
    let afterOutage = false;
    while (!stopper.signal.aborted) {
      const before = acquisitions;
      const r = await session(afterOutage);
      if (stopper.signal.aborted) break;
      if (r.lost) afterOutage = true;
      if (acquisitions > before && !r.lost) afterOutage = false;
      attempt = acquisitions > before ? 0 : attempt + 1;
      const base = Math.min(backoffMax, backoffMin * 2 ** attempt);
      await sleep(base / 2 + Math.random() * (base / 2), stopper.signal);
    }
    setState('stopped');
  })();

  return {
    name,
    status,
    stop: async () => {
      stopper.abort();
      if (state !== 'held') void client?.end().catch(() => {});
      await loop;
    },
  };
}

/** Resolves true after `ms`, false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
