import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, mirrorGit, parseKnowledgeMd, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo, newFileDiff, SQLI_TS } from '../helpers/git.js';

/**
 * Seed acceptance test 1 (concurrent project reviews) with real processes: one API process and two
 * worker processes on one PostgreSQL. Six projects reviewed at once with the same task id, then
 * 100 concurrent reviews with one task id in one project: no collision of worktrees, branches,
 * reports or knowledge.
 */
describe('seed test 1: concurrent project reviews (API + 2 workers, real processes)', () => {
  let c: Cluster;
  let api: ApiProc;
  let owner: Creds;
  const repos: string[] = [];

  beforeAll(async () => {
    c = await Cluster.start();
    api = await c.startApi();
    await Promise.all([c.startWorker(), c.startWorker()]);
    owner = await c.bootstrap('owner@seed1.test', 'Seed One', 'Olive Owner');
  });
  afterAll(async () => {
    await c?.close();
    await Promise.all(repos.map((r) => fs.rm(r, { recursive: true, force: true })));
  });

  const reportsDir = (projectId: string) => path.join(c.dataDir, 'reports', owner.org_id, projectId);
  const noLeases = () => c.until('every worktree lease released', async () => (await c.q('select 1 from worktree_leases')).length === 0, 30_000);

  it('six projects, six concurrent POST /v1/review with task_id "test" → six reports, no collision, valid knowledge', async () => {
    const projects: Array<{ slug: string; id: string; file: string }> = [];
    for (let i = 1; i <= 6; i++) {
      const slug = `proj${i}`;
      const file = `src/${slug}/users.ts`;
      const repo = await makeRepo({ [file]: SQLI_TS.replace('findUser', `findUserOf${slug}`) });
      repos.push(repo);
      const r = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug, repo_url: repo } });
      expect(r.status, r.text).toBe(201);
      projects.push({ slug, id: r.body.id, file });
    }

    const t0 = Date.now();
    // The seed's `for i in 1..6: curl -X POST /v1/review -d '{"project_id":"proj'$i'","task_id":"test"}' &`.
    const results = await Promise.all(
      projects.map((p) => http(api, 'POST', '/v1/review', { key: owner.api_key, body: { project_id: p.slug, task_id: 'test' } })),
    );
    const elapsed = Date.now() - t0;
    for (const [i, r] of results.entries()) {
      expect(r.status, r.text).toBe(200);
      expect(r.body).toMatchObject({ status: 'completed', task_id: 'test', project_id: projects[i]!.id, developer_id: owner.user_id });
      expect(r.body.progress).toEqual({ completed: 5, total: 5 });
      expect(r.body.findings.some((f: { file: string; rules: string[] }) => f.file === projects[i]!.file && f.rules.includes('injection/sql-concat'))).toBe(true);
    }
    expect(new Set(results.map((r) => r.body.id)).size).toBe(6);

    const rows = await c.q(`select project_id, status, attempts from reviews where task_id = 'test'`);
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.status === 'completed')).toBe(true);

    // Six separate reports REVIEW-proj{1..6}-test.md, each about its own project only.
    for (const p of projects) {
      const md = await fs.readFile(path.join(reportsDir(p.id), `REVIEW-${p.slug}-test.md`), 'utf8');
      expect(md).toContain(`Review of ${p.slug} — task test`);
      expect(md).toContain(p.file);
      for (const other of projects.filter((o) => o.slug !== p.slug)) expect(md).not.toContain(other.file);
      // Each project's directory holds its own latest report and no other project's.
      const files = (await fs.readdir(reportsDir(p.id))).filter((f) => f.startsWith('REVIEW-'));
      expect(files).toEqual([`REVIEW-${p.slug}-test.md`]);
    }

    // No worktree collision: every checkout was removed and every lease released; git agrees.
    await noLeases();
    expect(await c.worktreeDirs()).toEqual([]);
    for (const p of projects) {
      const list = mirrorGit(c.mirrorPath(owner.org_id, p.id), 'worktree', 'list', '--porcelain');
      expect(list.split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1); // the bare mirror itself
    }

    // KNOWLEDGE.md not corrupted: one valid file per project, matching the database.
    for (const p of projects) {
      const md = await fs.readFile(path.join(reportsDir(p.id), 'KNOWLEDGE.md'), 'utf8');
      const k = parseKnowledgeMd(md);
      const [db] = await c.q(`select count(*)::int as n from knowledge where project_id = $1`, [p.id]);
      expect(k.entries).toBe(db.n);
      expect(k.entries).toBeGreaterThanOrEqual(1);
      expect(k.attributions.every((a) => a.startsWith('- found by Olive Owner on '))).toBe(true);
      expect(md).toContain(p.file);
      for (const other of projects.filter((o) => o.slug !== p.slug)) expect(md).not.toContain(other.file);
    }
    expect(await tmpLeftovers(path.join(c.dataDir, 'reports'))).toEqual([]);
    console.log(`seed 1: six concurrent sync reviews in ${elapsed} ms`);
  }, 300_000);

  it('100 concurrent reviews with ONE task_id in ONE project → 100 completed, distinct ids, branches and commits, 0 leases left', async () => {
    const repo = await makeRepo({ 'src/app.ts': 'export const app = 1;\n' });
    repos.push(repo);
    const created = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: 'bulk', repo_url: repo } });
    expect(created.status, created.text).toBe(201);
    const projectId: string = created.body.id;
    const N = 100;
    const fileOf = (i: number) => `src/load/item-${i}.ts`;

    const t0 = Date.now();
    const started = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        http(api, 'POST', '/v1/review/async', {
          key: owner.api_key,
          body: { project_id: 'bulk', task_id: 'load', target: { diff: newFileDiff(fileOf(i), SQLI_TS.replace('findUser', `findUser${i}`)) } },
        }),
      ),
    );
    const accepted = Date.now() - t0;
    for (const r of started) expect(r.status, r.text).toBe(202);
    const ids = started.map((r) => r.body.id as string);
    expect(new Set(ids).size).toBe(N);

    const terminal = await c.until(
      `${N} reviews terminal`,
      async () => {
        const rows = await c.q(`select id, status, branch, commit_sha, error from reviews where project_id = $1 and status in ('completed','failed','cancelled')`, [projectId]);
        return rows.length === N ? rows : undefined;
      },
      250_000,
    );
    const elapsed = Date.now() - t0;
    const failed = terminal.filter((r) => r.status !== 'completed');
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);

    // 100 distinct branches, each carrying exactly its own review's file, authored in its own worktree.
    const branches = terminal.map((r) => r.branch as string);
    expect(new Set(branches).size).toBe(N);
    const mirror = c.mirrorPath(owner.org_id, projectId);
    const refs = mirrorGit(mirror, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/quorum/bulk/load/').split('\n');
    expect(refs).toHaveLength(N);
    const byBranch = new Map(refs.map((l) => l.split(' ') as [string, string]));
    for (const r of terminal) {
      const i = started.findIndex((s) => s.body.id === r.id);
      expect(r.branch).toBe(`quorum/bulk/load/${r.id}`);
      expect(byBranch.get(r.branch)).toBe(r.commit_sha);
      expect(mirrorGit(mirror, 'show', '--name-only', '--format=', r.branch)).toBe(fileOf(i));
    }

    // Nothing left behind: leases, checkouts, git worktree entries.
    await noLeases();
    expect(await c.worktreeDirs()).toEqual([]);
    expect(mirrorGit(mirror, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);

    // Every review's report kept by id; the latest for the task; events complete for each review.
    const kept = await fs.readdir(path.join(reportsDir(projectId), 'reviews'));
    for (const id of ids) expect(kept).toContain(`${id}.md`);
    expect(await fs.readFile(path.join(reportsDir(projectId), 'REVIEW-bulk-load.md'), 'utf8')).toContain('Review of bulk — task load');
    const ev = await c.q(
      `select review_id, count(*) filter (where type = 'review.completed')::int as done, count(*) filter (where type = 'reviewer.completed')::int as rc
         from events where project_id = $1 group by review_id`,
      [projectId],
    );
    expect(ev).toHaveLength(N);
    expect(ev.every((e) => e.done === 1 && e.rc === 5)).toBe(true);

    // 100 concurrent knowledge writers: a valid KNOWLEDGE.md holding every entry.
    const k = parseKnowledgeMd(await fs.readFile(path.join(reportsDir(projectId), 'KNOWLEDGE.md'), 'utf8'));
    const [kn] = await c.q(`select count(*)::int as n, count(distinct review_id)::int as reviews from knowledge where project_id = $1`, [projectId]);
    expect(kn.reviews).toBe(N);
    expect(k.entries).toBe(kn.n);
    expect(await tmpLeftovers(path.join(c.dataDir, 'reports'))).toEqual([]);

    const [t] = await c.q(
      `select percentile_cont(0.5) within group (order by extract(epoch from started_at - created_at) * 1000)::int as wait_p50,
              percentile_cont(0.5) within group (order by extract(epoch from completed_at - started_at) * 1000)::int as run_p50,
              percentile_cont(0.99) within group (order by extract(epoch from completed_at - started_at) * 1000)::int as run_p99
         from reviews where project_id = $1`,
      [projectId],
    );
    console.log(
      `seed 1: ${N} concurrent reviews (one task_id, one project, 2 workers): accepted in ${accepted} ms, all completed in ${elapsed} ms ` +
        `→ ${((N / elapsed) * 60_000).toFixed(0)} reviews/min; per review: queued→started p50 ${t.wait_p50} ms, started→completed p50 ${t.run_p50} ms, p99 ${t.run_p99} ms`,
    );
  }, 300_000);
});

/** Temp files of atomic writes that were never renamed (a torn write would leave one). */
async function tmpLeftovers(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  return entries.filter((e) => e.endsWith('.tmp'));
}
