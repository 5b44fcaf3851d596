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
});
