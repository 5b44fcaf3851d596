import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeThroughGate } from '../../src/core/llm/providers/gated.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { addOrgMember, createProjectVia } from '../helpers/tenancy-fixtures.js';
import { AnthropicStandIn, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/** GET /v1/usage and /v1/limits over the ledger the gate writes (Anthropic stand-in behind the real SDK). */
describe('usage and limits API', () => {
  let t: TestApp;
  let standIn: AnthropicStandIn;
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({ respond: () => ({ type: 'text', text: 'fine', outputTokens: 40 }) });
    t = await createTestApp({ ANTHROPIC_API_KEY: STAND_IN_API_KEY, ANTHROPIC_BASE_URL: standIn.url, QUORUM_ANTHROPIC_MODEL: 'claude-haiku-4-5' });
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.close();
  });

  const call = (orgId: string, userId: string, projectId?: string) =>
    completeThroughGate(t.rt.deps.gate, t.rt.deps.llm.get('anthropic'), { orgId, userId, ...(projectId && { projectId }), priority: 'normal' }, { system: 's', prompt: 'hello there', maxTokens: 256 });

  it('admins see the org grouped any way; members see only their own calls; sums match the ledger', async () => {
    const a = await newOrg(t, 'admin@usage.test', 'Usage Org');
    const member = await addOrgMember(t, a, 'dev@usage.test', 'member');
    const web = await createProjectVia(t, a.api_key, 'web');
    await call(a.org_id, a.user_id, web.id);
    await call(a.org_id, a.user_id, web.id);
    await call(a.org_id, member.user_id, web.id);
    const other = await newOrg(t, 'x@other-usage.test', 'Other Usage');
    await call(other.org_id, other.user_id);

    await t.rt.deps.gate.drain?.(); // accounting runs in the background
    const byUser = await t.app.inject({ method: 'GET', url: '/v1/usage?group_by=user', headers: auth(a.api_key) });
    expect(byUser.statusCode, byUser.body).toBe(200);
    const u = byUser.json();
    expect(u.scope).toBe('org');
    expect(u.total.calls).toBe(3);
    expect(u.items.map((r: { label: string; calls: number }) => [r.label, r.calls]).sort()).toEqual([
      ['admin@usage.test', 2],
      ['dev@usage.test', 1],
    ]);
    const ledger = await t.rt.admin.query(`select sum(cost_usd)::float8 c, sum(input_tokens)::int i from usage_ledger where org_id = $1`, [a.org_id]);
    expect(u.total.cost_usd).toBeCloseTo(ledger.rows[0].c, 6);
    expect(u.total.input_tokens).toBe(ledger.rows[0].i);
    expect(u.total.cost_usd).toBeGreaterThan(0);

    const byModel = (await t.app.inject({ method: 'GET', url: '/v1/usage?group_by=model', headers: auth(a.api_key) })).json();
    expect(byModel.items).toHaveLength(1);
    expect(byModel.items[0].key).toBe('claude-haiku-4-5');
    const byProject = (await t.app.inject({ method: 'GET', url: '/v1/usage?group_by=project&project=web', headers: auth(a.api_key) })).json();
    expect(byProject.items[0]).toMatchObject({ key: web.id, label: 'web', calls: 3 });

    const mine = (await t.app.inject({ method: 'GET', url: '/v1/usage?group_by=user', headers: auth(member.api_key) })).json();
    expect(mine.scope).toBe('self');
    expect(mine.total.calls).toBe(1);
    expect(mine.items[0].label).toBe('dev@usage.test');
  });

  it('bad queries are 400 with a code', async () => {
    const a = await newOrg(t, 'q@usage.test', 'Q Org');
    for (const url of ['/v1/usage?group_by=planet', '/v1/usage?from=yesterday', '/v1/usage?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z']) {
      const r = await t.app.inject({ method: 'GET', url, headers: auth(a.api_key) });
      expect(r.statusCode, url).toBe(400);
      expect(r.json().error.code).toBe('validation_failed');
    }
    const r = await t.app.inject({ method: 'GET', url: '/v1/usage?project=nope', headers: auth(a.api_key) });
    expect(r.statusCode).toBe(404);
  });

  it('limits: admins set budgets and rate limits (audited), members cannot, other orgs are invisible', async () => {
    const a = await newOrg(t, 'l@usage.test', 'Limits Org');
    const member = await addOrgMember(t, a, 'm@usage.test', 'member');
    await createProjectVia(t, a.api_key, 'api');
    const put = (key: string, payload: unknown) => t.app.inject({ method: 'PUT', url: '/v1/limits', headers: auth(key), payload: payload as Record<string, unknown> });

    const org = await put(a.api_key, { scope: 'org', monthly_budget_usd: 25 });
    expect(org.statusCode, org.body).toBe(200);
    expect(org.json()).toMatchObject({ scope: 'org', subject_id: a.org_id, monthly_budget_usd: 25, rpm: null });
    const proj = await put(a.api_key, { scope: 'project', subject: 'api', monthly_budget_usd: 5 });
    expect(proj.statusCode, proj.body).toBe(200);
    const usr = await put(a.api_key, { scope: 'user', subject: 'm@usage.test', rpm: 30, tpm: 50_000 });
    expect(usr.statusCode, usr.body).toBe(200);
    expect(usr.json()).toMatchObject({ scope: 'user', subject_id: member.user_id, rpm: 30, tpm: 50_000 });
    // Partial update keeps the rest; null clears one value.
    const upd = await put(a.api_key, { scope: 'user', subject: member.user_id, rpm: null });
    expect(upd.json()).toMatchObject({ rpm: null, tpm: 50_000 });

    const list = await t.app.inject({ method: 'GET', url: '/v1/limits', headers: auth(a.api_key) });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ tier: 'free', defaults: { org_monthly_budget_usd: 10 } });
    expect(list.json().items).toHaveLength(3);

    expect((await put(member.api_key, { scope: 'org', monthly_budget_usd: 1000 })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/v1/limits', headers: auth(member.api_key) })).statusCode).toBe(403);
    expect((await put(a.api_key, { scope: 'key', subject: a.api_key_id, monthly_budget_usd: 1 })).statusCode).toBe(400);
    expect((await put(a.api_key, { scope: 'project', subject: 'api', rpm: 5 })).statusCode).toBe(400);
    expect((await put(a.api_key, { scope: 'user', rpm: 5 })).statusCode).toBe(400);

    const b = await newOrg(t, 'b@usage.test', 'B Limits');
    await createProjectVia(t, b.api_key, 'secret-proj');
    expect((await put(a.api_key, { scope: 'project', subject: 'secret-proj', monthly_budget_usd: 1 })).statusCode).toBe(404);
    expect((await put(a.api_key, { scope: 'user', subject: 'b@usage.test', rpm: 1 })).statusCode).toBe(404);
    const theirs = await t.rt.admin.query(`select id from gate_limits where org_id = $1`, [a.org_id]);
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/limits/${theirs.rows[0].id}`, headers: auth(b.api_key) });
    expect(del.statusCode).toBe(404);

    const audit = await t.rt.admin.query(`select action, actor_user_id from audit_log where org_id = $1 and action like 'limit.%' order by id`, [a.org_id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['limit.set', 'limit.set', 'limit.set', 'limit.set']);
    expect(new Set(audit.rows.map((r) => r.actor_user_id))).toEqual(new Set([a.user_id]));
  });

  it('a budget set through the API applies to the very next call in this process', async () => {
    const a = await newOrg(t, 'z@usage.test', 'Zero Budget');
    const p = await createProjectVia(t, a.api_key, 'capped');
    await call(a.org_id, a.user_id, p.id); // warms the gate's policy cache for this org
    const r = await t.app.inject({ method: 'PUT', url: '/v1/limits', headers: auth(a.api_key), payload: { scope: 'project', subject: 'capped', monthly_budget_usd: 0 } });
    expect(r.statusCode).toBe(200);
    await expect(call(a.org_id, a.user_id, p.id)).rejects.toMatchObject({ code: 'budget_exceeded', details: { scope: 'project', subject_id: p.id } });
    // The org's other projects are not affected.
    await expect(call(a.org_id, a.user_id)).resolves.toMatchObject({ text: 'fine' });
  });
});
