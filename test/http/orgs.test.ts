import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createKeyVia } from '../helpers/tenancy-fixtures.js';

const PASSWORD = 'correct horse battery';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
type Headers = Record<string, string>;

describe('org, members and invites API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUORUM_SIGNUP: 'open', QUORUM_AUTH_RATE_LIMIT_PER_MIN: '1000' });
  });
  afterAll(async () => t.close());

  /** A mutating request tagged with its own correlation id, so its audit rows can be counted exactly. */
  async function mutate(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, headers: Headers, payload?: unknown) {
    const rid = `test-${randomUUID()}`;
    const res = await t.app.inject({ method, url, headers: { ...headers, 'x-request-id': rid }, ...(payload !== undefined && { payload: payload as object }) });
    const audit = await t.rt.admin.query(
      'select org_id, action, actor_user_id, api_key_id, target_id, diff from audit_log where correlation_id = $1',
      [rid],
    );
    return { res, body: res.json(), audit: audit.rows };
  }

  /** Invites `email` into the owner's org and signs the person up with it: a real user with a password and a JWT. */
  async function inviteAndJoin(owner: BootstrapResult, email: string, role: 'admin' | 'member') {
    const inv = await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email, role });
    expect(inv.res.statusCode).toBe(201);
    const s = await t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email, password: PASSWORD, name: email.split('@')[0], invite_token: inv.body.token } });
    expect(s.statusCode).toBe(201);
    return s.json<{ access_token: string; user: { id: string } }>();
  }

  it('GET /v1/orgs/current: the org, your role, its tier and quota; PATCH renames it (owner/admin, audited once)', async () => {
    const a = await newOrg(t, 'o1@a.test', 'Alpha');
    const r = await t.app.inject({ url: '/v1/orgs/current', headers: auth(a.api_key) });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ id: a.org_id, name: 'Alpha', slug: a.org_slug, tier: 'free', role: 'owner', quota: { tier: 'free', max_projects: 3 } });

    const p = await mutate('PATCH', '/v1/orgs/current', auth(a.api_key), { name: 'Alpha Inc' });
    expect(p.res.statusCode).toBe(200);
    expect(p.body).toMatchObject({ name: 'Alpha Inc', slug: a.org_slug });
    expect((await t.rt.admin.query('select name from orgs where id = $1', [a.org_id])).rows[0].name).toBe('Alpha Inc');
    expect(p.audit).toEqual([
      { org_id: a.org_id, action: 'org.update', actor_user_id: a.user_id, api_key_id: a.api_key_id, target_id: a.org_id, diff: { before: { name: 'Alpha' }, after: { name: 'Alpha Inc' } } },
    ]);

    const member = await addOrgMember(t, a, 'm1@a.test', 'member');
    expect((await t.app.inject({ url: '/v1/orgs/current', headers: auth(member.api_key) })).json().role).toBe('member');
    const denied = await mutate('PATCH', '/v1/orgs/current', auth(member.api_key), { name: 'Hijacked' });
    expect(denied.res.statusCode).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');
    expect(denied.audit).toEqual([]);
    expect((await mutate('PATCH', '/v1/orgs/current', auth(a.api_key), { name: '' })).res.statusCode).toBe(400);
    expect((await t.rt.admin.query('select name from orgs where id = $1', [a.org_id])).rows[0].name).toBe('Alpha Inc');
  });

  it('lists members with cursor pagination to any member, never those of another org', async () => {
    const a = await newOrg(t, 'zed@b.test', 'Beta');
    const other = await newOrg(t, 'stranger@x.test', 'Other');
    await addOrgMember(t, a, 'amy@b.test', 'admin');
    const bob = await addOrgMember(t, a, 'bob@b.test', 'member');
    const seen: Array<{ email: string; role: string }> = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const r = await t.app.inject({ url: `/v1/orgs/current/members?limit=2${q}`, headers: auth(bob.api_key) });
      expect(r.statusCode).toBe(200);
      const page = r.json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.map((m) => [m.email, m.role])).toEqual([['amy@b.test', 'admin'], ['bob@b.test', 'member'], ['zed@b.test', 'owner']]);
    expect(JSON.stringify(seen)).not.toContain('stranger');
    // Another org's member is not found here, whatever the role.
    const cross = await mutate('PUT', `/v1/orgs/current/members/${other.user_id}`, auth(a.api_key), { role: 'member' });
    expect(cross.res.statusCode).toBe(404);
    expect((await mutate('DELETE', `/v1/orgs/current/members/${randomUUID()}`, auth(a.api_key))).res.statusCode).toBe(404);
    expect((await mutate('DELETE', '/v1/orgs/current/members/not-a-uuid', auth(a.api_key))).res.statusCode).toBe(400);
    expect((await t.rt.admin.query('select role from org_memberships where user_id = $1', [other.user_id])).rows).toEqual([{ role: 'owner' }]);
  });

  it('role changes: admins manage members and admins, only owners touch the owner role, the last owner stays', async () => {
    const owner = await newOrg(t, 'owner@c.test', 'Gamma');
    const admin = await inviteAndJoin(owner, 'admin@c.test', 'admin');
    const bob = await inviteAndJoin(owner, 'bob@c.test', 'member');
    const role = async (userId: string) =>
      (await t.rt.admin.query('select role from org_memberships where org_id = $1 and user_id = $2', [owner.org_id, userId])).rows[0]?.role;

    const promote = await mutate('PUT', `/v1/orgs/current/members/${bob.user.id}`, bearer(admin.access_token), { role: 'admin' });
    expect(promote.res.statusCode).toBe(200);
    expect(promote.body).toMatchObject({ user_id: bob.user.id, email: 'bob@c.test', role: 'admin' });
    expect(await role(bob.user.id)).toBe('admin');
    expect(promote.audit).toEqual([
      { org_id: owner.org_id, action: 'member.update', actor_user_id: admin.user.id, api_key_id: null, target_id: bob.user.id, diff: { before: { role: 'member' }, after: { role: 'admin' } } },
    ]);

    const grantOwner = await mutate('PUT', `/v1/orgs/current/members/${bob.user.id}`, bearer(admin.access_token), { role: 'owner' });
    expect(grantOwner.res.statusCode).toBe(403);
    expect(grantOwner.audit).toEqual([]);
    const demoteOwner = await mutate('PUT', `/v1/orgs/current/members/${owner.user_id}`, bearer(admin.access_token), { role: 'member' });
    expect(demoteOwner.res.statusCode).toBe(403);
    expect(await role(owner.user_id)).toBe('owner');

    // The only owner cannot step down, even by their own hand.
    const last = await mutate('PUT', `/v1/orgs/current/members/${owner.user_id}`, auth(owner.api_key), { role: 'admin' });
    expect(last.res.statusCode).toBe(409);
    expect(last.body.error.code).toBe('conflict');
    expect(last.audit).toEqual([]);
    expect(await role(owner.user_id)).toBe('owner');

    const byOwner = await mutate('PUT', `/v1/orgs/current/members/${bob.user.id}`, auth(owner.api_key), { role: 'owner' });
    expect(byOwner.res.statusCode).toBe(200);
    expect(byOwner.audit).toHaveLength(1);
    expect(byOwner.audit[0]).toMatchObject({ actor_user_id: owner.user_id, api_key_id: owner.api_key_id });
    // Two owners now: the first may step down; then bob is the last and may not.
    expect((await mutate('PUT', `/v1/orgs/current/members/${owner.user_id}`, bearer(bob.access_token), { role: 'member' })).res.statusCode).toBe(200);
    expect(await role(owner.user_id)).toBe('member');
    const bobLast = await mutate('PUT', `/v1/orgs/current/members/${bob.user.id}`, bearer(bob.access_token), { role: 'admin' });
    expect(bobLast.res.statusCode).toBe(409);
    expect(await role(bob.user.id)).toBe('owner');
    expect((await mutate('PUT', `/v1/orgs/current/members/${bob.user.id}`, bearer(bob.access_token), { role: 'god' })).res.statusCode).toBe(400);
  });

  it('members and capped keys cannot manage members or invites (403, nothing written)', async () => {
    const owner = await newOrg(t, 'owner@d.test', 'Delta');
    const member = await inviteAndJoin(owner, 'mem@d.test', 'member');
    const victim = await addOrgMember(t, owner, 'victim@d.test', 'member');
    // The owner's own key capped at viewer acts as a viewer.
    const viewerKey = await createKeyVia(t, owner.api_key, { name: 'read-only', max_role: 'viewer' });
    for (const h of [bearer(member.access_token), auth(viewerKey.api_key)]) {
      const put = await mutate('PUT', `/v1/orgs/current/members/${victim.user_id}`, h, { role: 'admin' });
      const del = await mutate('DELETE', `/v1/orgs/current/members/${victim.user_id}`, h);
      const inv = await mutate('POST', '/v1/orgs/current/invites', h, { email: 'x@d.test', role: 'member' });
      for (const r of [put, del, inv]) {
        expect(r.res.statusCode).toBe(403);
        expect(r.body.error.code).toBe('forbidden');
        expect(r.audit).toEqual([]);
      }
      expect((await t.app.inject({ url: '/v1/orgs/current/invites', headers: h })).statusCode).toBe(403);
      // Reading the member list is fine for anyone in the org.
      expect((await t.app.inject({ url: '/v1/orgs/current/members', headers: h })).statusCode).toBe(200);
    }
    expect((await t.rt.admin.query('select role from org_memberships where user_id = $1', [victim.user_id])).rows).toEqual([{ role: 'member' }]);
    expect((await t.rt.admin.query('select count(*)::int as n from invites where org_id = $1', [owner.org_id])).rows[0].n).toBe(1);
  });

  it('removing a member: admins may remove members, not owners; the last owner stays; access ends at once', async () => {
    const owner = await newOrg(t, 'owner@e.test', 'Epsilon');
    const admin = await inviteAndJoin(owner, 'admin@e.test', 'admin');
    const gone = await inviteAndJoin(owner, 'gone@e.test', 'member');
    const goneKey = await createKeyVia(t, owner.api_key, { name: 'gone-key', user_id: gone.user.id });
    expect((await t.app.inject({ url: '/v1/auth/me', headers: bearer(gone.access_token) })).statusCode).toBe(200);

    const del = await mutate('DELETE', `/v1/orgs/current/members/${gone.user.id}`, bearer(admin.access_token));
    expect(del.res.statusCode).toBe(200);
    expect(del.body).toEqual({ user_id: gone.user.id, removed: true });
    expect(del.audit).toEqual([
      { org_id: owner.org_id, action: 'member.remove', actor_user_id: admin.user.id, api_key_id: null, target_id: gone.user.id, diff: { email: 'gone@e.test', role: 'member' } },
    ]);
    expect((await t.rt.admin.query('select 1 from org_memberships where user_id = $1', [gone.user.id])).rows).toEqual([]);
    // Their key went with the membership; their access token no longer authenticates.
    expect((await t.rt.admin.query('select 1 from api_keys where id = $1', [goneKey.id])).rows).toEqual([]);
    expect((await t.app.inject({ url: '/v1/auth/me', headers: bearer(gone.access_token) })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/v1/auth/me', headers: auth(goneKey.api_key) })).statusCode).toBe(401);

    expect((await mutate('DELETE', `/v1/orgs/current/members/${owner.user_id}`, bearer(admin.access_token))).res.statusCode).toBe(403);
    const lastOwner = await mutate('DELETE', `/v1/orgs/current/members/${owner.user_id}`, auth(owner.api_key));
    expect(lastOwner.res.statusCode).toBe(409);
    expect(lastOwner.audit).toEqual([]);
    expect((await t.rt.admin.query('select role from org_memberships where user_id = $1', [owner.user_id])).rows).toEqual([{ role: 'owner' }]);
  });

  it('invites end to end: token once (hashed at rest), list, accept by an existing user, revoke, expiry, mismatch', async () => {
    const owner = await newOrg(t, 'owner@f.test', 'Zeta');
    const created = await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'Pat@Elsewhere.test', role: 'admin', expires_in_days: 3 });
    expect(created.res.statusCode).toBe(201);
    const inv = created.body;
    expect(inv).toMatchObject({ email: 'pat@elsewhere.test', role: 'admin', status: 'pending', created_by: owner.user_id, accepted_at: null });
    expect(inv.token).toMatch(/^qi_[A-Za-z0-9_-]{43}$/);
    expect(new Date(inv.expires_at).getTime() - Date.now()).toBeGreaterThan(3 * 86400_000 - 60_000);
    const row = (await t.rt.admin.query('select token_hash, org_id from invites where id = $1', [inv.id])).rows[0];
    expect(row.token_hash).toEqual(createHash('sha256').update(inv.token).digest());
    expect(row.org_id).toBe(owner.org_id);
    expect(created.audit).toEqual([
      { org_id: owner.org_id, action: 'invite.create', actor_user_id: owner.user_id, api_key_id: owner.api_key_id, target_id: inv.id, diff: { email: 'pat@elsewhere.test', role: 'admin', expires_at: inv.expires_at } },
    ]);
    expect(JSON.stringify(created.audit)).not.toContain(inv.token);

    const dupe = await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'pat@elsewhere.test', role: 'member' });
    expect(dupe.res.statusCode).toBe(409);
    expect((await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'owner@f.test', role: 'member' })).res.statusCode).toBe(409);
    expect((await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'x@f.test', role: 'owner' })).res.statusCode).toBe(400);

    const list = await t.app.inject({ url: '/v1/orgs/current/invites', headers: auth(owner.api_key) });
    const { token: _token, ...listed } = inv;
    expect(list.json().items).toEqual([listed]);
    expect(list.body).not.toContain(inv.token);

    // Pat already has an account (and an org of their own) elsewhere.
    const pat = (await t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'pat@elsewhere.test', password: PASSWORD, name: 'Pat' } })).json();
    const mallory = (await t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'mallory@elsewhere.test', password: PASSWORD, name: 'Mal' } })).json();
    const wrong = await mutate('POST', '/v1/invites/accept', bearer(mallory.access_token), { token: inv.token });
    expect(wrong.res.statusCode).toBe(403);
    expect(wrong.audit).toEqual([]);
    expect((await mutate('POST', '/v1/invites/accept', bearer(pat.access_token), { token: 'qi_unknown' })).res.statusCode).toBe(404);

    const acc = await mutate('POST', '/v1/invites/accept', bearer(pat.access_token), { token: inv.token });
    expect(acc.res.statusCode).toBe(200);
    expect(acc.body.org).toEqual({ id: owner.org_id, name: 'Zeta', slug: owner.org_slug, tier: 'free', role: 'admin' });
    expect(acc.audit).toEqual([
      { org_id: owner.org_id, action: 'invite.accept', actor_user_id: pat.user.id, api_key_id: null, target_id: inv.id, diff: { user_id: pat.user.id, role: 'admin' } },
    ]);
    const memberships = await t.rt.admin.query('select org_id, role from org_memberships where user_id = $1 order by created_at', [pat.user.id]);
    expect(memberships.rows).toEqual([{ org_id: pat.org.id, role: 'owner' }, { org_id: owner.org_id, role: 'admin' }]);
    const login = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'pat@elsewhere.test', password: PASSWORD, org_id: owner.org_id } });
    expect(login.json().org).toMatchObject({ id: owner.org_id, role: 'admin' });

    const again = await mutate('POST', '/v1/invites/accept', bearer(pat.access_token), { token: inv.token });
    expect(again.res.statusCode).toBe(409);
    expect(again.body.error.code).toBe('invite_accepted');
    const revokeAccepted = await mutate('DELETE', `/v1/orgs/current/invites/${inv.id}`, auth(owner.api_key));
    expect(revokeAccepted.res.statusCode).toBe(409);
    expect((await t.app.inject({ url: '/v1/orgs/current/invites', headers: auth(owner.api_key) })).json().items[0].status).toBe('accepted');

    // Revoked.
    const inv2 = (await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'mallory@elsewhere.test', role: 'member' })).body;
    const rev = await mutate('DELETE', `/v1/orgs/current/invites/${inv2.id}`, auth(owner.api_key));
    expect(rev.res.statusCode).toBe(200);
    expect(rev.body.status).toBe('revoked');
    expect(rev.audit).toMatchObject([{ action: 'invite.revoke', target_id: inv2.id, api_key_id: owner.api_key_id }]);
    expect((await t.rt.admin.query('select revoked_at from invites where id = $1', [inv2.id])).rows[0].revoked_at).not.toBeNull();
    const accRevoked = await mutate('POST', '/v1/invites/accept', bearer(mallory.access_token), { token: inv2.token });
    expect(accRevoked.res.statusCode).toBe(410);
    expect(accRevoked.body.error.code).toBe('invite_revoked');
    expect((await mutate('DELETE', `/v1/orgs/current/invites/${inv2.id}`, auth(owner.api_key))).res.statusCode).toBe(410);

    // Expired.
    const inv3 = (await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'mallory@elsewhere.test', role: 'member' })).body;
    await t.rt.admin.query(`update invites set expires_at = now() - interval '1 minute' where id = $1`, [inv3.id]);
    const accExpired = await mutate('POST', '/v1/invites/accept', bearer(mallory.access_token), { token: inv3.token });
    expect(accExpired.res.statusCode).toBe(410);
    expect(accExpired.body.error.code).toBe('invite_expired');
    expect(accExpired.audit).toEqual([]);
    expect((await t.rt.admin.query('select 1 from org_memberships where org_id = $1 and user_id = $2', [owner.org_id, mallory.user.id])).rows).toEqual([]);
    // An expired invite no longer blocks a new one.
    expect((await mutate('POST', '/v1/orgs/current/invites', auth(owner.api_key), { email: 'mallory@elsewhere.test', role: 'member' })).res.statusCode).toBe(201);
  });

  it('pages invites by id; malformed cursors and names are 400s with a code, never 500s', async () => {
    const o = await newOrg(t, 'pager@h.test', 'Iota');
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await mutate('POST', '/v1/orgs/current/invites', auth(o.api_key), { email: `p${n}@h.test`, role: 'member' })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await t.app.inject({ url: `/v1/orgs/current/invites?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: auth(o.api_key) });
      expect(r.statusCode).toBe(200);
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = r.json();
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].sort());
    for (const url of ['/v1/orgs/current/invites?cursor=not-an-id', '/v1/orgs/current/members?cursor=%00']) {
      const r = await t.app.inject({ url, headers: auth(o.api_key) });
      expect(r.statusCode).toBe(400);
      expect(['bad_request', 'validation_failed']).toContain(r.json().error.code);
    }
    const nul = await mutate('PATCH', '/v1/orgs/current', auth(o.api_key), { name: 'bad\u0000name' });
    expect(nul.res.statusCode).toBe(400);
    expect(nul.body.error.code).toBe('validation_failed');
    expect(nul.audit).toEqual([]);
  });

  it("another org's invite cannot be listed or revoked (404)", async () => {
    const a = await newOrg(t, 'a@g.test', 'Eta');
    const b = await newOrg(t, 'b@g.test', 'Theta');
    const invB = (await mutate('POST', '/v1/orgs/current/invites', auth(b.api_key), { email: 'q@g.test', role: 'member' })).body;
    const r = await mutate('DELETE', `/v1/orgs/current/invites/${invB.id}`, auth(a.api_key));
    expect(r.res.statusCode).toBe(404);
    expect(r.audit).toEqual([]);
    expect((await t.app.inject({ url: '/v1/orgs/current/invites', headers: auth(a.api_key) })).json().items).toEqual([]);
    expect((await t.rt.admin.query('select revoked_at from invites where id = $1', [invB.id])).rows[0].revoked_at).toBeNull();
  });
});
