import type pg from 'pg';

export type DbFault = 'database_unavailable' | 'database_timeout';

/** Connection-class failures: the server is down, restarting, refusing, or the network failed. */
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown (server stopping, or our backend terminated)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down / in recovery)
  '08000', '08001', '08003', '08004', '08006', '08007', '08P01',
  '53300', // too_many_connections
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
]);
// node-postgres's own messages (no code): failed connect, dropped socket, a client it gave up on.
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|is not queryable|terminating connection due to|the database system is (?:starting up|shutting down|in recovery mode)/i;

/**
 * Whether an error means "the database is not there right now" (→ 503 database_unavailable) or
 * "it cancelled a statement that ran too long" (statement_timeout → 503 database_timeout), as
 * opposed to a bug or a bad value. Looks through `cause` chains (Kysely and our own wrappers).
 */
export function classifyDbFault(err: unknown): DbFault | null {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = String((e as { message?: unknown }).message ?? '');
    // The server cancelled a statement that ran past statement_timeout: slow, but there.
    if (code === '57014') return 'database_timeout';
    // No byte back within statement_timeout + 5 s: the server or the network is gone.
    if (/Query read timeout/i.test(message)) return 'database_unavailable';
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return 'database_unavailable';
    // A Unix socket that is not there: the server is stopped (it removes its socket), or not up yet.
    if (code === 'ENOENT' && (e as { syscall?: unknown }).syscall === 'connect') return 'database_unavailable';
    if (UNAVAILABLE_MESSAGES.test(message)) return 'database_unavailable';
  }
  return null;
}

export interface DbAvailabilityOptions {
  /** How often a probe re-checks the database while it is marked down. */
  probeMs?: number;
  /** Bound on one probe. */
  probeTimeoutMs?: number;
  onChange?: (up: boolean) => void;
}

/**
 * A circuit breaker on one pool. A connection-class failure marks the database down; while it is
 * down, callers can answer 503 at once instead of each waiting out the connect timeout, and a
 * single probe (`select 1`) re-checks it every probeMs; the first success closes the breaker.
 * Timeouts (database_timeout) do not open it: a slow query is not an unreachable server.
 */
export class DbAvailability {
  private downSince: number | null = null;
  private probing: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly probeMs: number;
  private readonly probeTimeoutMs: number;

  constructor(
    private readonly pool: Pick<pg.Pool, 'query'>,
    private readonly o: DbAvailabilityOptions = {},
  ) {
    this.probeMs = o.probeMs ?? 500;
    this.probeTimeoutMs = o.probeTimeoutMs ?? 2_000;
  }

  get up(): boolean {
    return this.downSince === null;
  }

  /** Milliseconds the database has been marked down (0 when up). */
  downForMs(): number {
    return this.downSince === null ? 0 : Date.now() - this.downSince;
  }

  /** Reports an error seen by a caller; returns its classification. */
  report(err: unknown): DbFault | null {
    const fault = classifyDbFault(err);
    if (fault === 'database_unavailable') this.markDown();
    return fault;
  }

  markDown(): void {
    if (this.closed || this.downSince !== null) return;
    this.downSince = Date.now();
    this.o.onChange?.(false);
    this.scheduleProbe();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.probing);
  }

  private scheduleProbe(): void {
    clearTimeout(this.probing);
    this.probing = setTimeout(() => void this.probe(), this.probeMs);
    this.probing.unref();
  }

  private async probe(): Promise<void> {
    if (this.closed || this.downSince === null) return;
    let t: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.pool.query('select 1'),
        new Promise((_, rej) => (t = setTimeout(() => rej(new Error('probe timed out')), this.probeTimeoutMs))),
      ]);
      this.downSince = null;
      this.o.onChange?.(true);
    } catch {
      this.scheduleProbe();
    } finally {
      clearTimeout(t);
    }
  }
}
