import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { fillPath, openApiRoutes, sampleFor, type ApiRoute, type JsonSchema } from '../helpers/openapi-routes.js';
import { addOrgMember, createKeyVia, createProjectVia, setMemberVia, type Member } from '../helpers/tenancy-fixtures.js';

/**
 * Org A's credentials against org B's identifiers, on every route of the OpenAPI document.
 * Placeholders are chosen by parameter NAME, so a route added later is covered without editing
 * this file; an unknown name gets every kind of B identifier plus random ones.
 */

// Routes that may answer without credentials. Anything else answering without credentials fails.
const REVIEWED_PUBLIC = [/^\/v1\/auth\//];
const REFUSALS = new Set([400, 403, 404, 422]);

interface OrgWorld {
  owner: BootstrapResult;
  member: Member;
  projects: Array<{ id: string; slug: string; name: string }>;
  extraKey: { id: string; api_key: string };
}

async function buildWorld(t: TestApp, tag: 'alpha' | 'bravo'): Promise<OrgWorld> {
  const owner = await newOrg(t, `${tag}.owner@${tag}.test`, `${tag} Industries`);
  const member = await addOrgMember(t, owner, `${tag}.member@${tag}.test`);
  const p1 = await createProjectVia(t, owner.api_key, `${tag}-core`, `${tag} Core Platform`);
  const p2 = await createProjectVia(t, owner.api_key, `${tag}-secret-ops`, `${tag} Secret Ops`);
  await setMemberVia(t, owner.api_key, p1.slug, member.user_id, 'reviewer');
  await setMemberVia(t, owner.api_key, p2.slug, owner.user_id, 'admin');
  const extraKey = await createKeyVia(t, member.api_key, { name: `${tag}-limited`, projects: [p1.slug], max_role: 'viewer' });
  return { owner, member, projects: [p1, p2], extraKey };
}

type Category = 'project' | 'user' | 'key' | 'org' | 'unknown';
function categoryOf(name: string): Category {
  if (/project/i.test(name)) return 'project';
  if (/user|member|actor|owner/i.test(name)) return 'user';
  if (/org|tenant/i.test(name)) return 'org';
  if (/key/i.test(name)) return 'key';
  return 'unknown';
}

describe('isolation matrix (every OpenAPI route, org A credentials on org B identifiers)', () => {
  let t: TestApp;
  let A: OrgWorld;
  let B: OrgWorld;
  let routes: ApiRoute[];
  let bStrings: string[];
  let aCreds: Array<{ who: string; key: string }>;

  const hostile = (cat: Category): string[] => {
    const rnd = [randomUUID()];
    const projects = B.projects.flatMap((p) => [p.id, p.slug]);
    const users = [B.owner.user_id, B.member.user_id];
    const keys = [B.owner.api_key_id, B.member.api_key_id, B.extraKey.id];
    const orgs = [B.owner.org_id, B.owner.org_slug];
    switch (cat) {
      case 'project':
        return [...projects, ...rnd, 'no-such-project'];
      case 'user':
        return [...users, ...rnd];
      case 'key':
        return [...keys, ...rnd];
      case 'org':
        return [...orgs, ...rnd];
      default:
        return [...projects, ...users, ...keys, ...orgs, ...rnd, 'x'];
    }
  };
  const own = (cat: Category): string => {
    switch (cat) {
      case 'project':
        return A.projects[0]!.id;
      case 'user':
        return A.member.user_id;
      case 'org':
        return A.owner.org_id;
      default:
        return randomUUID();
    }
  };

  // Hostile body values: by property name, only for properties that name another resource.
  const bodyOverride = (pick: number) => (prop: string, schema: JsonSchema): unknown => {
    if (!/(^|_)(project|projects|user|user_id|member|actor|owner|org|org_id|key|key_id)(_id|_ids)?$/i.test(prop)) return undefined;
    const values = hostile(categoryOf(prop));
    const v = values[pick % values.length]!;
    return schema.type === 'array' ? [v] : v;
  };

  beforeAll(async () => {
    t = await createTestApp();
    A = await buildWorld(t, 'alpha');
    B = await buildWorld(t, 'bravo');
    routes = await openApiRoutes(t.app);
    const b = B.owner;
    const bKeys = await t.rt.admin.query('select id, prefix from api_keys where org_id = $1', [b.org_id]);
    bStrings = [
      b.org_id,
      b.org_slug,
      'bravo Industries',
      b.user_id,
      B.member.user_id,
      'bravo.owner',
      'bravo.member',
      ...B.projects.flatMap((p) => [p.id, p.slug, p.name]),
      ...bKeys.rows.flatMap((r) => [r.id, r.prefix]),
    ];
    aCreds = [
      { who: 'A owner', key: A.owner.api_key },
      { who: 'A member', key: A.member.api_key },
    ];
  });
  afterAll(async () => t.close());

  const snapshotB = async () => {
    const q = async (sql: string) => (await t.rt.admin.query(sql, [B.owner.org_id])).rows;
    return {
      projects: await q('select id, slug, name, repo_url, default_branch, settings, updated_at from projects where org_id = $1 order by id'),
      members: await q('select project_id, user_id, role from project_members where org_id = $1 order by project_id, user_id'),
      keys: await q('select id, name, project_ids, max_role, expires_at, revoked_at from api_keys where org_id = $1 order by id'),
      memberships: await q('select user_id, role from org_memberships where org_id = $1 order by user_id'),
      users: await q('select u.id, u.email, u.name, u.disabled from users u join org_memberships m on m.user_id = u.id where m.org_id = $1 order by u.id'),
      audit: await q('select count(*)::int as n from audit_log where org_id = $1'),
      org: await q('select name, slug, tier, settings from orgs where id = $1'),
    };
  };

  const leaks = (body: string) => bStrings.filter((s) => body.toLowerCase().includes(s.toLowerCase()));

  it('the document lists the tenancy routes and every non-public route refuses anonymous callers', async () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    for (const must of [
      'GET /v1/projects/{project}',
      'DELETE /v1/projects/{project}',
      'PUT /v1/projects/{project}/members/{user}',
      'DELETE /v1/keys/{id}',
      'GET /v1/audit',
    ]) {
      expect(names).toContain(must);
    }
    const unexpectedPublic: string[] = [];
    for (const r of routes) {
      const url = fillPath(r.path, Object.fromEntries(r.pathParams.map((p) => [p.name, randomUUID()])));
      const res = await t.app.inject({ method: r.method, url, ...(r.body && { payload: {} }) });
      if (res.statusCode !== 401 && !REVIEWED_PUBLIC.some((re) => re.test(r.path))) unexpectedPublic.push(`${r.method} ${r.path} → ${res.statusCode}`);
    }
    expect(unexpectedPublic).toEqual([]);
  });

  it("A's credentials on B's ids and random ids: always 4xx refusals, never B's data, B unchanged", async () => {
    const before = await snapshotB();
    const failures: string[] = [];
    const reachedHandler = new Map<string, boolean>();
    let calls = 0;
    const check = async (r: ApiRoute, cred: { who: string; key: string }, values: Record<string, string>, body: unknown, query = '') => {
      const url = fillPath(r.path, values) + query;
      const res = await t.app.inject({ method: r.method, url, headers: auth(cred.key), ...(body !== undefined && { payload: body as object }) });
      calls++;
      const label = `${cred.who}: ${r.method} ${url} ${body !== undefined ? JSON.stringify(body) : ''}`;
      if (!REFUSALS.has(res.statusCode)) failures.push(`${label} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      const found = leaks(res.body);
      if (found.length) failures.push(`${label} → leaked ${found.join(', ')}`);
      if (res.statusCode >= 400 && res.statusCode < 500 && typeof res.json().error?.code !== 'string') failures.push(`${label} → no error code`);
      if (res.statusCode === 403 || res.statusCode === 404) reachedHandler.set(`${r.method} ${r.path}`, true);
    };

    const protectedRoutes = routes.filter((r) => !REVIEWED_PUBLIC.some((re) => re.test(r.path)));
    for (const r of protectedRoutes.filter((x) => x.pathParams.length > 0)) {
      reachedHandler.set(`${r.method} ${r.path}`, false);
      const body = r.body ? sampleFor(r.body) : undefined;
      const cats = r.pathParams.map((p) => categoryOf(p.name));
      const ownValues = Object.fromEntries(r.pathParams.map((p, i) => [p.name, own(cats[i]!)]));
      const combos: Array<Record<string, string>> = [];
      // Each parameter in turn hostile, the others A's own (a foreign user on A's own project…).
      r.pathParams.forEach((p, i) => {
        for (const v of hostile(cats[i]!)) combos.push({ ...ownValues, [p.name]: v });
      });
      // …and everything hostile at once (B's user on B's project).
      combos.push(Object.fromEntries(r.pathParams.map((p, i) => [p.name, hostile(cats[i]!)[0]!])));
      for (const cred of aCreds) for (const values of combos) await check(r, cred, values, body);
    }

    // Bodies naming another resource (user_id, projects, …) get B's identifiers.
    for (const r of protectedRoutes.filter((x) => x.method !== 'GET' && x.body)) {
      const probe = sampleFor(r.body, bodyOverride(0));
      if (JSON.stringify(probe) === JSON.stringify(sampleFor(r.body))) continue;
      const ownValues = Object.fromEntries(r.pathParams.map((p) => [p.name, own(categoryOf(p.name))]));
      for (const cred of aCreds) for (let pick = 0; pick < 5; pick++) await check(r, cred, ownValues, sampleFor(r.body, bodyOverride(pick)));
    }

    expect(failures).toEqual([]);
    // Every parametrised route must have been exercised past validation at least once, or the
    // matrix would only be testing the validator.
    const onlyValidated = [...reachedHandler].filter(([, ok]) => !ok).map(([k]) => k);
    expect(onlyValidated, 'these routes only ever answered 400: teach sampleFor (test/helpers/openapi-routes.ts) a valid body for them').toEqual([]);
    expect(calls).toBeGreaterThan(100);
    expect(await snapshotB()).toEqual(before);
  });

  it("listings (and their query filters set to B's ids) return only A's rows", async () => {
    const failures: string[] = [];
    let sawOwnData = 0;
    const aStrings = [A.owner.org_id, A.owner.user_id, ...A.projects.map((p) => p.id)];
    const gets = routes.filter((r) => r.method === 'GET' && !REVIEWED_PUBLIC.some((re) => re.test(r.path)));
    for (const r of gets) {
      const ownValues = Object.fromEntries(r.pathParams.map((p) => [p.name, own(categoryOf(p.name))]));
      const queries = [''];
      for (const q of r.queryParams) for (const v of hostile(categoryOf(q.name))) queries.push(`?${encodeURIComponent(q.name)}=${encodeURIComponent(v)}`);
      for (const cred of aCreds) {
        for (const query of queries) {
          const url = fillPath(r.path, ownValues) + query;
          const res = await t.app.inject({ url, headers: auth(cred.key) });
          if (res.statusCode >= 500) failures.push(`${cred.who}: GET ${url} → ${res.statusCode}`);
          const found = leaks(res.body);
          if (found.length) failures.push(`${cred.who}: GET ${url} → leaked ${found.join(', ')}`);
          if (query === '' && res.statusCode === 200 && aStrings.some((s) => res.body.includes(s))) sawOwnData++;
        }
      }
    }
    expect(failures).toEqual([]);
    // The listings do return A's own rows: the absence of B's is not an empty answer everywhere.
    expect(sawOwnData).toBeGreaterThanOrEqual(3);
  });
});
