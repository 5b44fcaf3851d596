import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient, type Transaction } from 'kysely';
import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import type { Database } from './schema.js';

// int8 (bigint ids, counts) as JS numbers would silently lose precision past 2^53; keep strings,
// except count(*) results which we cast explicitly where used.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export type Db = Kysely<Database>;
export type Tx = Transaction<Database> | Kysely<Database>;

export interface PoolOptions {
  url: string;
  max: number;
  statementTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  applicationName: string;
  /** When set, every connection runs as this role (the runtime role that cannot bypass RLS). */
  role?: string | undefined;
}

/**
 * Every wait on the database is bounded: acquiring a connection (connect or queue for a free one)
 * by connectTimeoutMs; a statement by statement_timeout on the server and, should the server be
 * unreachable (no answer at all), by query_timeout on the client a little later; a transaction
 * left idle (a process hung mid-transaction) is ended by the server so it cannot hold locks.
 */
export function poolTimeouts(o: { statementTimeoutMs: number; connectTimeoutMs: number }) {
  return {
    connectionTimeoutMillis: o.connectTimeoutMs,
    statement_timeout: o.statementTimeoutMs || undefined,
    query_timeout: o.statementTimeoutMs ? o.statementTimeoutMs + 5_000 : undefined,
    idle_in_transaction_session_timeout: Math.max(60_000, 2 * o.statementTimeoutMs),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/**
 * A session that starts as `role`: the role is a startup parameter (`-c role=…`), so no statement
 * of the connection ever runs as the login role, nothing is queued on connect, and RESET ROLE
 * returns to it. The URL is parsed here because pg lets a URL's own `options` replace ours; they
 * are kept, ours appended.
 */
export function connectionConfig(url: string, role?: string): pg.ClientConfig {
  if (!role) return { connectionString: url };
  if (!/^[a-z_][a-z0-9_]*$/.test(role)) throw new Error(`invalid runtime role name: ${role}`);
  const parsed = parseIntoClientConfig(url);
  return { ...parsed, options: [parsed.options, `-c role=${role}`].filter(Boolean).join(' ') };
}

export function createPool(o: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(o.url, o.role),
    max: o.max,
    idleTimeoutMillis: o.idleTimeoutMs,
    ...poolTimeouts(o),
    application_name: o.applicationName,
  });
  // A connection error (server restart, admin termination) must not crash the process: the pool
  // drops the client, and the query using it, if any, fails with the error.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function createKysely(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
}

/**
 * Starts a statement that is worth preparing: `sql` templates of the hot paths (a review's start
 * and completion) begin with it. Each connection then parses, analyses and plans such a statement
 * once (a named statement, by a hash of its text) and afterwards only binds and executes it: for
 * the statement that completes a review that is ~1 ms of the database's time per review, measured.
 * Only marked statements, whose text depends on nothing but a few flags, so each connection holds
 * a handful; Quorum already needs session pooling (session locks, LISTEN), which keeps them.
 */
export const PREPARE = '/* prepare */';

/** Names of marked statements by text; the set is small and fixed, the cap a guard against a text that varies. */
const preparedNames = new Map<string, string>();
const MAX_PREPARED = 64;

function preparedName(text: string): string | undefined {
  if (!text.startsWith(PREPARE)) return undefined;
  let name = preparedNames.get(text);
  if (!name && preparedNames.size < MAX_PREPARED) {
    name = `quorum_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    preparedNames.set(text, name);
  }
  return name;
}

/** Kysely's pool over pg's, sending marked statements as named (prepared) ones. */
function preparingPool(pool: pg.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      return {
        query: ((text: string | object, parameters?: readonly unknown[]) => {
          if (typeof text !== 'string') return client.query(text as never);
          const name = preparedName(text);
          return name ? client.query({ name, text, values: parameters as unknown[] }) : client.query(text, parameters as unknown[]);
        }) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class MissingTenantError extends Error {
  constructor() {
    super('withTenant requires an org id');
    this.name = 'MissingTenantError';
  }
}

/**
 * The only way tenant work touches the database: a transaction in which `quorum.org_id`
 * (and the acting user) are set LOCAL, so row-level security scopes every statement to the org.
 * There is no default: a missing org id is an error.
 */
export async function withTenant<T>(
  db: Db,
  orgId: string,
  fn: (tx: Transaction<Database>) => Promise<T>,
  opts: { userId?: string | undefined } = {},
): Promise<T> {
  if (!orgId || !UUID_RE.test(orgId)) throw new MissingTenantError();
  if (opts.userId !== undefined && !UUID_RE.test(opts.userId)) throw new Error('withTenant: invalid user id');
  // BEGIN and the tenant settings travel in one round trip (ids are validated UUIDs, safe to inline).
  return db.connection().execute(async (conn) => {
    await sql
      .raw(`begin; select set_config('quorum.org_id', '${orgId}', true), set_config('quorum.user_id', '${opts.userId ?? ''}', true)`)
      .execute(conn);
    let result: T;
    try {
      result = await fn(conn as unknown as Transaction<Database>);
    } catch (e) {
      await sql.raw('rollback').execute(conn).catch(() => {});
      throw e;
    }
    await sql.raw('commit').execute(conn);
    return result;
  });
}

/** A transaction scoped to a user but no org (refresh-token rotation). */
export async function withUser<T>(db: Db, userId: string, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  if (!UUID_RE.test(userId)) throw new Error('withUser: invalid user id');
  return db.transaction().execute(async (tx) => {
    await sql`select set_config('quorum.user_id', ${userId}, true)`.execute(tx);
    return fn(tx);
  });
}

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}
