import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import { isUuid, type Db } from '../../db/client.js';
import type { EventOut } from './catalogue.js';
import type { WakeSource } from './follow.js';
import { waitForEvent } from './wait-for.js';

export const EVENTS_CHANNEL = 'quorum_events';

export interface EventHubOptions {
  /** Runtime (RLS-bound) database: subscribers and waitFor read rows through it, in their tenant. */
  db: Db;
  logger: Logger;
  /** SET ROLE on the LISTEN connection (LISTEN needs no table privilege; keeps it off the owner role). */
  role?: string | undefined;
  applicationName?: string;
  /** Round trip on the LISTEN connection to detect a half-open socket (no NOTIFY ever arrives on one). */
  pingMs?: number;
  pingTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

type Wake = () => void;

/**
 * One per process, built by the composition root (never a module singleton): holds ONE dedicated
 * connection doing LISTEN quorum_events and turns notifications into wake-ups for subscribers keyed
 * by (org, review). Notifications carry no data a subscriber trusts: it re-reads `id > last seen`
 * through RLS. When the connection drops it reconnects with backoff and then wakes every subscriber,
 * which is how events committed while nobody was listening are still delivered, without a gap.
 *
 * Emits 'connected' (backend pid) and 'disconnected' (error).
 */
export class EventHub extends EventEmitter implements WakeSource {
  private readonly subs = new Map<string, Set<Wake>>();
  private client: pg.Client | undefined;
  private clientConfig: pg.ClientConfig | undefined;
  private generation = 0;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pid: number | null = null;
  private readonly o: Required<Omit<EventHubOptions, 'role'>> & { role?: string | undefined };

  constructor(opts: EventHubOptions) {
    super();
    this.o = { applicationName: 'quorum-events', pingMs: 10_000, pingTimeoutMs: 5_000, backoffMinMs: 50, backoffMaxMs: 5_000, ...opts };
  }

  /** Connects and LISTENs (throws if the first attempt fails: a boot-time misconfiguration); later drops reconnect forever. */
  async start(source: pg.ClientConfig | string): Promise<void> {
    if (!this.stopped) return;
    // A connection config, not a pool: a copy of pool.options loses the password (pg keeps it non-enumerable).
    const base: pg.ClientConfig = typeof source === 'string' ? { connectionString: source } : { ...source };
    // A dedicated client, not a pool checkout: it lives forever and must not shrink the pool.
    this.clientConfig = { ...base, application_name: this.o.applicationName, keepAlive: true, statement_timeout: undefined };
    this.stopped = false;
    try {
      await this.connect();
    } catch (e) {
      this.stopped = true;
      clearTimeout(this.reconnectTimer);
      throw e;
    }
    this.pingTimer = setInterval(() => void this.ping(), this.o.pingMs);
    this.pingTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    this.generation++;
    const c = this.client;
    this.client = undefined;
    this.pid = null;
    await c?.end().catch(() => {});
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** PostgreSQL backend pid of the LISTEN connection (operations and tests). */
  get backendPid(): number | null {
    return this.pid;
  }

  /** reviewId null: every event of the org. Returns the unsubscribe function. */
  subscribe(orgId: string, reviewId: string | null, wake: Wake): () => void {
    const key = `${orgId}:${reviewId ?? '*'}`;
    let set = this.subs.get(key);
    if (!set) this.subs.set(key, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.subs.get(key) === set) this.subs.delete(key);
    };
  }

  get subscriberCount(): number {
    let n = 0;
    for (const s of this.subs.values()) n += s.size;
    return n;
  }

  /** See waitForEvent: the sync review endpoint waits on this. */
  waitFor(
    orgId: string,
    reviewId: string,
    predicate: (e: EventOut) => boolean,
    timeoutMs: number,
    opts: { signal?: AbortSignal; recheckMs?: number } = {},
  ): Promise<EventOut | null> {
    return waitForEvent({ db: this.o.db, logger: this.o.logger, events: this }, orgId, reviewId, predicate, timeoutMs, opts);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    const client = new pg.Client(this.clientConfig);
    // Registered before connect: an error on an idle LISTEN connection must never crash the process.
    client.on('error', (e) => this.lost(gen, client, e));
    client.on('end', () => this.lost(gen, client, new Error('connection ended')));
    client.on('notification', (m) => {
      if (gen === this.generation && m.channel === EVENTS_CHANNEL) this.dispatch(m.payload);
    });
    try {
      await client.connect();
      if (this.o.role) await client.query(`SET ROLE ${pg.escapeIdentifier(this.o.role)}`);
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (e) {
      client.end().catch(() => {});
      throw e;
    }
    if (gen !== this.generation || this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.pid = (client as unknown as { processID: number | null }).processID ?? null;
    this.attempt = 0;
    this.o.logger.debug({ pid: this.pid }, 'event listener connected');
    this.emit('connected', this.pid);
    // Whatever was committed while nobody listened is read now, from each subscriber's cursor.
    this.wakeAll();
  }

  private lost(gen: number, client: pg.Client, err: Error): void {
    // Only the established connection counts; failures while connecting are the caller's to retry.
    if (gen !== this.generation || this.stopped || this.client !== client) return;
    this.generation++;
    this.client = undefined;
    this.pid = null;
    client.end().catch(() => {});
    this.o.logger.warn({ err: err.message }, 'event listener connection lost; reconnecting');
    this.emit('disconnected', err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const base = Math.min(this.o.backoffMaxMs, this.o.backoffMinMs * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((e: Error) => {
        this.o.logger.warn({ err: e.message, attempt: this.attempt }, 'event listener reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  private async ping(): Promise<void> {
    const c = this.client;
    if (!c) return;
    const gen = this.generation;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('listener ping timed out')), this.o.pingTimeoutMs)));
    try {
      await Promise.race([c.query('select 1'), timeout]);
    } catch (e) {
      this.lost(gen, c, e as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  private dispatch(raw: string | undefined): void {
    let msg: { org_id?: unknown; review_id?: unknown };
    try {
      msg = JSON.parse(raw ?? '') as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.org_id !== 'string' || !isUuid(msg.org_id)) return;
    const review = typeof msg.review_id === 'string' ? msg.review_id : null;
    if (review) this.wakeKey(`${msg.org_id}:${review}`);
    this.wakeKey(`${msg.org_id}:*`);
  }

  private wakeKey(key: string): void {
    const set = this.subs.get(key);
    if (set) for (const w of [...set]) w();
  }

  private wakeAll(): void {
    for (const set of [...this.subs.values()]) for (const w of [...set]) w();
  }
}
