import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { runMigrations as runWorkerMigrations } from 'graphile-worker';

/** src/db/migrations, whether running from src (tests) or from dist (built). */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/db/migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sqlText = readFileSync(path.join(dir, f), 'utf8');
      return {
        version: Number(f.slice(0, 4)),
        name: f.replace(/\.sql$/, ''),
        sql: sqlText,
        checksum: createHash('sha256').update(sqlText).digest('hex'),
      };
    });
}

export class MigrationError extends Error {
  constructor(
    public readonly code: 'database_newer_than_code' | 'migration_checksum_mismatch' | 'migration_failed',
    message: string,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

const LOCK_KEY = 7_420_001;

/**
 * Applies pending migrations as the owner, each in its own transaction, under an advisory lock so
 * that any number of processes starting at once apply each migration exactly once.
 */
export async function migrate(adminUrl: string, appRole: string, log?: (msg: string) => void): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'quorum-migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await ensureAppRole(client, appRole);
    await client.query(`create table if not exists quorum_migrations (
      version integer primary key, name text not null, checksum text not null,
      applied_at timestamptz not null default now())`);
    // The runtime role reads the schema version for /readyz and doctor.
    await client.query(`grant select on quorum_migrations to ${pg.escapeIdentifier(appRole)}`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      'select version, name, checksum from quorum_migrations order by version',
    );
    const migrations = loadMigrations();
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const r of rows) {
      const m = known.get(r.version);
      if (!m) {
        throw new MigrationError(
          'database_newer_than_code',
          `the database has migration ${r.name}, which this version of Quorum does not know; upgrade Quorum before starting it against this database`,
        );
      }
      if (m.checksum !== r.checksum) {
        throw new MigrationError('migration_checksum_mismatch', `migration ${m.name} was changed after it was applied`);
      }
    }
    const applied: string[] = [];
    const done = new Set(rows.map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      try {
        await client.query('begin');
        await client.query(m.sql);
        await client.query('insert into quorum_migrations (version, name, checksum) values ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('commit');
      } catch (e) {
        await client.query('rollback').catch(() => {});
        throw new MigrationError('migration_failed', `migration ${m.name} failed: ${(e as Error).message}`);
      }
      applied.push(m.name);
      log?.(`applied ${m.name}`);
    }
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]);
    // The job queue keeps its own schema and its own migration table.
    await runWorkerMigrations({ connectionString: adminUrl, logger: silentWorkerLogger() });
    return { applied, current: migrations.at(-1)?.version ?? 0 };
  } finally {
    await client.end();
  }
}

/** Current schema state without changing anything (for /readyz and doctor). */
export async function migrationStatus(client: pg.ClientBase | pg.Pool): Promise<{ current: number; expected: number; pending: number }> {
  const expected = loadMigrations().at(-1)?.version ?? 0;
  try {
    const { rows } = await client.query<{ v: number | null; n: string }>(
      'select max(version) as v, count(*)::text as n from quorum_migrations',
    );
    const current = rows[0]?.v ?? 0;
    const applied = Number(rows[0]?.n ?? 0);
    return { current, expected, pending: Math.max(0, loadMigrations().length - applied) };
  } catch {
    return { current: 0, expected, pending: loadMigrations().length };
  }
}

async function ensureAppRole(client: pg.Client, role: string): Promise<void> {
  const ident = pg.escapeIdentifier(role);
  const { rows } = await client.query<{ rolbypassrls: boolean; rolsuper: boolean }>(
    'select rolbypassrls, rolsuper from pg_roles where rolname = $1',
    [role],
  );
  if (rows.length === 0) {
    try {
      await client.query(`create role ${ident} nologin nobypassrls nosuperuser`);
    } catch (e) {
      // Two processes racing on a fresh cluster: the other one created it.
      if ((e as { code?: string }).code !== '42710' && (e as { code?: string }).code !== '23505') throw e;
    }
  } else if (rows[0]!.rolbypassrls || rows[0]!.rolsuper) {
    throw new MigrationError('migration_failed', `role ${role} can bypass row-level security; refusing to use it`);
  }
  // The login role must be able to SET ROLE to the runtime role.
  const me = await client.query<{ rolsuper: boolean; current_user: string }>(
    'select rolsuper, current_user from pg_roles where rolname = current_user',
  );
  if (!me.rows[0]?.rolsuper && me.rows[0]?.current_user !== role) {
    await client.query(`grant ${ident} to ${pg.escapeIdentifier(me.rows[0]!.current_user)}`).catch(() => {});
  }
}

function silentWorkerLogger() {
  // graphile-worker's Logger factory; migrations are quiet unless they fail (which throws).
  return undefined;
}
