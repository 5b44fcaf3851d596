import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createProjectVia } from '../helpers/tenancy-fixtures.js';

/**
 * The only doors across tenants: SECURITY DEFINER functions run as the owner and bypass RLS.
 * Each has a test here, and the set is pinned: a new one fails this suite until it is reviewed
 * (added to REVIEWED with a test of what it returns and to whom).
 */
const REVIEWED = [
  'quorum.auth_api_key(p_hash bytea)',
  'quorum.auth_invite_by_token(p_hash bytea)',
  'quorum.auth_user_by_email(p_email text)',
  'quorum.auth_user_orgs(p_user_id uuid)',
  'quorum.note_knowledge_deleted()',
  'quorum.enqueue_job(p_task text, p_payload jsonb, p_job_key text DEFAULT NULL::text, p_priority integer DEFAULT NULL::integer, p_max_attempts integer DEFAULT NULL::integer, p_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_queue_name text DEFAULT NULL::text)',
  'quorum.remove_job(p_job_key text)',
  'quorum.system_has_users()',
  'quorum.system_org_ids()',
  'quorum.system_purge_audit(p_org uuid, p_before timestamp with time zone)',
  'quorum.system_queue_stats()',
  'quorum.system_stale_worktrees(p_lapse interval, p_ttl interval)',
].sort();

const sha = (s: string) => createHash('sha256').update(s).digest();

describe('named cross-org functions', () => {
  let t: TestApp;
  let hadUsersOnEmptyDb: boolean;
  let a: Awaited<ReturnType<typeof newOrg>>;
  let b: Awaited<ReturnType<typeof newOrg>>;
  // Runs as the runtime role with no tenant set: the situation these functions exist for.
  const rt = async (sql: string, params: unknown[] = []) => (await t.rt.appPool.query(sql, params)).rows;
  const owner = async (sql: string, params: unknown[] = []) => (await t.rt.admin.query(sql, params)).rows;

  beforeAll(async () => {
    t = await createTestApp();
    hadUsersOnEmptyDb = (await rt('select quorum.system_has_users() as v'))[0].v;
    a = await newOrg(t, 'fn-a@a.test', 'Fn A');
    b = await newOrg(t, 'fn-b@b.test', 'Fn B');
  });
  afterAll(async () => t.close());

  it('the set of SECURITY DEFINER functions is exactly the reviewed list', async () => {
    const r = await owner(
      `select n.nspname || '.' || p.proname || '(' || pg_get_function_arguments(p.oid) || ')' as sig
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
        order by 1`,
    );
    expect(r.map((x) => x.sig)).toEqual(REVIEWED);
  });

  it('each is pinned to a search_path, not executable by PUBLIC, owned by the owner, callable by the runtime role', async () => {
    const r = await owner(
      `select p.proname, p.proconfig, pg_get_userbyid(p.proowner) as owner,
              exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0) as public_exec,
              has_function_privilege('quorum_app', p.oid, 'execute') as app_exec
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname = 'quorum'`,
    );
    expect(r).toHaveLength(REVIEWED.length);
    for (const f of r) {
      expect(f.proconfig?.some((c: string) => c.startsWith('search_path=')), f.proname).toBe(true);
      expect(f.public_exec, f.proname).toBe(false);
      expect(f.owner, f.proname).not.toBe('quorum_app');
      expect(f.app_exec, f.proname).toBe(true);
    }
  });

  it('auth_api_key: one row for the key whose hash is given, nothing for others; touches last_used_at', async () => {
    await owner('update api_keys set last_used_at = null');
    const rows = await rt('select * from quorum.auth_api_key($1)', [sha(a.api_key)]);
    expect(rows).toEqual([
      {
        key_id: a.api_key_id,
        org_id: a.org_id,
        user_id: a.user_id,
        project_ids: null,
        max_role: null,
        expires_at: null,
        revoked_at: null,
        org_role: 'owner',
        user_disabled: false,
      },
    ]);
    const used = await owner('select id, last_used_at from api_keys order by id');
    expect(used.find((k) => k.id === a.api_key_id).last_used_at).toBeInstanceOf(Date);
    expect(used.find((k) => k.id === b.api_key_id).last_used_at).toBeNull();
    expect(await rt('select * from quorum.auth_api_key($1)', [randomBytes(32)])).toEqual([]);
    expect(await rt('select * from quorum.auth_api_key($1)', [sha(a.api_key + 'x')])).toEqual([]);
  });

  it('auth_user_by_email: the user (case-insensitively) and nothing about any org', async () => {
    const rows = await rt('select * from quorum.auth_user_by_email($1)', ['FN-A@A.TEST']);
    expect(rows).toEqual([{ user_id: a.user_id, name: 'fn-a', password_hash: null, disabled: false }]);
    expect(await rt('select * from quorum.auth_user_by_email($1)', ['nobody@a.test'])).toEqual([]);
    expect(await rt('select * from quorum.auth_user_by_email($1)', ['%'])).toEqual([]);
  });

  it("auth_user_orgs: exactly that user's orgs", async () => {
    const second = await newOrg(t, 'fn-a@a.test', 'Fn A Two');
    expect(second.user_id).toBe(a.user_id);
    const m = await addOrgMember(t, b, 'fn-m@b.test', 'admin');
    const rows = await rt('select org_id, role from quorum.auth_user_orgs($1)', [a.user_id]);
    expect(rows.map((r) => r.org_id).sort()).toEqual([a.org_id, second.org_id].sort());
    expect(rows.every((r) => r.role === 'owner')).toBe(true);
    expect(await rt('select org_id, role from quorum.auth_user_orgs($1)', [m.user_id])).toEqual([{ org_id: b.org_id, role: 'admin' }]);
    expect(await rt('select * from quorum.auth_user_orgs($1)', ['00000000-0000-4000-8000-000000000000'])).toEqual([]);
  });

  it('auth_invite_by_token: the invite whose token hash is given, nothing else', async () => {
    const token = randomBytes(32).toString('base64url');
    const [inv] = await owner(
      `insert into invites (org_id, email, role, token_hash, expires_at) values ($1, 'new@b.test', 'member', $2, now() + interval '1 day') returning id`,
      [b.org_id, sha(token)],
    );
    await owner(`insert into invites (org_id, email, role, token_hash, expires_at) values ($1, 'other@a.test', 'admin', $2, now())`, [a.org_id, randomBytes(32)]);
    const rows = await rt('select invite_id, org_id, email, role from quorum.auth_invite_by_token($1)', [sha(token)]);
    expect(rows).toEqual([{ invite_id: inv.id, org_id: b.org_id, email: 'new@b.test', role: 'member' }]);
    expect(await rt('select * from quorum.auth_invite_by_token($1)', [randomBytes(32)])).toEqual([]);
  });

  it('system_org_ids: every org id and nothing else; system_has_users: false on an empty database, then true', async () => {
    const ids = (await rt('select org_id from quorum.system_org_ids()')).map((r) => r.org_id);
    const all = (await owner('select id from orgs order by id')).map((r) => r.id);
    expect(ids).toEqual(all);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys((await rt('select * from quorum.system_org_ids()'))[0])).toEqual(['org_id']);
    expect(hadUsersOnEmptyDb).toBe(false);
    expect((await rt('select quorum.system_has_users() as v'))[0].v).toBe(true);
  });

  it('system_purge_audit: deletes only old rows of the given org, then the table is append-only again', async () => {
    for (const o of [a, b]) {
      await owner(`insert into audit_log (org_id, action, created_at) values ($1, 'old.one', now() - interval '40 days'), ($1, 'old.two', now() - interval '31 days')`, [o.org_id]);
    }
    const count = async (orgId: string) => (await owner(`select count(*)::int as n from audit_log where org_id = $1 and action like 'old.%'`, [orgId]))[0].n;
    const c = await t.rt.appPool.connect();
    try {
      await c.query('begin');
      const n = (await c.query(`select quorum.system_purge_audit($1, now() - interval '35 days') as n`, [a.org_id])).rows[0].n;
      expect(Number(n)).toBe(1);
      // The retention switch is off again within the same transaction: nothing else can delete.
      expect((await c.query(`select current_setting('quorum.audit_retention', true) as v`)).rows[0].v).toBe('off');
      await c.query('commit');
    } finally {
      c.release();
    }
    expect(await count(a.org_id)).toBe(1);
    expect(await count(b.org_id)).toBe(2);
    // Recent rows (bootstrap) are untouched.
    expect((await owner(`select count(*)::int as n from audit_log where org_id = $1 and action = 'org.bootstrap'`, [a.org_id]))[0].n).toBe(1);
    const direct = await t.rt.appPool.query(`delete from audit_log where org_id = $1`, [a.org_id]).catch((e: { code: string }) => e);
    expect((direct as { code: string }).code).toBe('42501');
  });

  it('system_queue_stats: per-task counts only, no payloads, of every org', async () => {
    for (const org of [a.org_id, b.org_id]) {
      await owner(`select graphile_worker.add_job('purge_audit', json_build_object('org_id', $1::text))`, [org]);
    }
    const rows = await rt(`select * from quorum.system_queue_stats()`);
    const purge = rows.find((r) => r.task === 'purge_audit');
    expect(Number(purge.queued)).toBeGreaterThanOrEqual(2);
    expect(Object.keys(purge).sort()).toEqual(['failed', 'locked', 'oldest_run_at', 'queued', 'task']);
    expect(JSON.stringify(rows)).not.toContain(a.org_id);
  });

  it('system_stale_worktrees: only lapsed or over-age leases, of any org, with the reason', async () => {
    const lease = async (orgId: string, path: string, heartbeatAgo: string, createdAgo: string) =>
      (
        await owner(
          `insert into worktree_leases (org_id, project_id, review_id, path, branch, owner, heartbeat_at, created_at)
           values ($1, gen_random_uuid(), gen_random_uuid(), $2, 'quorum/r', 'host:1', now() - $3::interval, now() - $4::interval) returning id`,
          [orgId, path, heartbeatAgo, createdAgo],
        )
      )[0].id as string;
    const fresh = await lease(a.org_id, '/wt/fresh', '1 second', '1 minute');
    const lapsed = await lease(a.org_id, '/wt/lapsed', '10 minutes', '11 minutes');
    const old = await lease(b.org_id, '/wt/old', '1 second', '3 hours');
    const rows = await rt(`select lease_id, org_id, path, reason from quorum.system_stale_worktrees(interval '5 minutes', interval '2 hours') order by path`);
    expect(rows).toEqual([
      { lease_id: lapsed, org_id: a.org_id, path: '/wt/lapsed', reason: 'lapsed' },
      { lease_id: old, org_id: b.org_id, path: '/wt/old', reason: 'ttl' },
    ]);
    expect(rows.map((r) => r.lease_id)).not.toContain(fresh);
  });

  it('enqueue_job: refuses without a tenant and for another org; namespaces keys by org', async () => {
    const c = await t.rt.appPool.connect();
    const attempt = async (org: string | null, payloadOrg: string) => {
      await c.query('begin');
      try {
        if (org) await c.query(`select set_config('quorum.org_id', $1, true)`, [org]);
        const r = await c.query(`select quorum.enqueue_job('audit_retention', $1::jsonb, 'k1') as id`, [JSON.stringify({ org_id: payloadOrg })]);
        await c.query('commit');
        return r.rows[0].id as string;
      } catch (e) {
        await c.query('rollback');
        return e as { code: string; message: string };
      }
    };
    try {
      const none = await attempt(null, a.org_id);
      expect(none).toMatchObject({ code: '42501', message: expect.stringMatching(/no tenant/) });
      const cross = await attempt(a.org_id, b.org_id);
      expect(cross).toMatchObject({ code: '42501', message: expect.stringMatching(/current org/) });
      const id = await attempt(a.org_id, a.org_id);
      expect(typeof id).toBe('string');
      const job = await owner(`select key, payload from graphile_worker._private_jobs where id = $1`, [id]);
      expect(job).toEqual([{ key: `${a.org_id}:k1`, payload: { org_id: a.org_id } }]);
    } finally {
      c.release();
    }
  });

  it("remove_job: refuses without a tenant; removes only the current org's job of that key", async () => {
    const c = await t.rt.appPool.connect();
    const as = async (org: string | null, sql: string, params: unknown[]) => {
      await c.query('begin');
      try {
        if (org) await c.query(`select set_config('quorum.org_id', $1, true)`, [org]);
        const r = await c.query(sql, params);
        await c.query('commit');
        return r.rows[0] as Record<string, unknown>;
      } catch (e) {
        await c.query('rollback');
        return e as { code: string; message: string };
      }
    };
    try {
      for (const org of [a.org_id, b.org_id]) {
        await as(org, `select quorum.enqueue_job('audit_retention', $1::jsonb, 'shared-key', null, null, now() + interval '1 hour') as id`, [JSON.stringify({ org_id: org })]);
      }
      expect(await as(null, `select quorum.remove_job('shared-key') as removed`, [])).toMatchObject({ code: '42501', message: expect.stringMatching(/no tenant/) });
      // b cannot reach a's job through the key (keys are namespaced by the current org).
      expect(await as(b.org_id, `select quorum.remove_job('shared-key') as removed`, [])).toEqual({ removed: true });
      expect(await as(b.org_id, `select quorum.remove_job('shared-key') as removed`, [])).toEqual({ removed: false });
      expect(await owner(`select key from graphile_worker._private_jobs where key like '%:shared-key'`, [])).toEqual([{ key: `${a.org_id}:shared-key` }]);
      expect(await as(a.org_id, `select quorum.remove_job($1) as removed`, [`../${b.org_id}:shared-key`])).toEqual({ removed: false });
      expect(await owner(`select key from graphile_worker._private_jobs where key like '%:shared-key'`, [])).toEqual([{ key: `${a.org_id}:shared-key` }]);
    } finally {
      c.release();
    }
  });
  it('note_knowledge_deleted (trigger): a deletion of knowledge marks its project (id and transaction only); the runtime role cannot write marks', async () => {
    const p = await createProjectVia(t, a.api_key, 'kd-marks');
    const [r] = await owner(
      `insert into reviews (org_id, project_id, task_id, developer_id, target, panel) values ($1, $2, 'kd', $3, '{"kind":"last_commit"}', '[]') returning id`,
      [a.org_id, p.id, a.user_id],
    );
    const [f] = await owner(
      `insert into findings (org_id, project_id, review_id, developer_id, fingerprint, file, line_start, line_end, category, severity, score, title, detail, reviewers, agreement, panel_size)
       values ($1, $2, $3, $4, 'fp', 'a.ts', 1, 1, 'security', 9, 9, 'T', 'D', '{security}', 1, 1) returning id`,
      [a.org_id, p.id, r.id, a.user_id],
    );
    await owner(
      `insert into knowledge (org_id, project_id, review_id, finding_id, developer_id, category, normalized_title, title, file, severity, detail)
       values ($1, $2, $3, $4, $5, 'security', 't', 'T', 'a.ts', 9, 'D')`,
      [a.org_id, p.id, r.id, f.id, a.user_id],
    );
    const before = (await owner(`select count(*)::int as n from knowledge_deletions where project_id = $1`, [p.id]))[0].n;
    expect(before).toBe(0);
    // Deleted in the org, by the runtime role: one mark for the statement, with the project and the deleting transaction.
    const c = await t.rt.appPool.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('quorum.org_id', $1, true)`, [a.org_id]);
      const xid = (await c.query(`delete from knowledge where project_id = $1 returning pg_current_xact_id()::text as xid`, [p.id])).rows[0].xid;
      await c.query('commit');
      expect(await owner(`select project_id, xid::text from knowledge_deletions where project_id = $1`, [p.id])).toEqual([{ project_id: p.id, xid }]);
      const err = await c.query(`insert into knowledge_deletions (project_id) values ($1)`, [p.id]).then(() => null, (e: { code: string }) => e);
      expect(err?.code).toBe('42501');
      // A deletion that removes nothing leaves no mark.
      await owner('delete from knowledge where false');
      expect((await owner(`select count(*)::int as n from knowledge_deletions where project_id = $1`, [p.id]))[0].n).toBe(1);
    } finally {
      c.release();
    }
  });
});
