import { parseOptions } from '@node-rs/argon2';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DUMMY_HASH, PASSWORD_HASH_OPTIONS } from '../../src/core/tenancy/password.js';
import { signAccessToken } from '../../src/core/tenancy/tokens.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';

const PASSWORD = 'correct horse battery';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function signupVia(t: TestApp, body: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { password: PASSWORD, name: 'Someone', ...body } });
}

describe('auth API (open signup)', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A high limit here; the 429 behaviour has its own app below.
    t = await createTestApp({ QUORUM_SIGNUP: 'open', QUORUM_AUTH_RATE_LIMIT_PER_MIN: '1000' });
  });
  afterAll(async () => t.close());

  it('open signup creates the user, an org they own, a refresh-token row and one user.signup audit row', async () => {
    const res = await signupVia(t, { email: 'Ann@Example.test', name: 'Ann', org_name: 'Ann Co' });
    expect(res.statusCode).toBe(201);
    const s = res.json();
    expect(s).toMatchObject({ token_type: 'Bearer', expires_in: 3600, user: { email: 'ann@example.test', name: 'Ann' } });
    expect(s.org).toMatchObject({ name: 'Ann Co', slug: 'ann-co', role: 'owner', tier: 'free' });
    expect(s.orgs).toEqual([s.org]);

    const user = (await t.rt.admin.query('select id, password_hash from users where id = $1', [s.user.id])).rows[0];
    expect(user.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(user.password_hash).not.toContain(PASSWORD);
    const m = await t.rt.admin.query('select role from org_memberships where org_id = $1 and user_id = $2', [s.org.id, s.user.id]);
    expect(m.rows).toEqual([{ role: 'owner' }]);
    const claims = decodeJwt(s.refresh_token);
    const rt = await t.rt.admin.query('select user_id, family_id, org_id, used_at, revoked_at from refresh_tokens where id = $1', [claims.jti]);
    expect(rt.rows).toEqual([{ user_id: s.user.id, family_id: claims.fam, org_id: s.org.id, used_at: null, revoked_at: null }]);
    const audit = await t.rt.admin.query('select action, actor_user_id, api_key_id, target_id, diff from audit_log where org_id = $1', [s.org.id]);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ action: 'user.signup', actor_user_id: s.user.id, api_key_id: null, target_id: s.user.id });
    expect(JSON.stringify(audit.rows[0].diff)).not.toContain(PASSWORD);

    const me = await t.app.inject({ url: '/v1/auth/me', headers: bearer(s.access_token) });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(s.user.id);
  });

  it('refuses a second account for the same email (any case), a short password and a malformed email', async () => {
    expect((await signupVia(t, { email: 'dup@example.test' })).statusCode).toBe(201);
    const dup = await signupVia(t, { email: 'DUP@example.test' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toMatchObject({ code: 'already_exists' });
    const short = await signupVia(t, { email: 'short@example.test', password: 'x'.repeat(9) });
    expect(short.statusCode).toBe(400);
    expect(short.json().error.code).toBe('validation_failed');
    expect((await signupVia(t, { email: 'long@example.test', password: 'x'.repeat(1025) })).statusCode).toBe(400);
    expect((await signupVia(t, { email: 'not-an-email' })).statusCode).toBe(400);
    const nul = await signupVia(t, { email: 'nul@example.test', name: 'a\u0000b' });
    expect(nul.statusCode).toBe(400);
    expect(nul.json().error.code).toBe('validation_failed');
    expect((await signupVia(t, { email: 'nul@example.test', org_name: 'x\u0000' })).statusCode).toBe(400);
    const users = await t.rt.admin.query(`select email from users where email like 'dup%' or email like 'short%' or email like 'long%'`);
    expect(users.rows).toEqual([{ email: 'dup@example.test' }]);
  });

  it('login: right password → tokens for the earliest org or the requested one; wrong email or password → the same 401', async () => {
    const s = (await signupVia(t, { email: 'lou@example.test', name: 'Lou', org_name: 'First' })).json();
    // A second org for the same person (bootstrap reuses the user by email).
    const second = await newOrg(t, 'lou@example.test', 'Second');
    expect(second.user_id).toBe(s.user.id);

    const a = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'LOU@example.test', password: PASSWORD } });
    expect(a.statusCode).toBe(200);
    expect(a.json().org.id).toBe(s.org.id);
    expect(a.json().orgs.map((o: { id: string }) => o.id)).toEqual([s.org.id, second.org_id]);
    expect(decodeJwt(a.json().access_token)).toMatchObject({ sub: s.user.id, org: s.org.id });

    const b = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'lou@example.test', password: PASSWORD, org_id: second.org_id } });
    expect(b.json().org).toMatchObject({ id: second.org_id, role: 'owner' });
    const me = (await t.app.inject({ url: '/v1/auth/me', headers: bearer(b.json().access_token) })).json();
    expect(me.org.id).toBe(second.org_id);

    const rows = await t.rt.admin.query('select org_id from refresh_tokens where user_id = $1 order by created_at', [s.user.id]);
    expect(rows.rows.map((r) => r.org_id)).toEqual([s.org.id, s.org.id, second.org_id]);

    const wrongPw = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'lou@example.test', password: 'wrong password!' } });
    const noUser = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'nobody@example.test', password: PASSWORD } });
    // A bootstrap-created user has no password at all.
    await newOrg(t, 'keyonly@example.test', 'Key Only');
    const noPw = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'keyonly@example.test', password: PASSWORD } });
    for (const r of [wrongPw, noUser, noPw]) {
      expect(r.statusCode).toBe(401);
      expect(r.json().error).toEqual({ code: 'invalid_credentials', message: 'invalid email or password' });
    }
  });

  it('the dummy hash used for unknown emails costs the same as a real one', () => {
    const { memoryCost, timeCost, parallelism, outputLen, algorithm } = parseOptions(DUMMY_HASH);
    expect({ memoryCost, timeCost, parallelism, outputLen }).toEqual(PASSWORD_HASH_OPTIONS);
    expect(algorithm).toBe(2); // Argon2id
  });

  it('/me with a JWT and with an API key', async () => {
    const o = await newOrg(t, 'keyed@example.test', 'Keyed');
    const viaKey = await t.app.inject({ url: '/v1/auth/me', headers: auth(o.api_key) });
    expect(viaKey.statusCode).toBe(200);
    expect(viaKey.json()).toEqual({
      user: { id: o.user_id, email: 'keyed@example.test', name: 'keyed' },
      org: { id: o.org_id, name: 'Keyed', slug: o.org_slug, tier: 'free', role: 'owner' },
      orgs: [{ id: o.org_id, name: 'Keyed', slug: o.org_slug, tier: 'free', role: 'owner' }],
      api_key: { id: o.api_key_id, project_ids: null, max_role: null },
      quota: { tier: 'free', max_projects: 3, max_concurrent_reviews: 10, monthly_budget_usd: 10 },
    });
    await t.rt.admin.query(`update orgs set tier = 'pro' where id = $1`, [o.org_id]);
    expect((await t.app.inject({ url: '/v1/auth/me', headers: auth(o.api_key) })).json().quota).toMatchObject({ tier: 'pro', max_projects: 50 });

    const s = (await signupVia(t, { email: 'jwt@example.test', name: 'Jay' })).json();
    const viaJwt = await t.app.inject({ url: '/v1/auth/me', headers: bearer(s.access_token) });
    expect(viaJwt.json()).toMatchObject({ user: { id: s.user.id, name: 'Jay' }, org: { id: s.org.id, role: 'owner' }, api_key: null });
    expect(viaJwt.json().org.name).toBe("Jay's org");
    expect((await t.app.inject({ url: '/v1/auth/me' })).statusCode).toBe(401);
  });

  it('an expired or forged access token is a 401', async () => {
    const s = (await signupVia(t, { email: 'exp@example.test' })).json();
    const old = await signAccessToken(t.rt.deps.jwtKey, { sub: s.user.id, org: s.org.id }, new Date(Date.now() - 2 * 3600_000));
    const r = await t.app.inject({ url: '/v1/auth/me', headers: bearer(old) });
    expect(r.statusCode).toBe(401);
    expect(r.json().error.code).toBe('token_expired');
    const forged = await signAccessToken(new TextEncoder().encode('x'.repeat(32)), { sub: s.user.id, org: s.org.id }, new Date());
    const f = await t.app.inject({ url: '/v1/auth/me', headers: bearer(forged) });
    expect(f.statusCode).toBe(401);
    expect(f.json().error.code).toBe('unauthenticated');
    // A refresh token is not an access token.
    expect((await t.app.inject({ url: '/v1/auth/me', headers: bearer(s.refresh_token) })).statusCode).toBe(401);
  });

  it('refresh rotates: the old token is marked used, the new one is in the same family and works', async () => {
    const s = (await signupVia(t, { email: 'rot@example.test' })).json();
    const r = await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    expect(r.statusCode).toBe(200);
    const n = r.json();
    expect(n.refresh_token).not.toBe(s.refresh_token);
    expect(n.org.id).toBe(s.org.id);
    const c1 = decodeJwt(s.refresh_token);
    const c2 = decodeJwt(n.refresh_token);
    expect(c2.fam).toBe(c1.fam);
    const rows = await t.rt.admin.query('select id, used_at, revoked_at from refresh_tokens where family_id = $1 order by created_at', [c1.fam]);
    expect(rows.rows.map((x) => x.id)).toEqual([c1.jti, c2.jti]);
    expect(rows.rows[0].used_at).not.toBeNull();
    expect(rows.rows[1].used_at).toBeNull();
    expect(rows.rows.every((x) => x.revoked_at === null)).toBe(true);
    expect((await t.app.inject({ url: '/v1/auth/me', headers: bearer(n.access_token) })).statusCode).toBe(200);
    // And again from the new one.
    expect((await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: n.refresh_token } })).statusCode).toBe(200);
  });

  it('reusing a used refresh token revokes the whole family: the newer sibling stops working; other logins do not', async () => {
    const s = (await signupVia(t, { email: 'reuse@example.test' })).json();
    const other = (await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'reuse@example.test', password: PASSWORD } })).json();
    const n = (await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: s.refresh_token } })).json();

    const again = await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    expect(again.statusCode).toBe(401);
    expect(again.json().error.code).toBe('token_reused');

    const sibling = await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: n.refresh_token } });
    expect(sibling.statusCode).toBe(401);
    expect(sibling.json().error.code).toBe('unauthenticated');

    const fam = decodeJwt(s.refresh_token).fam;
    const rows = await t.rt.admin.query('select revoked_at from refresh_tokens where family_id = $1', [fam]);
    expect(rows.rows).toHaveLength(2);
    expect(rows.rows.every((x) => x.revoked_at !== null)).toBe(true);

    const otherRes = await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: other.refresh_token } });
    expect(otherRes.statusCode).toBe(200);
  });

  it('logout revokes the family; a garbage refresh token is a 401, never a 500', async () => {
    const s = (await signupVia(t, { email: 'bye@example.test' })).json();
    const n = (await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: s.refresh_token } })).json();
    const out = await t.app.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refresh_token: n.refresh_token } });
    expect(out.statusCode).toBe(200);
    expect(out.json()).toEqual({ ok: true, revoked: 2 });
    const after = await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: n.refresh_token } });
    expect(after.statusCode).toBe(401);
    const fam = decodeJwt(s.refresh_token).fam;
    const rows = await t.rt.admin.query('select count(*)::int as n from refresh_tokens where family_id = $1 and revoked_at is null', [fam]);
    expect(rows.rows[0].n).toBe(0);
    for (const bad of ['garbage', s.access_token]) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refresh_token: bad } });
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('unauthenticated');
    }
  });

  it('with an invite token, open signup joins the inviting org instead of creating one', async () => {
    const owner = await newOrg(t, 'boss@example.test', 'Boss Org');
    const inv = (await t.app.inject({ method: 'POST', url: '/v1/orgs/current/invites', headers: auth(owner.api_key), payload: { email: 'new@example.test', role: 'admin' } })).json();
    const s = await signupVia(t, { email: 'new@example.test', invite_token: inv.token });
    expect(s.statusCode).toBe(201);
    expect(s.json().org).toMatchObject({ id: owner.org_id, role: 'admin' });
    const orgs = await t.rt.admin.query('select org_id, role from org_memberships where user_id = $1', [s.json().user.id]);
    expect(orgs.rows).toEqual([{ org_id: owner.org_id, role: 'admin' }]);
  });
});

describe('signup modes', () => {
  it("'closed' refuses every signup with 403 signup_closed and writes nothing", async () => {
    const t = await createTestApp({ QUORUM_SIGNUP: 'closed' });
    try {
      const r = await signupVia(t, { email: 'x@example.test' });
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('signup_closed');
      expect((await t.rt.admin.query('select count(*)::int as n from users')).rows[0].n).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("'invite' needs a valid invite token for the same email; joins the inviting org with the invite's role", async () => {
    const t = await createTestApp({ QUORUM_SIGNUP: 'invite' });
    try {
      // Not a new installation any more (see first-signup.test.ts for the first user).
      const owner = await newOrg(t, 'own@example.test', 'Inviting');
      const none = await signupVia(t, { email: 'solo@example.test' });
      expect(none.statusCode).toBe(403);
      expect(none.json().error.code).toBe('signup_closed');

      const inv = (await t.app.inject({ method: 'POST', url: '/v1/orgs/current/invites', headers: auth(owner.api_key), payload: { email: 'guest@example.test', role: 'member' } })).json();

      const wrongEmail = await signupVia(t, { email: 'intruder@example.test', invite_token: inv.token });
      expect(wrongEmail.statusCode).toBe(403);
      expect(wrongEmail.json().error.code).toBe('forbidden');
      const bogus = await signupVia(t, { email: 'guest@example.test', invite_token: 'qi_nope' });
      expect(bogus.statusCode).toBe(404);

      const ok = await signupVia(t, { email: 'Guest@example.test', name: 'Guest', invite_token: inv.token });
      expect(ok.statusCode).toBe(201);
      const s = ok.json();
      expect(s.org).toMatchObject({ id: owner.org_id, role: 'member', name: 'Inviting' });
      expect(s.orgs).toHaveLength(1);
      const orgCount = await t.rt.admin.query('select count(*)::int as n from orgs');
      expect(orgCount.rows[0].n).toBe(1);
      const invite = await t.rt.admin.query('select accepted_at from invites where id = $1', [inv.id]);
      expect(invite.rows[0].accepted_at).not.toBeNull();
      const audit = await t.rt.admin.query(`select actor_user_id, diff from audit_log where org_id = $1 and action = 'user.signup'`, [owner.org_id]);
      expect(audit.rows).toHaveLength(1);
      expect(audit.rows[0]).toMatchObject({ actor_user_id: s.user.id, diff: { via: 'invite', invite_id: inv.id, role: 'member' } });

      const reused = await signupVia(t, { email: 'guest@example.test', invite_token: inv.token });
      expect(reused.statusCode).toBe(409);
      expect(reused.json().error.code).toBe('invite_accepted');
      const login = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'guest@example.test', password: PASSWORD } });
      expect(login.json().org.id).toBe(owner.org_id);
    } finally {
      await t.close();
    }
  });
});

describe('auth rate limit', () => {
  it('the 11th login from one IP within a minute is a 429 with retry-after; another IP is unaffected', async () => {
    const t = await createTestApp();
    try {
      expect(t.rt.config.auth.rateLimitPerMinute).toBe(10);
      const attempt = (ip: string) =>
        t.app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, payload: { email: 'who@example.test', password: 'wrong password' } });
      for (let i = 0; i < 10; i++) expect((await attempt('10.0.0.1')).statusCode).toBe(401);
      const limited = await attempt('10.0.0.1');
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json().error.code).toBe('rate_limited');
      expect(limited.json().correlation_id).toBe(limited.headers['x-request-id']);
      expect((await attempt('10.0.0.2')).statusCode).toBe(401);

      // Signup has its own budget per IP.
      for (let i = 0; i < 10; i++) {
        const r = await t.app.inject({ method: 'POST', url: '/v1/auth/signup', remoteAddress: '10.0.0.3', payload: { email: 'bad' } });
        expect(r.statusCode).toBe(400);
      }
      const s = await t.app.inject({ method: 'POST', url: '/v1/auth/signup', remoteAddress: '10.0.0.3', payload: { email: 'bad' } });
      expect(s.statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });
});
