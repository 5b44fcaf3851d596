import { sql } from 'kysely';
import type { Db } from '../../db/client.js';

/**
 * Cluster singletons are PostgreSQL session-level advisory locks, each held on a dedicated
 * connection whose application_name names the singleton and its holder. PostgreSQL itself is the
 * source of truth for who holds what: pg_locks (granted or waiting) joined with pg_stat_activity.
 * Advisory locks are per database, so clusters sharing a server never collide.
 */

/** First key of the two-int advisory lock form ('QSNG'); the second is hashtext(name). */
export const SINGLETON_LOCK_NS = 0x51534e47;
export const SINGLETON_APP_PREFIX = 'quorum-singleton';
/** PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes. */
const APP_NAME_MAX = 63;

export const SINGLETON_NAME_RE = /^[a-z][a-z0-9:._/-]{0,31}$/;

/** What a dedicated lock connection (a pg.Client) offers; the only thing these functions need. */
export interface LockSession {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/** `quorum-singleton <name> <holder>`, cut to what PostgreSQL keeps (the holder part is cut first). */
export function singletonApplicationName(name: string, holder: string): string {
  const s = `${SINGLETON_APP_PREFIX} ${name} ${holder.replace(/\s+/g, '_')}`;
  return Buffer.byteLength(s) <= APP_NAME_MAX ? s : Buffer.from(s).subarray(0, APP_NAME_MAX).toString('utf8').replace(/\uFFFD+$/, '');
}

/**
 * Session settings of a lock connection: no statement timeout (it blocks in pg_advisory_lock), a
 * lock_timeout so a waiter comes back periodically (which proves its connection alive), and TCP
 * keepalives/user timeout so the server notices a holder whose machine vanished within ~30 s and
 * releases its lock. (Ignored on Unix sockets, where a dead peer is noticed at once.)
 */
export async function prepareLockSession(c: LockSession, o: { lockWaitMs: number }): Promise<void> {
  await c.query(
    `select set_config('statement_timeout', '0', false), set_config('lock_timeout', $1, false),
            set_config('idle_in_transaction_session_timeout', '0', false),
            set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),
            set_config('tcp_keepalives_count', '3', false), set_config('tcp_user_timeout', '30000', false)`,
    [`${Math.max(1, Math.round(o.lockWaitMs))}ms`],
  );
}

/**
 * Blocks until this session holds the singleton's lock (true), or lock_timeout passed (false, try
 * again). PostgreSQL queues waiters, so when a holder's session ends the next waiter gets the lock
 * at once: failover needs no polling.
 */
export async function waitForSingletonLock(c: LockSession, name: string): Promise<boolean> {
  try {
    await c.query('select pg_advisory_lock($1::int, hashtext($2::text))', [SINGLETON_LOCK_NS, name]);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === '55P03') return false; // lock_not_available: lock_timeout
    throw e;
  }
}

/** True while this session still holds the singleton's lock (a round trip: proves the connection alive too). */
export async function holdsSingletonLock(c: LockSession, name: string): Promise<boolean> {
  const { rows } = await c.query(
    `select exists (
       select 1 from pg_locks
        where pid = pg_backend_pid() and locktype = 'advisory' and granted
          and classid = $1::int::oid and objid = hashtext($2::text)::oid and objsubid = 2) as held`,
    [SINGLETON_LOCK_NS, name],
  );
  return rows[0]?.held === true;
}

export interface SingletonSession {
  name: string;
  /** `host:pid` of the process, as it put it in its application_name. */
  holder: string;
  backendPid: number;
  state: 'held' | 'waiting';
}

/**
 * Every singleton lock session of this database, holders first. The lock must match the name in
 * the application_name (hashtext), so a stray connection that merely borrows the name is not shown.
 */
/** The cluster singleton that unlocks the jobs of workers whose heartbeat lapsed. */
export const DEAD_WORKER_SWEEPER = 'dead-worker-sweeper';

export async function listSingletonSessions(db: Db): Promise<SingletonSession[]> {
  const { rows } = await sql<{ application_name: string; pid: number; granted: boolean }>`
    select a.application_name, a.pid, l.granted
      from pg_stat_activity a
      join pg_locks l on l.pid = a.pid and l.locktype = 'advisory' and l.classid = ${SINGLETON_LOCK_NS}::int::oid and l.objsubid = 2
     where a.datname = current_database()
       and a.application_name like ${SINGLETON_APP_PREFIX + ' %'}
       and l.objid = hashtext(split_part(a.application_name, ' ', 2))::oid
     order by l.granted desc, a.application_name`.execute(db);
  return rows.map((r) => {
    const [, name = '', holder = ''] = r.application_name.split(' ');
    return { name, holder, backendPid: r.pid, state: r.granted ? 'held' : 'waiting' };
  });
}
