import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, migrationStatus } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db.drop());

  it('are recorded and current on the template clone; re-running applies nothing', async () => {
    const res = await migrate(db.adminUrl, 'quorum_app');
    expect(res.applied).toEqual([]);
    const pool = new pg.Pool({ connectionString: db.adminUrl });
    const st = await migrationStatus(pool);
    expect(st.current).toBe(loadMigrations().at(-1)!.version);
    expect(st.pending).toBe(0);
    const { rows } = await pool.query('select count(*)::int as n from quorum_migrations');
    expect(rows[0].n).toBe(loadMigrations().length);
    await pool.end();
  });

  it('refuses a database newer than the code', async () => {
    const pool = new pg.Pool({ connectionString: db.adminUrl });
    await pool.query(`insert into quorum_migrations (version, name, checksum) values (9999, '9999_future', 'x')`);
    await expect(migrate(db.adminUrl, 'quorum_app')).rejects.toMatchObject({ code: 'database_newer_than_code' });
    await pool.query(`delete from quorum_migrations where version = 9999`);
    await pool.end();
  });

  it('concurrent migrators on an empty database apply each migration once', async () => {
    const fresh = await createTestDatabase();
    const base = new pg.Pool({ connectionString: fresh.adminUrl });
    // Empty it: drop everything the template brought, then migrate from scratch 3× in parallel.
    await base.query('drop schema public cascade; create schema public; drop schema if exists quorum cascade; drop schema if exists graphile_worker cascade');
    await base.query('grant usage on schema public to public');
    const results = await Promise.all([1, 2, 3].map(() => migrate(fresh.adminUrl, 'quorum_app')));
    const applied = results.flatMap((r) => r.applied);
    expect(applied.sort()).toEqual(loadMigrations().map((m) => m.name).sort());
    await base.end();
    await fresh.drop();
  });
});
