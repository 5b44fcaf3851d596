import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createKeyVia, createProjectVia } from '../helpers/tenancy-fixtures.js';

describe('API keys', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  const keyRow = async (id: string) => (await t.rt.admin.query('select * from api_keys where id = $1', [id])).rows[0];

  it('creates a key shown once, stores only its hash, lists it without the secret, and audits the creation', async () => {
    const a = await newOrg(t, 'owner@keys.test', 'Keys A');
    const res = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(a.api_key), payload: { name: 'ci', expires_in_days: 30 } });
    expect(res.statusCode).toBe(201);
    const k = res.json();
    expect(k.api_key).toMatch(/^qk_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
    expect(k).toMatchObject({ name: 'ci', user_id: a.user_id, project_ids: null, max_role: null, revoked_at: null, prefix: k.api_key.slice(0, 11) });
    expect(Date.parse(k.expires_at) - Date.now()).toBeGreaterThan(29.9 * 86_400_000);
    expect(Date.parse(k.expires_at) - Date.now()).toBeLessThan(30.1 * 86_400_000);

    const row = await keyRow(k.id);
    expect(Buffer.from(row.key_hash).equals(createHash('sha256').update(k.api_key).digest())).toBe(true);
    expect(JSON.stringify(row)).not.toContain(k.api_key.slice(12));
    expect(row.created_by).toBe(a.user_id);

    // The new key works and acts as its user.
    expect((await t.app.inject({ url: '/v1/projects', headers: auth(k.api_key) })).statusCode).toBe(200);

    const list = await t.app.inject({ url: '/v1/keys', headers: auth(a.api_key) });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((x: { id: string }) => x.id).sort()).toEqual([a.api_key_id, k.id].sort());
    expect(list.body).not.toContain(k.api_key);
    expect(list.body).not.toContain('key_hash');

    const audit = await t.rt.admin.query(`select * from audit_log where org_id = $1 and action = 'api_key.create'`, [a.org_id]);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ actor_user_id: a.user_id, api_key_id: a.api_key_id, target_type: 'api_key', target_id: k.id });
    expect(JSON.stringify(audit.rows[0])).not.toContain(k.api_key);
  });

  it('resolves projects by id or slug; unknown or foreign projects are 422 without echoing them', async () => {
    const a = await newOrg(t, 'p@keys.test', 'Keys P');
    const b = await newOrg(t, 'p@keys-b.test', 'Keys PB');
    const web = await createProjectVia(t, a.api_key, 'web');
    const api = await createProjectVia(t, a.api_key, 'api');
    const foreign = await createProjectVia(t, b.api_key, 'foreign-secret');
    const k = await createKeyVia(t, a.api_key, { name: 'two', projects: ['web', api.id, 'WEB'] });
    expect(k.project_ids!.sort()).toEqual([web.id, api.id].sort());
    expect((await keyRow(k.id)).project_ids.sort()).toEqual([web.id, api.id].sort());

    for (const ref of ['nope', foreign.id, 'foreign-secret']) {
      const bad = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(a.api_key), payload: { name: 'x', projects: ['web', ref] } });
      expect(bad.statusCode).toBe(422);
      expect(bad.json().error).toMatchObject({ code: 'unprocessable', details: { unknown_indexes: [1] } });
      expect(bad.body).not.toContain(foreign.id);
      expect(bad.body).not.toContain('foreign-secret');
    }
    const n = await t.rt.admin.query('select count(*)::int as n from api_keys where org_id = $1', [a.org_id]);
    expect(n.rows[0].n).toBe(2);
  });

  it('a key created with a limited key inherits its limits and can never exceed them', async () => {
    const a = await newOrg(t, 'lim@keys.test', 'Keys L');
    const p = await createProjectVia(t, a.api_key, 'p');
    const q = await createProjectVia(t, a.api_key, 'q');
    const limited = await createKeyVia(t, a.api_key, { name: 'limited', projects: ['p'], max_role: 'reviewer' });

    const child = await createKeyVia(t, limited.api_key, { name: 'child' });
    expect(child).toMatchObject({ project_ids: [p.id], max_role: 'reviewer' });
    const childRow = await keyRow(child.id);
    expect(childRow.project_ids).toEqual([p.id]);
    expect(childRow.max_role).toBe('reviewer');

    const narrower = await createKeyVia(t, limited.api_key, { name: 'viewer', max_role: 'viewer' });
    expect(narrower).toMatchObject({ project_ids: [p.id], max_role: 'viewer' });

    for (const body of [{ name: 'wider', projects: [q.id] }, { name: 'wider', projects: ['p', 'q'] }, { name: 'up', max_role: 'admin' }]) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(limited.api_key), payload: body });
      expect(r.statusCode, JSON.stringify(body)).toBe(403);
      expect(r.json().error.code).toBe('forbidden');
    }
    // The child cannot reach q either.
    expect((await t.app.inject({ url: `/v1/projects/${q.id}`, headers: auth(child.api_key) })).statusCode).toBe(403);
    expect((await t.app.inject({ url: `/v1/projects/${p.id}`, headers: auth(child.api_key) })).statusCode).toBe(200);
    // A limited key may not mint keys for anybody else, even when its user is the owner.
    const other = await addOrgMember(t, a, 'other@keys.test');
    const forOther = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(limited.api_key), payload: { name: 'x', user_id: other.user_id } });
    expect(forOther.statusCode).toBe(403);
  });

  it('members manage only their own keys; admins manage the org but never outrank themselves', async () => {
    const a = await newOrg(t, 'boss@keys.test', 'Keys M');
    const b = await newOrg(t, 'boss@keys-b.test', 'Keys MB');
    const m = await addOrgMember(t, a, 'm@keys.test');
    const adm = await addOrgMember(t, a, 'adm@keys.test', 'admin');

    const own = await createKeyVia(t, m.api_key, { name: 'mine' });
    expect((await keyRow(own.id)).user_id).toBe(m.user_id);

    const forOwner = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(m.api_key), payload: { name: 'x', user_id: a.user_id } });
    expect(forOwner.statusCode).toBe(403);
    // An org admin may create keys for members, not for the owner (that would be an escalation).
    expect((await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(adm.api_key), payload: { name: 'x', user_id: m.user_id } })).statusCode).toBe(201);
    const up = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(adm.api_key), payload: { name: 'x', user_id: a.user_id } });
    expect(up.statusCode).toBe(403);
    // A user of another org is not found.
    const foreign = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(a.api_key), payload: { name: 'x', user_id: b.user_id } });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('not_found');

    const mine = (await t.app.inject({ url: '/v1/keys', headers: auth(m.api_key) })).json();
    expect(mine.items.every((k: { user_id: string }) => k.user_id === m.user_id)).toBe(true);
    expect(mine.items.length).toBe(3); // fixture key, "mine", and the one the admin made
    expect((await t.app.inject({ url: `/v1/keys?user=${a.user_id}`, headers: auth(m.api_key) })).statusCode).toBe(403);
    const filtered = (await t.app.inject({ url: `/v1/keys?user=${m.user_id}`, headers: auth(a.api_key) })).json();
    expect(filtered.items.map((k: { id: string }) => k.id).sort()).toEqual(mine.items.map((k: { id: string }) => k.id).sort());
    const all = (await t.app.inject({ url: '/v1/keys', headers: auth(a.api_key) })).json();
    const inDb = await t.rt.admin.query('select id from api_keys where org_id = $1', [a.org_id]);
    expect(all.items.map((k: { id: string }) => k.id).sort()).toEqual(inDb.rows.map((r) => r.id).sort());
    expect(all.items.length).toBe(5); // owner's, m's and adm's fixture keys, "mine", the admin-made one

    const revokeOwners = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${a.api_key_id}`, headers: auth(m.api_key) });
    expect(revokeOwners.statusCode).toBe(403);
    expect((await keyRow(a.api_key_id)).revoked_at).toBeNull();
  });

  it('revocation takes effect on the next request; other orgs, unknown and malformed ids are refused', async () => {
    const a = await newOrg(t, 'rev@keys.test', 'Keys R');
    const b = await newOrg(t, 'rev@keys-b.test', 'Keys RB');
    const k = await createKeyVia(t, a.api_key, { name: 'doomed' });
    expect((await t.app.inject({ url: '/v1/keys', headers: auth(k.api_key) })).statusCode).toBe(200);

    const del = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${k.id}`, headers: auth(a.api_key) });
    expect(del.statusCode).toBe(200);
    expect(del.json().revoked_at).not.toBeNull();
    expect((await keyRow(k.id)).revoked_at).toBeInstanceOf(Date);
    const after = await t.app.inject({ url: '/v1/keys', headers: auth(k.api_key) });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('unauthenticated');

    // Revoking twice keeps the first time.
    const again = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${k.id}`, headers: auth(a.api_key) });
    expect(again.json().revoked_at).toBe(del.json().revoked_at);

    for (const id of [b.api_key_id, randomUUID()]) {
      const r = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: auth(a.api_key) });
      expect(r.statusCode).toBe(404);
      expect(r.body).not.toContain(b.user_id);
    }
    expect((await keyRow(b.api_key_id)).revoked_at).toBeNull();
    const bad = await t.app.inject({ method: 'DELETE', url: '/v1/keys/not-a-uuid', headers: auth(a.api_key) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');

    const audit = await t.rt.admin.query(`select target_id, api_key_id from audit_log where org_id = $1 and action = 'api_key.revoke'`, [a.org_id]);
    expect(audit.rows).toEqual([
      { target_id: k.id, api_key_id: a.api_key_id },
      { target_id: k.id, api_key_id: a.api_key_id },
    ]);
  });

  it('pages through keys newest first with a cursor', async () => {
    const a = await newOrg(t, 'page@keys.test', 'Keys Pg');
    for (let i = 0; i < 4; i++) await createKeyVia(t, a.api_key, { name: `k${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await t.app.inject({ url, headers: auth(a.api_key) })).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((k: { id: string }) => k.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(5);
    const rows = await t.rt.admin.query('select id from api_keys where org_id = $1 order by created_at desc, id desc', [a.org_id]);
    expect(seen).toEqual(rows.rows.map((r) => r.id));
    expect((await t.app.inject({ url: '/v1/keys?cursor=zzz', headers: auth(a.api_key) })).statusCode).toBe(400);
  });
});
