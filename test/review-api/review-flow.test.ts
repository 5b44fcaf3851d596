import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { latestReportPath, knowledgePath } from '../../src/core/review/review-files.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { git, makeRepo, newFileDiff, SQLI_TS } from '../helpers/git.js';

describe('reviews end to end (in-process API + worker, real git, real PostgreSQL)', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  beforeAll(async () => {
    t = await createTestApp();
    worker = await startWorker(t.rt, { concurrency: 4 });
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
  });

  it("a project follows its repository's default branch when none is given (here trunk), an explicit one wins", async () => {
    const a = await newOrg(t, 'trunk@flow.test', 'Flow Trunk');
    const repo = await makeRepo({ 'src/users.ts': SQLI_TS });
    git(repo, 'branch', '-m', 'main', 'trunk');
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'trunky', repo_url: repo } });
    expect(p.statusCode, p.body).toBe(201);
    expect(p.json().default_branch).toBe('trunk');
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'trunky', task_id: 'T-trunk' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'completed', head_sha: git(repo, 'rev-parse', 'trunk') });
    const explicit = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'pinned', repo_url: repo, default_branch: 'release' } });
    expect(explicit.json().default_branch).toBe('release');
  });

  it('a change larger than one review reads: the files left out are listed as clipped, in the answer and the report', async () => {
    const a = await newOrg(t, 'big@flow.test', 'Flow Big');
    const repo = await makeRepo({ 'README.md': '# big\n' });
    await fs.mkdir(`${repo}/src`, { recursive: true });
    await fs.writeFile(`${repo}/src/a.ts`, SQLI_TS);
    await fs.writeFile(`${repo}/zz-data.txt`, Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'y'.repeat(100)}`).join('\n'));
    git(repo, 'add', '.');
    git(repo, '-c', 'user.email=d@e', '-c', 'user.name=d', 'commit', '-qm', 'big');
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'big', repo_url: repo } });
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'big', task_id: 'huge' } });
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json();
    expect(r.coverage.files_covered).toEqual(['src/a.ts']);
    expect(r.coverage.files_clipped).toEqual([{ file: 'zz-data.txt', reason: expect.stringContaining('not reviewed') }]);
    const md = (await t.app.inject({ url: `/v1/reviews/${r.id}/report.md`, headers: auth(a.api_key) })).body;
    expect(md).toContain('zz-data.txt');
    expect(r.findings.some((f: { rules: string[] }) => f.rules.includes('injection/sql-concat'))).toBe(true);
  });

  it('a submitted diff that does not apply to the repository is reviewed as submitted, and the review says so', async () => {
    const a = await newOrg(t, 'noapply@flow.test', 'Flow NoApply');
    const repo = await makeRepo({ 'src/a.ts': 'export const a = 1;\n' });
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'na', repo_url: repo } });
    const diff = ['diff --git a/src/missing.ts b/src/missing.ts', '--- a/src/missing.ts', '+++ b/src/missing.ts', '@@ -1,2 +1,3 @@', ' const a = 1;', `+${SQLI_TS.split('\n')[3]}`, ' const b = 2;', ''].join('\n');
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'na', task_id: 'na-1', target: { diff } } });
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json();
    expect(r).toMatchObject({ status: 'completed', commit_sha: null });
    expect(r.coverage.notes).toEqual([expect.stringContaining('does not apply to main')]);
    expect(r.findings.length).toBeGreaterThan(0); // the text was still reviewed
    expect((await t.app.inject({ url: `/v1/reviews/${r.id}`, headers: auth(a.api_key) })).json().coverage.notes).toEqual(r.coverage.notes);
    expect((await t.app.inject({ url: `/v1/reviews/${r.id}/report.md`, headers: auth(a.api_key) })).body).toContain('does not apply');
    expect((await t.app.inject({ url: `/v1/reviews/${r.id}/report.json`, headers: auth(a.api_key) })).json().coverage.notes).toEqual(r.coverage.notes);
  });

  it('reviews the last commit of the default branch: finds the SQL injection, writes reports and events', async () => {
    const a = await newOrg(t, 'alice@flow.test', 'Flow A');
    const repo = await makeRepo({ 'src/users.ts': SQLI_TS });
    const p = (await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'api', repo_url: repo } })).json();
    // The response comes on the review.completed event; the job itself ends a moment later.
    const jobDone = new Promise<void>((resolve) =>
      worker.runner.events.on('job:complete', ({ job }) => {
        if (job.task_identifier === 'run_review') resolve();
      }),
    );
    const res = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'api', task_id: 'T-1' } });
    expect(res.statusCode, res.body).toBe(200);
    const review = res.json();
    expect(review).toMatchObject({ status: 'completed', task_id: 'T-1', developer_id: a.user_id, project_id: p.id });
    expect(review.progress).toEqual({ completed: 5, total: 5 });
    const sqli = review.findings.find((f: { rules: string[] }) => f.rules.includes('injection/sql-concat'));
    expect(sqli, JSON.stringify(review.findings)).toBeDefined();
    expect(sqli.file).toBe('src/users.ts');
    expect(review.head_sha).toBe(git(repo, 'rev-parse', 'HEAD'));

    const md = await fs.readFile(latestReportPath(t.rt.config.dataDir, a.org_id, p.id, 'api', 'T-1'), 'utf8');
    expect(md).toContain('src/users.ts');
    const mdApi = await t.app.inject({ url: `/v1/reviews/${review.id}/report.md`, headers: auth(a.api_key) });
    expect(mdApi.statusCode).toBe(200);
    expect(mdApi.headers['content-type']).toContain('text/markdown');
    const sarif = (await t.app.inject({ url: `/v1/reviews/${review.id}/report.sarif`, headers: auth(a.api_key) })).json();
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results.length).toBe(review.findings.length);
    const json = (await t.app.inject({ url: `/v1/reviews/${review.id}/report.json`, headers: auth(a.api_key) })).json();
    expect(json.schema_version).toBe('1.0');
    expect(json.review).toEqual({
      id: review.id, org_id: a.org_id, project_id: review.project_id, project: 'api', task_id: review.task_id, developer_id: a.user_id,
      base_sha: review.base_sha, head_sha: review.head_sha, commit_sha: review.commit_sha, created_at: review.created_at,
    });

    const ev = await t.rt.admin.query(`select type, payload from events where review_id = $1 order by id`, [review.id]);
    const types = ev.rows.map((r) => r.type);
    expect(types[0]).toBe('review.queued');
    expect(types.at(-1)).toBe('review.completed');
    expect(types.filter((x) => x === 'reviewer.completed')).toHaveLength(5);
    const progress = ev.rows.filter((r) => r.type === 'reviewer.completed').map((r) => r.payload.completed).sort();
    expect(progress).toEqual([1, 2, 3, 4, 5]);

    await jobDone;
    const metrics = await t.rt.deps.metrics.registry.metrics();
    expect(metrics).toContain(`quorum_reviews_total{org="${a.org_id}",project="${p.id}",status="completed"} 1`);
    expect(metrics).toContain(`quorum_worktrees_live{org="${a.org_id}",project="${p.id}"} 0`);

    // No worktree or lease left behind.
    const leases = await t.rt.admin.query('select count(*)::int as n from worktree_leases');
    expect(leases.rows[0].n).toBe(0);
    const audit = await t.rt.admin.query(`select actor_user_id from audit_log where action = 'review.start' and target_id = $1`, [review.id]);
    expect(audit.rows).toEqual([{ actor_user_id: a.user_id }]);
  });

  it('shares knowledge across the org: bob sees "similar finding detected by alice"; KNOWLEDGE.md holds both', async () => {
    const a = await newOrg(t, 'owner@kn.test', 'Knowledge Org');
    // alice and bob: members of the org with reviewer keys, created through the API.
    const mk = async (email: string, name: string) => {
      const inv = (await t.app.inject({ method: 'POST', url: '/v1/orgs/current/invites', headers: auth(a.api_key), payload: { email, role: 'member' } })).json();
      const signup = await t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email, password: 'correct horse battery', name, invite_token: inv.token } });
      expect(signup.statusCode, signup.body).toBe(201);
      return signup.json();
    };
    const alice = await mk('alice@kn.test', 'alice');
    const bob = await mk('bob@kn.test', 'bob');
    for (const slug of ['p1', 'p2']) {
      await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug } });
      for (const u of [alice, bob]) {
        const r = await t.app.inject({ method: 'PUT', url: `/v1/projects/${slug}/members/${u.user.id}`, headers: auth(a.api_key), payload: { role: 'reviewer' } });
        expect(r.statusCode, r.body).toBe(200);
      }
    }
    const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });
    const r1 = await t.app.inject({
      method: 'POST', url: '/v1/review', headers: bearer(alice.access_token),
      payload: { project_id: 'p1', task_id: 'login', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    expect(r1.statusCode, r1.body).toBe(200);
    const bobCode = SQLI_TS.replace('findUser', 'findOrder').replace('users', 'orders');
    const r2 = await t.app.inject({
      method: 'POST', url: '/v1/review', headers: bearer(bob.access_token),
      payload: { project_id: 'p2', task_id: 'orders', target: { diff: newFileDiff('src/orders.ts', bobCode) } },
    });
    expect(r2.statusCode, r2.body).toBe(200);
    const f2 = r2.json().findings.find((f: { rules: string[] }) => f.rules.includes('injection/sql-concat'));
    const today = new Date().toISOString().slice(0, 10);
    expect(f2.similar.note).toContain(`similar finding detected by alice on ${today}`);
    expect(f2.developer_id).toBe(bob.user.id);
    const md2 = (await t.app.inject({ url: `/v1/reviews/${r2.json().id}/report.md`, headers: bearer(bob.access_token) })).body;
    expect(md2).toContain('similar finding detected by alice');

    const p1 = (await t.app.inject({ url: '/v1/projects/p1', headers: auth(a.api_key) })).json();
    const k1 = await fs.readFile(knowledgePath(t.rt.config.dataDir, a.org_id, p1.id), 'utf8');
    expect(k1).toContain('found by alice');
    const kApi = (await t.app.inject({ url: '/v1/projects/p2/knowledge?q=sql', headers: auth(a.api_key) })).json();
    expect(kApi.items.some((k: { developer_name: string }) => k.developer_name === 'bob')).toBe(true);

    // Right after bob's review, alice reviews in the same project: when her answer arrives, the
    // project's KNOWLEDGE.md already holds both findings (no export left running behind the answer).
    const p2 = (await t.app.inject({ url: '/v1/projects/p2', headers: auth(a.api_key) })).json();
    const r3 = await t.app.inject({
      method: 'POST', url: '/v1/review', headers: bearer(alice.access_token),
      payload: { project_id: 'p2', task_id: 'login-2', target: { diff: newFileDiff('src/login.ts', SQLI_TS.replace('findUser', 'login')) } },
    });
    expect(r3.statusCode, r3.body).toBe(200);
    const k2 = await fs.readFile(knowledgePath(t.rt.config.dataDir, a.org_id, p2.id), 'utf8');
    expect(k2).toContain('found by bob');
    expect(k2).toContain('found by alice');
  });

  it('RBAC: a viewer gets 403 on POST /v1/review; another org’s review is 404; a bad ref is 422', async () => {
    const a = await newOrg(t, 'o@rbac.test', 'RBAC A');
    const b = await newOrg(t, 'o@rbac-b.test', 'RBAC B');
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'x' } });
    const viewerKey = (await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(a.api_key), payload: { name: 'ro', max_role: 'viewer' } })).json();
    const v = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(viewerKey.api_key), payload: { project_id: 'x', task_id: 't', target: { diff: newFileDiff('a.ts', 'x') } } });
    expect(v.statusCode).toBe(403);
    const ok = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(a.api_key), payload: { project_id: 'x', task_id: 't', target: { diff: newFileDiff('a.ts', 'export const x = 1;\n') } } });
    expect(ok.statusCode).toBe(202);
    const other = await t.app.inject({ url: `/v1/reviews/${ok.json().id}`, headers: auth(b.api_key) });
    expect(other.statusCode).toBe(404);
    const bad = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(a.api_key), payload: { project_id: 'x', task_id: 't', target: { base: '--upload-pack=evil', head: 'main' } } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.code).toBe('invalid_ref');

    // Text that is no diff at all is refused before anything is written, on both doors.
    const before = Number((await t.rt.admin.query('select count(*)::int n from reviews where org_id = $1', [a.org_id])).rows[0].n);
    for (const url of ['/v1/review', '/v1/review/async']) {
      const junk = await t.app.inject({ method: 'POST', url, headers: auth(a.api_key), payload: { project_id: 'x', task_id: 't', target: { diff: 'this is not a diff' } } });
      expect(junk.statusCode, url).toBe(422);
      expect(junk.json().error.code).toBe('invalid_diff');
    }
    expect(Number((await t.rt.admin.query('select count(*)::int n from reviews where org_id = $1', [a.org_id])).rows[0].n)).toBe(before);

    // A well-formed ref that names no commit is only known once the repository is read: the sync
    // answer is that 422, with the failed review's id; so is a project without a repository.
    const repo = await makeRepo({ 'src/a.ts': 'export const a = 1;\n' });
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'withrepo', repo_url: repo } });
    const missing = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'withrepo', task_id: 't', target: { base: 'main', head: 'no-such-branch' } } });
    expect(missing.statusCode, missing.body).toBe(422);
    expect(missing.json().error.code).toBe('invalid_ref');
    const failed = await t.app.inject({ url: `/v1/reviews/${missing.json().error.details.review_id}`, headers: auth(a.api_key) });
    expect(failed.json()).toMatchObject({ status: 'failed', error: { code: 'invalid_ref' } });
    const norepo = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(a.api_key), payload: { project_id: 'x', task_id: 't' } });
    expect(norepo.statusCode, norepo.body).toBe(422);
    expect(norepo.json().error.code).toBe('unprocessable');
  });
});
