import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createProjectVia, setMemberVia } from '../helpers/tenancy-fixtures.js';

describe('project members', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  const memberRows = async (projectId: string) =>
    (await t.rt.admin.query('select user_id, role from project_members where project_id = $1 order by user_id', [projectId])).rows;

  it('grants, changes, reads, lists and removes a member; each change audited with a before/after diff', async () => {
    const a = await newOrg(t, 'own@mem.test', 'Mem A');
    const m = await addOrgMember(t, a, 'dev@mem.test');
    const p = await createProjectVia(t, a.api_key, 'web');
    const h = auth(a.api_key);

    const put = await t.app.inject({ method: 'PUT', url: `/v1/projects/web/members/${m.user_id}`, headers: h, payload: { role: 'viewer' } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ project_id: p.id, user_id: m.user_id, email: 'dev@mem.test', role: 'viewer' });
    expect(await memberRows(p.id)).toEqual([{ user_id: m.user_id, role: 'viewer' }]);

    const change = await t.app.inject({ method: 'PUT', url: `/v1/projects/${p.id}/members/${m.user_id}`, headers: h, payload: { role: 'reviewer' } });
    expect(change.json().role).toBe('reviewer');
    expect(await memberRows(p.id)).toEqual([{ user_id: m.user_id, role: 'reviewer' }]);

    const one = await t.app.inject({ url: `/v1/projects/web/members/${m.user_id}`, headers: auth(m.api_key) });
    expect(one.statusCode).toBe(200);
    expect(one.json().role).toBe('reviewer');
    const list = await t.app.inject({ url: `/v1/projects/web/members`, headers: auth(m.api_key) });
    expect(list.json()).toEqual({ items: [expect.objectContaining({ user_id: m.user_id, role: 'reviewer' })], next_cursor: null });

    const del = await t.app.inject({ method: 'DELETE', url: `/v1/projects/web/members/${m.user_id}`, headers: h });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ project_id: p.id, user_id: m.user_id, removed: true });
    expect(await memberRows(p.id)).toEqual([]);
    const again = await t.app.inject({ method: 'DELETE', url: `/v1/projects/web/members/${m.user_id}`, headers: h });
    expect(again.statusCode).toBe(404);
    // No role any more: the member is refused the project.
    expect((await t.app.inject({ url: `/v1/projects/web/members`, headers: auth(m.api_key) })).statusCode).toBe(403);

    const audit = await t.rt.admin.query(
      `select action, actor_user_id, api_key_id, project_id, target_id, diff from audit_log where org_id = $1 and action like 'project_member.%' order by id`,
      [a.org_id],
    );
    expect(audit.rows).toEqual([
      { action: 'project_member.set', actor_user_id: a.user_id, api_key_id: a.api_key_id, project_id: p.id, target_id: m.user_id, diff: { before: null, after: { role: 'viewer' } } },
      { action: 'project_member.set', actor_user_id: a.user_id, api_key_id: a.api_key_id, project_id: p.id, target_id: m.user_id, diff: { before: { role: 'viewer' }, after: { role: 'reviewer' } } },
      { action: 'project_member.remove', actor_user_id: a.user_id, api_key_id: a.api_key_id, project_id: p.id, target_id: m.user_id, diff: { before: { role: 'reviewer' }, after: null } },
    ]);
  });

  it('only project admins change members; a project admin who is a plain org member may', async () => {
    const a = await newOrg(t, 'own2@mem.test', 'Mem B');
    const lead = await addOrgMember(t, a, 'lead@mem.test');
    const dev = await addOrgMember(t, a, 'dev2@mem.test');
    const p = await createProjectVia(t, a.api_key, 'api');
    await setMemberVia(t, a.api_key, 'api', lead.user_id, 'admin');
    await setMemberVia(t, a.api_key, 'api', dev.user_id, 'reviewer');

    const byDev = await t.app.inject({ method: 'PUT', url: `/v1/projects/api/members/${dev.user_id}`, headers: auth(dev.api_key), payload: { role: 'admin' } });
    expect(byDev.statusCode).toBe(403);
    expect(byDev.json().error.code).toBe('forbidden');
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/projects/api/members/${lead.user_id}`, headers: auth(dev.api_key) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PUT', url: `/v1/projects/api/members/${dev.user_id}`, headers: auth(lead.api_key), payload: { role: 'viewer' } })).statusCode).toBe(200);
    expect(await memberRows(p.id)).toEqual(
      [{ user_id: lead.user_id, role: 'admin' }, { user_id: dev.user_id, role: 'viewer' }].sort((x, y) => (x.user_id < y.user_id ? -1 : 1)),
    );
  });

  it('users outside the org, unknown users, other orgs’ projects and bad input are refused without leaking', async () => {
    const a = await newOrg(t, 'own3@mem.test', 'Mem C');
    const b = await newOrg(t, 'own3@mem-b.test', 'Mem CB');
    const bm = await addOrgMember(t, b, 'bravo-dev@mem-b.test');
    const p = await createProjectVia(t, a.api_key, 'site');
    const pb = await createProjectVia(t, b.api_key, 'bravo-site');
    await setMemberVia(t, b.api_key, 'bravo-site', bm.user_id, 'viewer');
    const h = auth(a.api_key);

    for (const user of [b.user_id, bm.user_id, randomUUID()]) {
      const r = await t.app.inject({ method: 'PUT', url: `/v1/projects/site/members/${user}`, headers: h, payload: { role: 'viewer' } });
      expect(r.statusCode).toBe(404);
      expect(r.json().error.code).toBe('not_found');
      expect(r.body).not.toContain('bravo');
    }
    expect(await memberRows(p.id)).toEqual([]);

    for (const [method, url] of [
      ['GET', `/v1/projects/${pb.id}/members`],
      ['GET', `/v1/projects/bravo-site/members/${bm.user_id}`],
      ['PUT', `/v1/projects/${pb.id}/members/${bm.user_id}`],
      ['DELETE', `/v1/projects/bravo-site/members/${bm.user_id}`],
    ] as const) {
      const r = await t.app.inject({ method, url, headers: h, ...(method === 'PUT' && { payload: { role: 'admin' } }) });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.body).not.toContain('bravo');
      expect(r.body).not.toContain(bm.user_id);
    }
    expect(await memberRows(pb.id)).toEqual([{ user_id: bm.user_id, role: 'viewer' }]);

    const badRole = await t.app.inject({ method: 'PUT', url: `/v1/projects/site/members/${a.user_id}`, headers: h, payload: { role: 'owner' } });
    expect(badRole.statusCode).toBe(400);
    expect(badRole.json().error.code).toBe('validation_failed');
    expect((await t.app.inject({ url: `/v1/projects/site/members/nope`, headers: h })).statusCode).toBe(400);
  });

  it('pages members by user id', async () => {
    const a = await newOrg(t, 'own4@mem.test', 'Mem D');
    await createProjectVia(t, a.api_key, 'big');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await addOrgMember(t, a, `u${i}@mem.test`);
      await setMemberVia(t, a.api_key, 'big', m.user_id, 'viewer');
      ids.push(m.user_id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ user_id: string }>; next_cursor: string | null } = (await t.app.inject({ url: `/v1/projects/big/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: auth(a.api_key) })).json();
      seen.push(...page.items.map((x) => x.user_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(ids.sort());
  });

  it('names people by email as well as by id: members, and the developer filter of reviews', async () => {
    const a = await newOrg(t, 'own@email.test', 'Email Org');
    const bob = await addOrgMember(t, a, 'bob@email.test');
    const other = await newOrg(t, 'own@elsewhere.test', 'Elsewhere');
    const p = await createProjectVia(t, a.api_key, 'api');
    const h = auth(a.api_key);
    const put = await t.app.inject({ method: 'PUT', url: '/v1/projects/api/members/Bob@Email.test', headers: h, payload: { role: 'reviewer' } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ project_id: p.id, user_id: bob.user_id, role: 'reviewer' });
    expect((await t.app.inject({ url: '/v1/projects/api/members/bob@email.test', headers: h })).json().user_id).toBe(bob.user_id);
    // Someone of another org, or nobody: not found, and nothing leaks about them.
    for (const who of ['own@elsewhere.test', 'nobody@email.test']) {
      const r = await t.app.inject({ method: 'PUT', url: `/v1/projects/api/members/${who}`, headers: h, payload: { role: 'viewer' } });
      expect(r.statusCode, who).toBe(404);
      expect(r.body).not.toContain(other.user_id);
    }
    const rv = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(bob.api_key), payload: { project_id: 'api', task_id: 'b1', target: { diff: 'diff --git a/x.ts b/x.ts\nnew file mode 100644\n--- /dev/null\n+++ b/x.ts\n@@ -0,0 +1 @@\n+export const x = 1;\n' } } });
    expect(rv.statusCode, rv.body).toBe(202);
    const mine = await t.app.inject({ url: '/v1/reviews?developer=bob@email.test', headers: h });
    expect(mine.json().items.map((r: { id: string }) => r.id)).toEqual([rv.json().id]);
    expect((await t.app.inject({ url: `/v1/reviews?developer=${a.user_id}`, headers: h })).json().items).toEqual([]);
    expect((await t.app.inject({ url: '/v1/reviews?developer=nobody@email.test', headers: h })).statusCode).toBe(404);
    const del = await t.app.inject({ method: 'DELETE', url: '/v1/projects/api/members/bob@email.test', headers: h });
    expect(del.json()).toEqual({ project_id: p.id, user_id: bob.user_id, removed: true });
  });
});
