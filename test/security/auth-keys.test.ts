import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createKeyVia, createProjectVia, setMemberVia } from '../helpers/tenancy-fixtures.js';

describe('API key authentication and authorisation', () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof newOrg>>;
  beforeAll(async () => {
    t = await createTestApp();
    a = await newOrg(t, 'ak@a.test', 'Auth Keys');
    await createProjectVia(t, a.api_key, 'p');
    await createProjectVia(t, a.api_key, 'q');
  });
  afterAll(async () => t.close());

  const expect401 = async (headers: Record<string, string>, code = 'unauthenticated') => {
    const r = await t.app.inject({ url: '/v1/projects', headers });
    expect(r.statusCode, JSON.stringify(headers)).toBe(401);
    expect(r.json().error.code).toBe(code);
    expect(r.json().correlation_id).toBe(r.headers['x-request-id']);
    return r;
  };

  it('missing, wrong, malformed credentials → 401 with a code', async () => {
    await expect401({});
    const wrong = `qk_${'A'.repeat(8)}_${'b'.repeat(32)}`;
    const variants: Array<Record<string, string>> = [
      { 'x-api-key': wrong },
      { authorization: `Bearer ${wrong}` },
      { 'x-api-key': 'qk_short' },
      { 'x-api-key': a.api_key.slice(0, -1) },
      { 'x-api-key': a.api_key + 'x' },
      { 'x-api-key': a.api_key.toUpperCase() },
      { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${a.api_key} extra` },
      { authorization: 'Bearer not.a.jwt' },
    ];
    for (const headers of variants) {
      const r = await expect401(headers);
      expect(r.body).not.toContain(a.api_key);
    }
    // The real key works in both header forms.
    expect((await t.app.inject({ url: '/v1/projects', headers: auth(a.api_key) })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/v1/projects', headers: { authorization: `Bearer ${a.api_key}` } })).statusCode).toBe(200);
  });

  // The API-key cache is per process with a TTL; changes made outside this process (here: straight
  // in the database) are seen once the TTL has passed. The clock is moved instead of sleeping.
  const shiftClock = (ms: number) => {
    const real = t.rt.deps.clock;
    t.rt.deps.clock = { now: () => new Date(real.now().getTime() + ms) };
    return () => {
      t.rt.deps.clock = real;
    };
  };
  const pastCacheTtl = () => shiftClock(t.rt.config.auth.apiKeyCacheMs + 1_000);

  it('an expired key → 401: expiry set in the database, and expiry reached while the key is cached', async () => {
    const k = await createKeyVia(t, a.api_key, { name: 'short', expires_in_days: 1 });
    await t.rt.admin.query(`update api_keys set expires_at = now() - interval '1 second' where id = $1`, [k.id]);
    await expect401(auth(k.api_key), 'token_expired');

    const k2 = await createKeyVia(t, a.api_key, { name: 'short2', expires_in_days: 1 });
    expect((await t.app.inject({ url: '/v1/projects', headers: auth(k2.api_key) })).statusCode).toBe(200);
    const restore = shiftClock(86_400_000 + 1_000);
    try {
      await expect401(auth(k2.api_key), 'token_expired');
    } finally {
      restore();
    }
    // Later than its expiry, the owner's bootstrap key (no expiry) still works.
    expect((await t.app.inject({ url: '/v1/projects', headers: auth(a.api_key) })).statusCode).toBe(200);
  });

  it('a key revoked through the API → 401 from the very next request, even though it was cached', async () => {
    const k = await createKeyVia(t, a.api_key, { name: 'revoke-me' });
    expect((await t.app.inject({ url: '/v1/keys', headers: auth(k.api_key) })).statusCode).toBe(200);
    // Revoked with itself: the revoking request succeeds, the next one does not.
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${k.id}`, headers: auth(k.api_key) });
    expect(del.statusCode).toBe(200);
    await expect401(auth(k.api_key));
    // Revoked by the owner with another key.
    const k2 = await createKeyVia(t, a.api_key, { name: 'revoke-me-2' });
    expect((await t.app.inject({ url: '/v1/projects', headers: auth(k2.api_key) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/keys/${k2.id}`, headers: auth(a.api_key) })).statusCode).toBe(200);
    await expect401(auth(k2.api_key));
  });

  it('revoked in the database by another process, disabled user, removed member → 401 within the cache TTL', async () => {
    const k = await createKeyVia(t, a.api_key, { name: 'elsewhere' });
    const m = await addOrgMember(t, a, 'leaver@a.test');
    const m2 = await addOrgMember(t, a, 'leaver2@a.test');
    for (const key of [k.api_key, m.api_key, m2.api_key]) {
      expect((await t.app.inject({ url: '/v1/projects', headers: auth(key) })).statusCode).toBe(200);
    }
    await t.rt.admin.query('update api_keys set revoked_at = now() where id = $1', [k.id]);
    await t.rt.admin.query('update users set disabled = true where id = $1', [m.user_id]);
    await t.rt.admin.query('delete from org_memberships where user_id = $1', [m2.user_id]);
    const restore = pastCacheTtl();
    try {
      for (const key of [k.api_key, m.api_key, m2.api_key]) await expect401(auth(key));
      expect((await t.app.inject({ url: '/v1/projects', headers: auth(a.api_key) })).statusCode).toBe(200);
    } finally {
      restore();
    }
  });

  it('a viewer (by project role or by key cap) cannot mutate → 403, and nothing changes', async () => {
    const v = await addOrgMember(t, a, 'viewer@a.test');
    await setMemberVia(t, a.api_key, 'p', v.user_id, 'viewer');
    const capped = await createKeyVia(t, a.api_key, { name: 'owner-but-viewer', max_role: 'viewer' });
    for (const key of [v.api_key, capped.api_key]) {
      expect((await t.app.inject({ url: '/v1/projects/p', headers: auth(key) })).statusCode).toBe(200);
      for (const [method, url, payload] of [
        ['PATCH', '/v1/projects/p', { name: 'changed' }],
        ['DELETE', '/v1/projects/p', undefined],
        ['PUT', `/v1/projects/p/members/${v.user_id}`, { role: 'admin' }],
        ['DELETE', `/v1/projects/p/members/${v.user_id}`, undefined],
        ['POST', '/v1/projects', { slug: 'new-one' }],
      ] as const) {
        const r = await t.app.inject({ method, url, headers: auth(key), ...(payload && { payload }) });
        expect(r.statusCode, `${method} ${url}`).toBe(403);
        expect(r.json().error.code).toBe('forbidden');
      }
      expect((await t.app.inject({ url: '/v1/audit', headers: auth(key) })).statusCode).toBe(403);
    }
    const p = await t.rt.admin.query(`select name from projects where org_id = $1 and slug = 'p'`, [a.org_id]);
    expect(p.rows).toEqual([{ name: 'p' }]);
    const role = await t.rt.admin.query(`select role from project_members where user_id = $1`, [v.user_id]);
    expect(role.rows).toEqual([{ role: 'viewer' }]);
    expect((await t.rt.admin.query(`select 1 from projects where slug = 'new-one'`)).rows).toEqual([]);
  });

  it('a key limited to project P → 403 on project Q, allowed on P; listings show only P', async () => {
    const k = await createKeyVia(t, a.api_key, { name: 'only-p', projects: ['p'] });
    expect((await t.app.inject({ url: '/v1/projects/p', headers: auth(k.api_key) })).statusCode).toBe(200);
    for (const [method, url, payload] of [
      ['GET', '/v1/projects/q', undefined],
      ['PATCH', '/v1/projects/q', { name: 'x' }],
      ['GET', '/v1/projects/q/members', undefined],
      ['PUT', `/v1/projects/q/members/${a.user_id}`, { role: 'viewer' }],
    ] as const) {
      const r = await t.app.inject({ method, url, headers: auth(k.api_key), ...(payload && { payload }) });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
    }
    const list = (await t.app.inject({ url: '/v1/projects', headers: auth(k.api_key) })).json();
    expect(list.items.map((x: { slug: string }) => x.slug)).toEqual(['p']);
    // Limited to projects, it may not read the whole org's audit trail or other users' keys.
    expect((await t.app.inject({ url: '/v1/audit', headers: auth(k.api_key) })).statusCode).toBe(403);
    expect((await t.app.inject({ url: `/v1/keys?user=${a.user_id}`, headers: auth(k.api_key) })).statusCode).toBe(200);
    const keys = (await t.app.inject({ url: '/v1/keys', headers: auth(k.api_key) })).json();
    expect(keys.items.every((x: { user_id: string }) => x.user_id === a.user_id)).toBe(true);
  });
});
