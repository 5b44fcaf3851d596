import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';

describe('projects API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  it('creates, reads by id and slug, lists, updates and deletes a project; each mutation audited once', async () => {
    const a = await newOrg(t, 'alice@a.test', 'Org A');
    const h = auth(a.api_key);
    const created = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'web', name: 'Web' } });
    expect(created.statusCode).toBe(201);
    const p = created.json();
    expect(p).toMatchObject({ slug: 'web', name: 'Web', org_id: a.org_id, role: 'admin', default_branch: 'main' });

    expect((await t.app.inject({ url: `/v1/projects/${p.id}`, headers: h })).json().slug).toBe('web');
    expect((await t.app.inject({ url: `/v1/projects/web`, headers: h })).json().id).toBe(p.id);
    const list = (await t.app.inject({ url: '/v1/projects', headers: h })).json();
    expect(list.items.map((x: { id: string }) => x.id)).toEqual([p.id]);

    const dup = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'web' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('already_exists');

    const upd = await t.app.inject({ method: 'PATCH', url: `/v1/projects/web`, headers: h, payload: { name: 'Website' } });
    expect(upd.statusCode).toBe(200);
    expect(upd.json().name).toBe('Website');

    const del = await t.app.inject({ method: 'DELETE', url: `/v1/projects/${p.id}`, headers: h });
    expect(del.statusCode).toBe(200);
    expect((await t.app.inject({ url: `/v1/projects/${p.id}`, headers: h })).statusCode).toBe(404);

    const rows = await t.rt.admin.query(
      `select action, actor_user_id, api_key_id from audit_log where org_id = $1 and action like 'project.%' order by id`,
      [a.org_id],
    );
    expect(rows.rows.map((r) => r.action)).toEqual(['project.create', 'project.update', 'project.delete']);
    expect(rows.rows.every((r) => r.actor_user_id === a.user_id && r.api_key_id === a.api_key_id)).toBe(true);
  });

  it("another org's project is a 404, bad credentials 401, bad body 400 with a code", async () => {
    const a = await newOrg(t, 'a2@a.test', 'A2');
    const b = await newOrg(t, 'b2@b.test', 'B2');
    const pb = (await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(b.api_key), payload: { slug: 'secret' } })).json();
    const r = await t.app.inject({ url: `/v1/projects/${pb.id}`, headers: auth(a.api_key) });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe('not_found');
    expect(JSON.stringify(r.json())).not.toContain('secret');
    expect((await t.app.inject({ url: '/v1/projects', headers: { 'x-api-key': 'qk_nope' } })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/v1/projects' })).statusCode).toBe(401);
    const bad = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: '--x' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');
    expect(bad.headers['x-request-id']).toBe(bad.json().correlation_id);
  });

  it('settings Quorum reads are checked when written: a bad panel or threshold is a 400, not a later failure of every review', async () => {
    const o = await newOrg(t, 'settings@s.test', 'Settings');
    const h = auth(o.api_key);
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'cfg' } })).statusCode).toBe(201);
    const bad: Array<Record<string, unknown>> = [
      { verdict_thresholds: { request_changes: -5 } },
      { verdict_thresholds: { comment: 8 } }, // above the default request_changes (7)
      { verdict_thresholds: { request_changes: 5, comment: 6 } },
      { verdict_thresholds: { requestChanges: 5 } },
      { panel: [] },
      { panel: 'security' },
      { panel: [{ persona: 'security', provider: 'nosuch' }] },
      { knowledge_min_severity: 'high' },
      { knowledge_min_severity: 11 },
    ];
    for (const settings of bad) {
      for (const [method, url, payload] of [
        ['PATCH', '/v1/projects/cfg', { settings }],
        ['POST', '/v1/projects', { slug: 'cfg2', settings }],
      ] as const) {
        const r = await t.app.inject({ method, url, headers: h, payload });
        expect(r.statusCode, `${method} ${JSON.stringify(settings)}`).toBe(400);
        expect(r.json().error.code).toBe('validation_failed');
      }
    }
    const good = { verdict_thresholds: { request_changes: 8, comment: 3 }, knowledge_min_severity: 5, panel: [{ persona: 'security' }], team_note: 'kept as given' };
    const r = await t.app.inject({ method: 'PATCH', url: '/v1/projects/cfg', headers: h, payload: { settings: good } });
    expect(r.statusCode).toBe(200);
    expect(r.json().settings).toEqual({ ...good, panel: [{ persona: 'security', provider: 'builtin' }] });
    const row = await t.rt.admin.query(`select settings from projects where org_id = $1 and slug = 'cfg'`, [o.org_id]);
    expect(row.rows[0].settings).toEqual(r.json().settings);
  });
});
