import fs from 'node:fs/promises';
import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knowledgePath } from '../../src/core/review/review-files.js';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import pino from 'pino';
import { buildApp } from '../../src/adapters/http/app.js';
import { allRoutes } from '../../src/adapters/http/all-routes.js';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { openRuntime } from '../../src/main/runtime.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { addOrgMember, setMemberVia } from '../helpers/tenancy-fixtures.js';

/**
 * KNOWLEDGE.md as exported (incrementally: only entries this process has not rendered yet are read
 * whole) is the same text as GET /v1/projects/{p}/knowledge.md renders from the database, after
 * sequential and after concurrent reviews.
 */
describe('KNOWLEDGE.md export', () => {
  let t: TestApp;
  let owner: BootstrapResult;
  let projectId: string;
  let worker: WorkerHandle;
  beforeAll(async () => {
    t = await createTestApp();
    // Twelve reviews at once are more than the free tier's ten slots: those started while ten run
    // are queued, and a worker runs them when a slot frees (as `quorum serve` does).
    worker = await startWorker(t.rt, { concurrency: 4 });
    owner = await newOrg(t, 'owner@kexport.test', 'Knowledge Export');
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(owner.api_key), payload: { slug: 'kx' } });
    projectId = p.json().id;
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
  });

  const review = (i: number, key = owner.api_key, app = t.app) =>
    app.inject({
      method: 'POST',
      url: '/v1/review',
      headers: auth(key),
      payload: { project_id: 'kx', task_id: `k-${i}`, target: { diff: newFileDiff(`src/q${i}.ts`, SQLI_TS.replace('findUser', `find${i}`)) } },
    });
  const file = () => fs.readFile(knowledgePath(t.rt.config.dataDir, owner.org_id, projectId), 'utf8');
  const api = async () => (await t.app.inject({ url: '/v1/projects/kx/knowledge.md', headers: auth(owner.api_key) })).body;
  /** A finding of review `f.review_id` and the knowledge entry it makes, inserted by `c` (in its transaction, if one is open). */
  const insertEntry = async (c: { query: PoolClient['query'] }, f: Record<string, string>, e: { title: string; file: string; detail: string }) => {
    const { rows: [nf] } = await c.query(
      `insert into findings (org_id, project_id, review_id, developer_id, fingerprint, file, line_start, line_end, category, severity, score, title, detail, reviewers, agreement, panel_size)
       values ($1, $2, $3, $4, $5, $6, 1, 1, 'security', 9, 9, $7, $8, '{security}', 1, 5) returning id`,
      [f.org_id, f.project_id, f.review_id, f.developer_id, `fp-${e.title}`, e.file, e.title, e.detail],
    );
    await c.query(
      `insert into knowledge (org_id, project_id, review_id, finding_id, developer_id, category, normalized_title, title, file, severity, detail)
       values ($1, $2, $3, $4, $5, 'security', lower($6), $6, $7, 9, $8)`,
      [f.org_id, f.project_id, f.review_id, nf.id, f.developer_id, e.title, e.file, e.detail],
    );
  };
  const rows = async () => Number((await t.rt.admin.query(`select count(*)::int n from knowledge where project_id = $1`, [projectId])).rows[0].n);

  it('matches the API rendering entry for entry, after sequential and concurrent reviews', async () => {
    for (let i = 0; i < 3; i++) expect((await review(i)).statusCode).toBe(200);
    expect(await file()).toBe(await api());
    const n = await rows();
    expect(n).toBeGreaterThanOrEqual(3);
    expect((await file()).match(/^## /gm)).toHaveLength(n);

    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => review(100 + i)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array<number>(12).fill(200));
    const all = await rows();
    expect(all).toBeGreaterThanOrEqual(n + 12);
    const md = await file();
    expect(md).toBe(await api());
    expect(md.match(/^## /gm)).toHaveLength(all);
    expect(md).toContain(`(${all} entries)`);
  });

  // Exports read only what changed since this process's last one (by inserting transaction): a row
  // whose transaction was still open during an export, and committed after it, is in the next one.
  it('includes an entry committed after an export that ran while its transaction was open', async () => {
    const { rows: [f] } = await t.rt.admin.query(`select * from findings where project_id = $1 limit 1`, [projectId]);
    const late = await t.rt.admin.connect();
    try {
      await late.query('begin');
      await insertEntry(late, f, { title: 'Late entry', file: 'src/late.ts', detail: 'Committed after an export began' });
      expect((await review(200)).statusCode).toBe(200);
      expect(await file()).not.toContain('Late entry');
      await late.query('commit');
    } finally {
      late.release();
    }
    // One entry also goes (a deletion mark: this export reads the project anew, and must still find the late row).
    const deleted = await t.rt.admin.query(
      `delete from knowledge where id = (select id from knowledge where project_id = $1 and title <> 'Late entry' order by created_at desc, id desc limit 1)`,
      [projectId],
    );
    expect(deleted.rowCount).toBe(1);
    expect((await review(201)).statusCode).toBe(200);
    const md = await file();
    expect(md).toContain('## Late entry');
    expect(md).toBe(await api());
    expect(md.match(/^## /gm)).toHaveLength(await rows());
  });

  it('follows deletions, renamed authors and members who left', async () => {
    const carol = await addOrgMember(t, owner, 'carol@kexport.test');
    await setMemberVia(t, owner.api_key, 'kx', carol.user_id, 'reviewer');
    expect((await review(300, carol.api_key)).statusCode).toBe(200);
    expect(await file()).toContain('found by carol on');

    // A review and what it found go away (cascade): the deletion's mark tells the export to read anew.
    const { rows: [gone] } = await t.rt.admin.query(`select review_id from knowledge where project_id = $1 and title <> 'Late entry' order by created_at limit 1`, [projectId]);
    await t.rt.admin.query('delete from reviews where id = $1', [gone.review_id]);
    await t.rt.admin.query(`update users set name = 'Owner Renamed' where id = $1`, [owner.user_id]);
    await t.rt.admin.query('delete from org_memberships where org_id = $1 and user_id = $2', [owner.org_id, carol.user_id]);
    expect((await review(301)).statusCode).toBe(200);
    const md = await file();
    expect(md).not.toContain(`(review ${gone.review_id})`);
    expect(md).toContain('found by Owner Renamed on');
    expect(md).not.toContain('found by carol');
    expect(md).toContain('found by a former member on');
    expect(md).toBe(await api());
    expect(md.match(/^## /gm)).toHaveLength(await rows());
  });

  it('agrees with another process that exports the same project in turn', async () => {
    const rt2 = await openRuntime(t.rt.config, { logger: pino({ level: 'silent' }), migrate: false });
    const app2 = await buildApp(rt2.deps, { version: 'test', extraRoutes: allRoutes });
    try {
      for (let i = 0; i < 3; i++) {
        expect((await review(400 + i, owner.api_key, app2)).statusCode).toBe(200);
        expect(await file()).toBe(await api());
        expect((await review(410 + i)).statusCode).toBe(200);
        expect(await file()).toBe(await api());
      }
      expect((await file()).match(/^## /gm)).toHaveLength(await rows());
    } finally {
      await app2.close();
      await rt2.close();
    }
  });
  // A review that adds knowledge writes KNOWLEDGE.md in its completing transaction, before the
  // commit: when a worker completes it, the file holds its entries the moment it reads completed.
  it('a review completed by a worker: the file holds its entries as soon as the review is completed', async () => {
    const started = await t.app.inject({
      method: 'POST',
      url: '/v1/review/async',
      headers: auth(owner.api_key),
      payload: { project_id: 'kx', task_id: 'k-async', target: { diff: newFileDiff('src/async.ts', SQLI_TS.replace('findUser', 'findAsync')) } },
    });
    expect(started.statusCode).toBe(202);
    const id = started.json().id as string;
    const deadline = Date.now() + 30_000;
    let status = '';
    while (status !== 'completed' && Date.now() < deadline) {
      // The database, not the API: nothing of this process exports on the way.
      status = (await t.rt.admin.query(`select status from reviews where id = $1`, [id])).rows[0].status;
      if (status !== 'completed') await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('completed');
    const md = await file();
    expect(md).toContain(`(review ${id})`);
    expect(md).toBe(await api());
  });

  // The file is written before the commit: a completion that does not commit must not leave its
  // entries in it. A deferred trigger fails the commit of one task's completion, every attempt.
  it('a completion that fails at commit leaves the file as the database is, without its entries', async () => {
    await t.rt.admin.query(`create function test_refuse_completion() returns trigger language plpgsql as $$
      begin raise exception 'refused by the test'; end $$`);
    await t.rt.admin.query(`create constraint trigger test_refuse_completion after update on reviews deferrable initially deferred
      for each row when (new.task_id = 'k-doomed' and new.status = 'completed') execute function test_refuse_completion()`);
    let id = '';
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/review',
        headers: auth(owner.api_key),
        payload: { project_id: 'kx', task_id: 'k-doomed', timeout_s: 1, target: { diff: newFileDiff('src/doomed.ts', SQLI_TS.replace('findUser', 'findDoomed')) } },
      });
      expect(res.statusCode).toBe(202);
      id = res.json().id;
      // Between attempts (the worker's retry waits), the file is the database's: no entry of the review.
      const deadline = Date.now() + 20_000;
      let consistent = false;
      while (!consistent && Date.now() < deadline) {
        const [md, rendered] = await Promise.all([file(), api()]);
        consistent = md === rendered && !md.includes(`(review ${id})`);
        if (!consistent) await new Promise((r) => setTimeout(r, 50));
      }
      expect(consistent).toBe(true);
      expect((await t.rt.admin.query(`select count(*)::int as n from knowledge where review_id = $1`, [id])).rows[0].n).toBe(0);
      expect((await t.rt.admin.query(`select status from reviews where id = $1`, [id])).rows[0].status).not.toBe('completed');
    } finally {
      if (id) await t.app.inject({ method: 'POST', url: `/v1/reviews/${id}/cancel`, headers: auth(owner.api_key) });
      await t.rt.admin.query('drop trigger test_refuse_completion on reviews');
      await t.rt.admin.query('drop function test_refuse_completion()');
    }
  });

  it('severities are rounded as PostgreSQL rounds numeric(4, 2): the file, the API and the rows agree', async () => {
    const { roundTo2 } = await import('../../src/core/review/finalize-review.js');
    const xs = [0, 1, 7, 7.5, 7.333333333333333, 6.666666666666667, 7.125, 7.135, 8.005, 1.005, 2.675, 9.995, 4.444999, 0.125, 10];
    for (let i = 0; i < 200; i++) xs.push(Math.round(Math.random() * 1e6) / 1e5, Math.random() * 10);
    const { rows: r } = await t.rt.admin.query(`select x::float8 as x, round(x::numeric, 2)::float8 as r from unnest($1::text[]) as x`, [xs.map(String)]);
    expect(r.map((x: { x: number }) => roundTo2(x.x))).toEqual(r.map((x: { r: number }) => x.r));
  });
  // quorum.knowledge_delta takes the project's lock, then reads with a snapshot of its own: a call
  // that waited for the lock sees what the holder committed (a statement's snapshot, taken before
  // the wait, would not — and that export would write a file without the holder's entries).
  it('a delta read that waits for the knowledge lock sees what the holder committed meanwhile', async () => {
    expect((await review(499)).statusCode).toBe(200);
    const { rows: [f] } = await t.rt.admin.query(`select * from findings where project_id = $1 limit 1`, [projectId]);
    const holder = await t.rt.appPool.connect();
    const reader = await t.rt.appPool.connect();
    const enter = (c: typeof holder) => c.query(`begin; select set_config('quorum.org_id', '${owner.org_id}', true)`);
    const delta = (c: typeof holder, since: string) =>
      c.query(`select quorum.knowledge_delta($1, $2::xid8, '{}', '{}', 5000) as d`, [projectId, since]).then((r) => r.rows[0].d as { rows: Array<{ title: string }> });
    try {
      const since = (await t.rt.admin.query(`select pg_snapshot_xmin(pg_current_snapshot())::text as x`)).rows[0].x as string;
      await enter(holder);
      await delta(holder, since); // the lock
      await insertEntry(holder, f, { title: 'Held entry', file: 'src/held.ts', detail: 'Inserted under the lock' });
      await enter(reader);
      let settled = false;
      const waiting = delta(reader, since).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false); // it waits for the lock
      await holder.query('commit');
      const d = await waiting;
      expect(d.rows.map((r) => r.title)).toContain('Held entry');
      await reader.query('commit');
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await reader.query('rollback').catch(() => undefined);
      holder.release();
      reader.release();
    }
    expect((await review(500)).statusCode).toBe(200);
    expect(await file()).toBe(await api());
  });
  // The lock is taken early (the file is written while the insert runs) only when it is free; a
  // review that finds it held inserts first, then waits for it, and exports with its entries read
  // back from its own transaction.
  it('a review that finds the knowledge lock held exports after its insert, once the holder commits', async () => {
    const holder = await t.rt.appPool.connect();
    try {
      await holder.query(`begin; select set_config('quorum.org_id', '${owner.org_id}', true)`);
      await holder.query(`select quorum.knowledge_delta($1, '0'::xid8, '{}', '{}', 1)`, [projectId]);
      let answered = false;
      const answer = review(600).finally(() => (answered = true));
      // It gets as far as its insert (its findings are visible to nobody yet) and waits for the lock.
      const waiting = async () =>
        (await t.rt.admin.query(`select 1 from pg_locks where locktype = 'advisory' and not granted`)).rows.length > 0;
      for (let i = 0; i < 200 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 25));
      expect(await waiting()).toBe(true);
      expect(answered).toBe(false);
      await holder.query('commit');
      const res = await answer;
      expect(res.statusCode).toBe(200);
      expect(await file()).toContain(`(review ${res.json().id})`);
      expect(await file()).toBe(await api());
    } finally {
      await holder.query('rollback').catch(() => undefined);
      holder.release();
    }
  });
  // The file shows the newest 5,000 entries. Past that, each export adds the new entries in front
  // and cuts as many off the end; entries that land in the middle (another process's, older than
  // what this one wrote) make it join the file anew. Either way it is the API's rendering.
  it('past 5,000 entries: the newest 5,000, as entries come in front and in the middle', async () => {
    const cap = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(owner.api_key), payload: { slug: 'kcap' } });
    const capId = cap.json().id as string;
    const capFile = () => fs.readFile(knowledgePath(t.rt.config.dataDir, owner.org_id, capId), 'utf8');
    const capApi = async () => (await t.app.inject({ url: '/v1/projects/kcap/knowledge.md', headers: auth(owner.api_key) })).body;
    const reviewCap = async (i: number) => {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/review',
        headers: auth(owner.api_key),
        payload: { project_id: 'kcap', task_id: `cap-${i}`, target: { diff: newFileDiff(`src/c${i}.ts`, SQLI_TS.replace('findUser', `cap${i}`)) } },
      });
      expect(r.statusCode, r.body).toBe(200);
      return r.json().id as string;
    };
    const first = await reviewCap(0);
    // 5,030 older entries (an hour to a day old) of that review, inserted by another "process".
    const bulk = async (n: number, offsetSql: string, tag: string) =>
      t.rt.admin.query(
        `with f as (
           insert into findings (org_id, project_id, review_id, developer_id, fingerprint, file, line_start, line_end, category, severity, score, title, detail, reviewers, agreement, panel_size, created_at)
           select $1, $2, $3, $4, $5 || i, 'src/bulk.ts', i, i, 'security', 8, 8, 'Bulk entry ' || $5 || i, 'detail ' || i, '{security}', 1, 5, now() - (${offsetSql})
             from generate_series(1, $6::int) i
           returning id, title, line_start, created_at)
         insert into knowledge (org_id, project_id, review_id, finding_id, developer_id, category, normalized_title, title, file, severity, detail, created_at)
         select $1, $2, $3, f.id, $4, 'security', lower(f.title), f.title, 'src/bulk.ts', 8, 'detail ' || f.line_start, f.created_at from f`,
        [owner.org_id, capId, first, owner.user_id, tag, n],
      );
    await bulk(5_030, `interval '1 hour' + i * interval '10 seconds'`, 'old-');
    await reviewCap(1);
    let md = await capFile();
    expect(md.match(/^## /gm)).toHaveLength(5_000);
    expect(md).toBe(await capApi());
    // Entries in front, a few times (the oldest are cut off the end each time).
    for (let i = 2; i < 5; i++) {
      await reviewCap(i);
      md = await capFile();
      expect(md.match(/^## /gm)).toHaveLength(5_000);
      expect(md).toBe(await capApi());
    }
    // Entries that belong in the middle (created half an hour ago), then a review.
    await bulk(3, `interval '30 minutes' + i * interval '1 second'`, 'mid-');
    await reviewCap(5);
    md = await capFile();
    expect(md).toContain('## Bulk entry mid-1');
    expect(md).toBe(await capApi());
  });
});
