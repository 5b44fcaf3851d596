import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';

/**
 * Cursor pagination of reviews and knowledge visits every row exactly once, also rows that share a
 * created_at (one review's knowledge entries) or differ only below the millisecond.
 */
describe('cursor pagination of reviews and knowledge', () => {
  let t: TestApp;
  let o: BootstrapResult;
  beforeAll(async () => {
    t = await createTestApp();
    o = await newOrg(t, 'pages@p.test', 'Pages');
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(o.api_key), payload: { slug: 'pg' } });
  });
  afterAll(async () => t?.close());

  const walk = async (url: string, limit: number) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 100; i++) {
      const r = await t.app.inject({ url: `${url}${url.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers: auth(o.api_key) });
      expect(r.statusCode, r.body).toBe(200);
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = r.json();
      seen.push(...page.items.map((x) => x.id));
      cursor = page.next_cursor;
      if (!cursor) return seen;
    }
    throw new Error('pagination did not end');
  };

  it('knowledge entries written by one review (one timestamp) are all listed, page after page', async () => {
    const diff = [1, 2, 3, 4, 5].map((i) => newFileDiff(`src/q${i}.ts`, SQLI_TS.replace('findUser', `find${i}`))).join('');
    const r = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(o.api_key), payload: { project_id: 'pg', task_id: 'k', target: { diff } } });
    expect(r.statusCode, r.body).toBe(200);
    const all = (await t.rt.admin.query(`select id from knowledge where org_id = $1`, [o.org_id])).rows.map((x) => x.id as string);
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(new Set((await t.rt.admin.query(`select created_at from knowledge where org_id = $1`, [o.org_id])).rows.map((x) => x.created_at.getTime())).size).toBe(1);
    for (const limit of [1, 2, 3]) {
      const seen = await walk('/v1/projects/pg/knowledge', limit);
      expect(seen.length, `limit ${limit}`).toBe(all.length);
      expect(new Set(seen)).toEqual(new Set(all));
    }
  });

  it('reviews created within one millisecond are all listed, in order, once', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(o.api_key), payload: { project_id: 'pg', task_id: `r${i}`, target: { diff: newFileDiff('a.ts', 'export const a = 1;\n') } } });
      expect(r.statusCode).toBe(202);
    }
    // Two apart by microseconds inside one millisecond, three sharing one instant exactly.
    const ids = (await t.rt.admin.query(`select id from reviews where org_id = $1 and task_id like 'r%' order by task_id`, [o.org_id])).rows.map((x) => x.id as string);
    await t.rt.admin.query(`update reviews set created_at = '2026-01-01T00:00:00.123456Z' where id = any($1)`, [ids.slice(0, 3)]);
    await t.rt.admin.query(`update reviews set created_at = '2026-01-01T00:00:00.123789Z' where id = $1`, [ids[3]]);
    await t.rt.admin.query(`update reviews set created_at = '2026-01-01T00:00:00.123001Z' where id = $1`, [ids[4]]);
    const expected = (await t.rt.admin.query(`select id from reviews where org_id = $1 order by created_at desc, id desc`, [o.org_id])).rows.map((x) => x.id as string);
    for (const limit of [1, 2, 4]) expect(await walk('/v1/reviews?project=pg', limit), `limit ${limit}`).toEqual(expected);
  });

  it('since takes an ISO 8601 date or date-time; anything else is a 400 that says so', async () => {
    const all = (await t.app.inject({ url: '/v1/reviews?project=pg&limit=200', headers: auth(o.api_key) })).json().items.length;
    expect((await t.app.inject({ url: '/v1/reviews?project=pg&limit=200&since=2020-01-01', headers: auth(o.api_key) })).json().items).toHaveLength(all);
    expect((await t.app.inject({ url: `/v1/reviews?project=pg&since=${encodeURIComponent('2999-01-01T00:00:00Z')}`, headers: auth(o.api_key) })).json().items).toEqual([]);
    for (const since of ['yesterday', '2026-13-45', '1']) {
      const r = await t.app.inject({ url: `/v1/reviews?since=${since}`, headers: auth(o.api_key) });
      expect(r.statusCode, since).toBe(400);
      expect(r.json().error.code).toBe('validation_failed');
      expect(JSON.stringify(r.json().error.details)).toContain('since');
    }
  });

  it('a cursor this API did not hand out is a 400, not the first page again', async () => {
    for (const url of ['/v1/reviews', '/v1/projects/pg/knowledge']) {
      for (const cursor of ['garbage', '2026-01-01T00:00:00Z|not-a-uuid', '|', 'x|00000000-0000-0000-0000-000000000000']) {
        const r = await t.app.inject({ url: `${url}?cursor=${encodeURIComponent(cursor)}`, headers: auth(o.api_key) });
        expect(r.statusCode, `${url} ${cursor}`).toBe(400);
        expect(r.json().error.code).toBe('validation_failed');
      }
    }
  });
});
