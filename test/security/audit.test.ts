import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { fillPath, openApiRoutes, sampleFor, type ApiRoute } from '../helpers/openapi-routes.js';
import { addOrgMember, createKeyVia, createProjectVia, setMemberVia, type Member } from '../helpers/tenancy-fixtures.js';

const UA = 'audit-suite/1.0';

describe('audit trail', () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof newOrg>>;
  let b: Awaited<ReturnType<typeof newOrg>>;
  let m: Member;
  let routes: ApiRoute[];

  beforeAll(async () => {
    t = await createTestApp();
    a = await newOrg(t, 'aud@a.test', 'Audit A');
    b = await newOrg(t, 'aud@b.test', 'Audit B');
    m = await addOrgMember(t, a, 'aud-m@a.test');
    routes = await openApiRoutes(t.app);
  });
  afterAll(async () => t.close());

  const auditCount = async (orgId: string) => (await t.rt.admin.query('select count(*)::int as n from audit_log where org_id = $1', [orgId])).rows[0].n as number;
  const lastAudit = async (orgId: string) => (await t.rt.admin.query('select * from audit_log where org_id = $1 order by id desc limit 1', [orgId])).rows[0];

  /** Sends one mutation and asserts exactly one audit row, attributed to the caller and its key. */
  const audited = async (
    who: { key: string; user_id: string; key_id: string },
    req: { method: ApiRoute['method']; url: string; payload?: object },
    expectAction?: string,
  ) => {
    const before = await auditCount(a.org_id);
    const beforeB = await auditCount(b.org_id);
    const res = await t.app.inject({ ...req, headers: { ...auth(who.key), 'user-agent': UA } });
    expect(res.statusCode, `${req.method} ${req.url}: ${res.body}`).toBeLessThan(300);
    expect(await auditCount(a.org_id), `${req.method} ${req.url}`).toBe(before + 1);
    expect(await auditCount(b.org_id)).toBe(beforeB);
    const row = await lastAudit(a.org_id);
    expect(row).toMatchObject({ actor_user_id: who.user_id, api_key_id: who.key_id, user_agent: UA, correlation_id: res.headers['x-request-id'] });
    expect(row.ip).toBeTruthy();
    if (expectAction) expect(row.action).toBe(expectAction);
    return { res, row };
  };

  const owner = () => ({ key: a.api_key, user_id: a.user_id, key_id: a.api_key_id });

  it('every project, member and key mutation writes exactly one attributed row; refused ones write none', async () => {
    const covered = new Set<string>();
    const mark = (method: string, path: string) => covered.add(`${method} ${path}`);

    const { res: created, row: c } = await audited(owner(), { method: 'POST', url: '/v1/projects', payload: { slug: 'audited', name: 'Audited' } }, 'project.create');
    mark('POST', '/v1/projects');
    const pid = created.json().id;
    expect(c).toMatchObject({ project_id: pid, target_type: 'project', target_id: pid });

    const { row: u } = await audited(owner(), { method: 'PATCH', url: '/v1/projects/audited', payload: { name: 'Renamed' } }, 'project.update');
    mark('PATCH', '/v1/projects/{project}');
    expect(u.diff).toEqual({ before: { name: 'Audited' }, after: { name: 'Renamed' } });

    const { row: s } = await audited(owner(), { method: 'PUT', url: `/v1/projects/audited/members/${m.user_id}`, payload: { role: 'admin' } }, 'project_member.set');
    mark('PUT', '/v1/projects/{project}/members/{user}');
    expect(s).toMatchObject({ project_id: pid, target_id: m.user_id, diff: { before: null, after: { role: 'admin' } } });

    // A project admin (plain org member) acting with their own key is attributed to them.
    const other = await addOrgMember(t, a, 'aud-o@a.test');
    await audited({ key: m.api_key, user_id: m.user_id, key_id: m.api_key_id }, { method: 'PUT', url: `/v1/projects/audited/members/${other.user_id}`, payload: { role: 'viewer' } }, 'project_member.set');
    const { row: r } = await audited({ key: m.api_key, user_id: m.user_id, key_id: m.api_key_id }, { method: 'DELETE', url: `/v1/projects/audited/members/${other.user_id}` }, 'project_member.remove');
    mark('DELETE', '/v1/projects/{project}/members/{user}');
    expect(r.diff).toEqual({ before: { role: 'viewer' }, after: null });

    const { res: k, row: kc } = await audited(owner(), { method: 'POST', url: '/v1/keys', payload: { name: 'audited-key' } }, 'api_key.create');
    mark('POST', '/v1/keys');
    expect(kc).toMatchObject({ target_type: 'api_key', target_id: k.json().id });
    expect(JSON.stringify(kc)).not.toContain(k.json().api_key);
    // The new key's own actions are attributed to that key.
    const newKey = { key: k.json().api_key, user_id: a.user_id, key_id: k.json().id };
    const { row: rv } = await audited(newKey, { method: 'DELETE', url: `/v1/keys/${k.json().id}` }, 'api_key.revoke');
    mark('DELETE', '/v1/keys/{id}');
    expect(rv.api_key_id).toBe(k.json().id);

    await audited(owner(), { method: 'DELETE', url: `/v1/projects/${pid}` }, 'project.delete');
    mark('DELETE', '/v1/projects/{project}');

    // Refused mutations leave no trace in the trail (their transaction never commits a row).
    const before = await auditCount(a.org_id);
    for (const [method, url, payload] of [
      ['PATCH', '/v1/projects/no-such', { name: 'x' }],
      ['PUT', `/v1/projects/no-such/members/${m.user_id}`, { role: 'viewer' }],
      ['DELETE', `/v1/keys/${b.api_key_id}`, undefined],
      ['POST', '/v1/keys', { name: 'x', user_id: b.user_id }],
      ['POST', '/v1/projects', { slug: '--bad' }],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: auth(a.api_key), ...(payload && { payload }) });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
    }
    expect(await auditCount(a.org_id)).toBe(before);

    // Every mutating route of these resources is covered above: a new one fails until it is added.
    const ours = routes.filter((x) => x.method !== 'GET' && /^\/v1\/(keys|projects)(\/\{project\}(\/members(\/\{user\})?)?|\/\{id\})?$/.test(x.path));
    expect(ours.map((x) => `${x.method} ${x.path}`).sort()).toEqual([...covered].sort());
  });

  // Best effort over routes owned by other capabilities: a sample body rarely names a real project,
  // so long-running routes (a synchronous review waits for a worker) answer 4xx instead of hanging.
  it('any other authenticated mutating route that succeeds with a sample body writes exactly one row', async () => {
    const p = await createProjectVia(t, a.api_key, 'generic');
    const spare = await addOrgMember(t, a, 'aud-spare@a.test');
    await setMemberVia(t, a.api_key, 'generic', spare.user_id, 'viewer');
    const own: Record<string, string> = { project: p.id, user: spare.user_id };
    const results: string[] = [];
    const skip = /^\/v1\/(keys|projects)(\/\{project\}(\/members(\/\{user\})?)?|\/\{id\})?$|^\/v1\/auth\//;
    for (const r of routes.filter((x) => x.method !== 'GET' && !skip.test(x.path))) {
      // A fresh key per route, so a route that ends the caller's session cannot affect the next.
      const k = await createKeyVia(t, a.api_key, { name: `generic-${r.method}` });
      const values = Object.fromEntries(r.pathParams.map((x) => [x.name, own[x.name] ?? randomUUID()]));
      const before = await auditCount(a.org_id);
      const res = await t.app.inject({
        method: r.method,
        url: fillPath(r.path, values),
        headers: { ...auth(k.api_key), 'user-agent': UA },
        ...(r.body && { payload: sampleFor(r.body) as object }),
      });
      const after = await auditCount(a.org_id);
      if (res.statusCode < 300) {
        const row = await lastAudit(a.org_id);
        expect(after - before, `${r.method} ${r.path}`).toBe(1);
        expect(row, `${r.method} ${r.path}`).toMatchObject({ actor_user_id: a.user_id, api_key_id: k.id, correlation_id: res.headers['x-request-id'] });
        results.push(`${r.method} ${r.path}: audited`);
      } else {
        expect(after - before, `${r.method} ${r.path} failed with ${res.statusCode} yet wrote audit rows`).toBe(0);
        results.push(`${r.method} ${r.path}: ${res.statusCode} with a sample body (not exercised)`);
      }
    }
    // Informational: which routes this generic pass could exercise.
    console.info(results.join('\n'));
  });

  it('the runtime role cannot UPDATE, DELETE or TRUNCATE audit rows; even the owner is stopped by the trigger', async () => {
    const client = await t.rt.appPool.connect();
    const asRuntime = async (sql: string) => {
      await client.query('begin');
      await client.query(`select set_config('quorum.org_id', $1, true), set_config('quorum.audit_retention', 'on', true)`, [a.org_id]);
      try {
        await client.query(sql);
        return null;
      } catch (e) {
        return e as { code: string; message: string };
      } finally {
        await client.query('rollback');
      }
    };
    try {
      const n = await auditCount(a.org_id);
      expect(n).toBeGreaterThan(0);
      for (const sql of [`update audit_log set action = 'forged'`, 'delete from audit_log', 'truncate audit_log']) {
        const err = await asRuntime(sql);
        expect(err, sql).not.toBeNull();
        expect(err!.code, sql).toBe('42501');
        expect(err!.message, sql).toMatch(/permission denied/);
      }
      // Inserting is allowed (that is how the trail is written), reading too.
      expect(await asRuntime(`insert into audit_log (org_id, action) values ('${a.org_id}', 'probe')`)).toBeNull();
    } finally {
      client.release();
    }
    for (const sql of [`update audit_log set action = 'forged' where org_id = $1`, 'delete from audit_log where org_id = $1']) {
      const err = await t.rt.admin.query(sql, [a.org_id]).then(() => null, (e: { code: string; message: string }) => e);
      expect(err, sql).not.toBeNull();
      expect(err!.message).toMatch(/append-only/);
      expect(err!.code).toBe('42501');
    }
    const rows = await t.rt.admin.query(`select count(*)::int as n from audit_log where action = 'forged' or action = 'probe'`);
    expect(rows.rows[0].n).toBe(0);
  });

  it('GET /v1/audit: org admins read their own org only, filter by actor/project/action/time, page by cursor', async () => {
    const h = auth(a.api_key);
    const p = await createProjectVia(t, a.api_key, 'trail');
    await setMemberVia(t, a.api_key, 'trail', m.user_id, 'admin');
    await createProjectVia(t, b.api_key, 'bravo-trail');

    const all = await t.app.inject({ url: '/v1/audit?limit=200', headers: h });
    expect(all.statusCode).toBe(200);
    const items = all.json().items as Array<{ id: string; org_id: string; action: string; project_id: string | null; actor_user_id: string }>;
    const inDb = await t.rt.admin.query('select id from audit_log where org_id = $1 order by id desc', [a.org_id]);
    expect(items.map((x) => x.id)).toEqual(inDb.rows.map((r) => r.id));
    expect(items.every((x) => x.org_id === a.org_id)).toBe(true);
    expect(all.body).not.toContain('bravo-trail');

    const byProject = (await t.app.inject({ url: '/v1/audit?project=trail', headers: h })).json().items;
    expect(byProject.map((x: { action: string }) => x.action).sort()).toEqual(['project.create', 'project_member.set']);
    const byProjectId = (await t.app.inject({ url: `/v1/audit?project=${p.id}`, headers: h })).json().items;
    expect(byProjectId).toEqual(byProject);
    const byAction = (await t.app.inject({ url: '/v1/audit?action=project_member.set', headers: h })).json().items;
    expect(byAction.length).toBeGreaterThan(0);
    expect(byAction.every((x: { action: string }) => x.action === 'project_member.set')).toBe(true);
    const byActor = (await t.app.inject({ url: `/v1/audit?actor=${m.user_id}`, headers: h })).json().items;
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((x: { actor_user_id: string }) => x.actor_user_id === m.user_id)).toBe(true);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await t.app.inject({ url: `/v1/audit?since=${encodeURIComponent(future)}`, headers: h })).json().items).toEqual([]);
    expect((await t.app.inject({ url: `/v1/audit?until=${encodeURIComponent(future)}&limit=200`, headers: h })).json().items.length).toBe(items.length);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = (
        await t.app.inject({ url: `/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`, headers: h })
      ).json();
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((x) => x.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(items.map((x) => x.id));

    // Another org's project is a 404; members (even project admins) are refused the org's trail.
    const foreign = await t.app.inject({ url: '/v1/audit?project=bravo-trail', headers: h });
    expect(foreign.statusCode).toBe(404);
    expect((await t.app.inject({ url: '/v1/audit', headers: auth(m.api_key) })).statusCode).toBe(403);
    for (const q of ['since=yesterday', 'cursor=abc', 'actor=nope', 'limit=0', 'action=%00', 'project=%00']) {
      const r = await t.app.inject({ url: `/v1/audit?${q}`, headers: h });
      expect(r.statusCode, q).toBe(400);
      expect(r.json().error.code).toBe('validation_failed');
    }
  });
});
