import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/client.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createKeyVia, createProjectVia, setMemberVia } from '../helpers/tenancy-fixtures.js';

/**
 * The database itself is the isolation boundary (house rule 6). These tests read the catalogue,
 * so a table added by a later migration is checked without editing this file.
 */

// Tables that hold no tenant data and were reviewed as such. Every other table must have RLS.
// gate_buckets: token counts of upstream pools and tenant limits, keyed by ids only (no names,
// no text, no content); every process must see every bucket to share the provider's limits.
// knowledge_deletions: a project id and a transaction id per deletion of knowledge entries (no
// content), written only by a trigger, read by project id (KNOWLEDGE.md exports).
const REVIEWED_SYSTEM_TABLES = ['quorum_migrations', 'worker_heartbeats', 'gate_buckets', 'gate_fairness', 'knowledge_deletions'];
const SCHEMAS = ['public', 'quorum'];

interface TableInfo {
  schema: string;
  name: string;
  rls: boolean;
  forced: boolean;
  policies: number;
  has_org_id: boolean;
}

async function tables(admin: pg.Pool | pg.PoolClient): Promise<TableInfo[]> {
  const r = await admin.query(
    `select n.nspname as schema, c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
            (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies,
            exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped) as has_org_id
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1) and c.relkind in ('r', 'p')
      order by 1, 2`,
    [SCHEMAS],
  );
  return r.rows;
}

const q = (t: TestApp) => (s: string, p: unknown[] = []) => t.rt.admin.query(s, p);

describe('schema guard', () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof newOrg>>;
  let b: Awaited<ReturnType<typeof newOrg>>;
  let tenantTables: TableInfo[];

  beforeAll(async () => {
    t = await createTestApp();
    // Seed every tenant table with rows of two orgs, through the API where one exists.
    a = await newOrg(t, 'guard-a@a.test', 'Guard A');
    b = await newOrg(t, 'guard-b@b.test', 'Guard B');
    for (const o of [a, b]) {
      const m = await addOrgMember(t, o, `m-${o.org_id.slice(0, 8)}@x.test`);
      const p = await createProjectVia(t, o.api_key, 'guarded');
      await setMemberVia(t, o.api_key, p.slug, m.user_id, 'viewer');
      await createKeyVia(t, o.api_key, { name: 'extra', projects: [p.slug] });
      // No public route writes these yet (or they belong to other capabilities): seed as the owner.
      await q(t)(`insert into invites (org_id, email, role, token_hash, expires_at) values ($1, 'x@y.test', 'member', $2, now() + interval '1 day')`, [o.org_id, randomBytes(32)]);
      await q(t)(`insert into secrets (org_id, name, key_id, ciphertext, iv, auth_tag) values ($1, 'k', 'v1', '\\x00', '\\x00', '\\x00')`, [o.org_id]);
      await q(t)(`insert into refresh_tokens (id, user_id, family_id, org_id, expires_at) values ($1, $2, $1, $3, now() + interval '1 day')`, [randomUUID(), o.user_id, o.org_id]);
    }
    tenantTables = (await tables(t.rt.admin)).filter((x) => x.has_org_id);
  });
  afterAll(async () => t.close());

  it('every table with org_id has RLS enabled AND forced, with at least one policy', async () => {
    expect(tenantTables.length).toBeGreaterThanOrEqual(8);
    const offending = tenantTables.filter((x) => !x.rls || !x.forced || x.policies === 0).map((x) => `${x.schema}.${x.name}`);
    expect(offending).toEqual([]);
  });

  it('the guard itself notices a new tenant table created without RLS (self-test, rolled back)', async () => {
    const c = await t.rt.admin.connect();
    try {
      await c.query('begin');
      await c.query('create table public.rogue_tenant_table (id int, org_id uuid not null)');
      await c.query('create table public.half_done (id int, org_id uuid not null)');
      await c.query('alter table public.half_done enable row level security');
      const offending = (await tables(c)).filter((x) => x.has_org_id && (!x.rls || !x.forced || x.policies === 0)).map((x) => x.name);
      expect(offending).toEqual(['half_done', 'rogue_tenant_table']);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('every other table is either RLS-protected too or on the reviewed list of system tables', async () => {
    const all = await tables(t.rt.admin);
    const unprotected = all.filter((x) => !(x.rls && x.forced && x.policies > 0)).map((x) => x.name);
    expect(unprotected.filter((n) => !REVIEWED_SYSTEM_TABLES.includes(n))).toEqual([]);
    for (const n of ['orgs', 'users']) expect(all.find((x) => x.name === n)).toMatchObject({ rls: true, forced: true });
  });

  it('every policy on a tenant table is keyed on the current org (or the current user), never open', async () => {
    const r = await t.rt.admin.query(
      `select c.relname as tbl, p.polname as pol, coalesce(pg_get_expr(p.polqual, p.polrelid), '') as qual,
              coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') as chk, p.polcmd as cmd
         from pg_policy p join pg_class c on c.oid = p.polrelid
        where c.relname = any($1)`,
      [tenantTables.map((x) => x.name)],
    );
    const bad = r.rows.filter((p) => {
      const keyed = (s: string) => /current_org\(\)|current_user_id\(\)/.test(s);
      // An INSERT-only policy has no USING; every other command must filter reads by tenant.
      return (p.cmd !== 'a' && !keyed(p.qual)) || (p.cmd !== 'r' && p.cmd !== 'd' && p.chk !== '' && !keyed(p.chk));
    });
    expect(bad).toEqual([]);
  });

  it('the runtime role is not a superuser, cannot bypass RLS, owns nothing and can assume no other role', async () => {
    const r = await t.rt.appPool.query(
      `select current_user as me, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb
         from pg_roles r where r.rolname = current_user`,
    );
    expect(r.rows[0]).toEqual({ me: 'quorum_app', rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false });
    // The role is the session's own from its start: RESET ROLE (or a pooled client's leftovers) can't fall back to the login role.
    const c = await t.rt.appPool.connect();
    try {
      const reset = await c.query('reset role; select current_user as me');
      expect((reset as unknown as Array<{ rows: unknown[] }>)[1]!.rows).toEqual([{ me: 'quorum_app' }]);
    } finally {
      c.release();
    }
    // A DATABASE_URL that brings its own startup options keeps them, and the role still applies.
    const url = new URL(t.rt.db.adminUrl);
    url.searchParams.set('options', '-c statement_timeout=4321');
    const own = createPool({ url: url.toString(), max: 1, statementTimeoutMs: 0, idleTimeoutMs: 1_000, connectTimeoutMs: 5_000, applicationName: 'guard', role: 'quorum_app' });
    try {
      const r2 = await own.query(`select current_user as me, current_setting('statement_timeout') as st`);
      expect(r2.rows[0]).toEqual({ me: 'quorum_app', st: '4321ms' });
    } finally {
      await own.end();
    }
    const owned = await t.rt.admin.query(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1) and pg_get_userbyid(c.relowner) = 'quorum_app'`,
      [SCHEMAS],
    );
    expect(owned.rows).toEqual([]);
    const roles = await t.rt.admin.query(
      `select r.rolname from pg_roles r where pg_has_role('quorum_app', r.oid, 'member') and r.rolname <> 'quorum_app'`,
    );
    expect(roles.rows).toEqual([]);
  });

  it('with no tenant set the runtime role reads 0 rows from every tenant table, though rows exist', async () => {
    const client = await t.rt.appPool.connect();
    try {
      const results: Record<string, { owner: number; runtime: number }> = {};
      for (const x of [...tenantTables, { schema: 'public', name: 'orgs' }, { schema: 'public', name: 'users' }]) {
        const ident = `"${x.schema}"."${x.name}"`;
        const owner = (await t.rt.admin.query(`select count(*)::int as n from ${ident}`)).rows[0].n;
        const runtime = (await client.query(`select count(*)::int as n from ${ident}`)).rows[0].n;
        results[x.name] = { owner, runtime };
      }
      for (const [name, r] of Object.entries(results)) {
        expect(r.runtime, name).toBe(0);
      }
      // The seeded tables really hold rows (otherwise "0 rows" would prove nothing).
      for (const name of ['orgs', 'users', 'org_memberships', 'projects', 'project_members', 'api_keys', 'invites', 'audit_log', 'secrets', 'refresh_tokens']) {
        expect(results[name]?.owner, name).toBeGreaterThan(0);
      }
    } finally {
      client.release();
    }
  });

  it("inside tenant A the runtime role sees exactly A's rows and cannot write, move or touch B's", async () => {
    const client = await t.rt.appPool.connect();
    const inA = async <T>(fn: () => Promise<T>) => {
      await client.query('begin');
      await client.query(`select set_config('quorum.org_id', $1, true)`, [a.org_id]);
      try {
        return await fn();
      } finally {
        await client.query('rollback');
      }
    };
    const expectRlsViolation = async (sql: string, params: unknown[]) => {
      const err = await inA(() => client.query(sql, params)).then(() => null, (e: { code?: string; message: string }) => e);
      expect(err, sql).not.toBeNull();
      expect(err!.code, sql).toBe('42501');
      expect(err!.message, sql).toMatch(/row-level security/);
    };
    try {
      for (const x of tenantTables.filter((x) => x.name !== 'refresh_tokens')) {
        const ident = `"${x.schema}"."${x.name}"`;
        const seen = await inA(async () => (await client.query(`select count(*)::int as n, count(*) filter (where org_id <> $1)::int as other from ${ident}`, [a.org_id])).rows[0]);
        const ownerCount = (await t.rt.admin.query(`select count(*)::int as n from ${ident} where org_id = $1`, [a.org_id])).rows[0].n;
        expect(seen, x.name).toEqual({ n: ownerCount, other: 0 });
      }
      await expectRlsViolation(`insert into projects (org_id, slug, name) values ($1, 'stolen', 'stolen')`, [b.org_id]);
      await expectRlsViolation(`insert into audit_log (org_id, action) values ($1, 'forged')`, [b.org_id]);
      await expectRlsViolation(`insert into secrets (org_id, name, key_id, ciphertext, iv, auth_tag) values ($1, 'x', 'v1', '\\x00', '\\x00', '\\x00')`, [b.org_id]);
      await expectRlsViolation(`insert into invites (org_id, email, role, token_hash, expires_at) values ($1, 'e@x.test', 'admin', $2, now())`, [b.org_id, randomBytes(32)]);
      await expectRlsViolation(`insert into org_memberships (org_id, user_id, role) values ($1, $2, 'owner')`, [b.org_id, a.user_id]);
      await expectRlsViolation(`insert into api_keys (org_id, user_id, name, prefix, key_hash) values ($1, $2, 'x', 'qk_x', $3)`, [b.org_id, b.user_id, randomBytes(32)]);
      // Moving one of A's rows into B is refused by WITH CHECK.
      await expectRlsViolation(`update projects set org_id = $1 where org_id = $2`, [b.org_id, a.org_id]);
      // B's rows are invisible to UPDATE and DELETE: nothing happens.
      const touched = await inA(async () => ({
        upd: (await client.query(`update projects set name = 'pwned' where org_id = $1`, [b.org_id])).rowCount,
        del: (await client.query(`delete from api_keys where org_id = $1`, [b.org_id])).rowCount,
      }));
      expect(touched).toEqual({ upd: 0, del: 0 });
      const bRows = await t.rt.admin.query(`select (select count(*)::int from api_keys where org_id = $1) as keys, (select name from projects where org_id = $1) as name`, [b.org_id]);
      expect(bRows.rows[0]).toEqual({ keys: 3, name: 'guarded' });
    } finally {
      client.release();
    }
  });

  it('the API itself still works through RLS for both orgs (the guard is not blocking everything)', async () => {
    for (const o of [a, b]) {
      const r = await t.app.inject({ url: '/v1/projects', headers: auth(o.api_key) });
      expect(r.json().items.map((p: { org_id: string }) => p.org_id)).toEqual([o.org_id]);
    }
  });
});
