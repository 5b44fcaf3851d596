import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, mirrorGit, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo, newFileDiff, SQLI_TS } from '../helpers/git.js';

/**
 * Seed acceptance test 4 (developer isolation) with real processes: alice and bob, two members of
 * one org, each with their own API key, review changes with the same task id in different
 * projects at the same time. No collision (distinct worktree paths and branches, each in its
 * project's namespace); the review, its findings, its knowledge and its audit row carry the right
 * developer; the commit Quorum makes of each diff is authored AND committed by that developer,
 * and the server's own git identity appears nowhere.
 */

interface Dev {
  name: string;
  email: string;
  userId: string;
  keyId: string;
  key: string;
}

describe('seed test 4: developer isolation (alice and bob, own keys, real processes)', () => {
  let c: Cluster;
  let api: ApiProc;
  let owner: Creds;
  const repos: string[] = [];

  beforeAll(async () => {
    c = await Cluster.start();
    api = await c.startApi();
    await c.startWorker();
    owner = await c.bootstrap('owner@seed4.test', 'Seed Four', 'Olive Owner');
  });
  afterAll(async () => {
    await c?.close();
    await Promise.all(repos.map((r) => fs.rm(r, { recursive: true, force: true })));
  });

  /** Invited by the owner, signs up, then creates their OWN API key with their own session. */
  async function member(name: string): Promise<Dev> {
    const email = `${name}@seed4.test`;
    const inv = await http(api, 'POST', '/v1/orgs/current/invites', { key: owner.api_key, body: { email, role: 'member' } });
    expect(inv.status, inv.text).toBe(201);
    const s = await http(api, 'POST', '/v1/auth/signup', { body: { email, password: 'correct horse battery staple', name, invite_token: inv.body.token } });
    expect(s.status, s.text).toBe(201);
    const k = await http(api, 'POST', '/v1/keys', { token: s.body.access_token, body: { name: `${name}'s laptop` } });
    expect(k.status, k.text).toBe(201);
    expect(k.body.user_id).toBe(s.body.user.id);
    return { name, email, userId: s.body.user.id, keyId: k.body.id, key: k.body.api_key };
  }

  it('same task_id in different projects: no collision; review, findings, knowledge, audit and git commits attributed to their developer', async () => {
    const alice = await member('alice');
    const bob = await member('bob');
    const projects: Record<string, { id: string; mirror: string }> = {};
    for (const [slug, dev] of [['proj1', alice], ['proj2', bob]] as const) {
      const repo = await makeRepo({ 'src/app.ts': `export const app = '${slug}';\n` });
      repos.push(repo);
      const p = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug, repo_url: repo } });
      expect(p.status, p.text).toBe(201);
      const m = await http(api, 'PUT', `/v1/projects/${slug}/members/${dev.userId}`, { key: owner.api_key, body: { role: 'reviewer' } });
      expect(m.status, m.text).toBe(200);
      projects[slug] = { id: p.body.id, mirror: c.mirrorPath(owner.org_id, p.body.id) };
    }
    // Each key acts only as its developer: bob has no role on alice's project.
    const denied = await http(api, 'POST', '/v1/review/async', {
      key: bob.key,
      body: { project_id: 'proj1', task_id: 'feature', target: { diff: newFileDiff('src/x.ts', 'export const x = 1;\n') } },
    });
    expect(denied.status, denied.text).toBe(403);

    // Watch the worktree leases while the reviews run (every progress event wakes the check).
    const leases = new Map<string, { review_id: string; path: string; branch: string; project_id: string }>();
    const bodyOf = (fn: string) => SQLI_TS.replace('findUser', fn);
    const t0 = Date.now();
    const run = Promise.all([
      http(api, 'POST', '/v1/review', {
        key: alice.key,
        body: { project_id: 'proj1', task_id: 'feature', target: { diff: newFileDiff('src/login.ts', bodyOf('findLogin')) } },
      }),
      http(api, 'POST', '/v1/review', {
        key: bob.key,
        body: { project_id: 'proj2', task_id: 'feature', target: { diff: newFileDiff('src/orders.ts', bodyOf('findOrder')) } },
      }),
    ]);
    let finished = false;
    void run.finally(() => (finished = true));
    await c.until('both reviews answered', async () => {
      for (const l of await c.q(`select review_id, path, branch, project_id from worktree_leases`)) leases.set(l.path, l);
      return finished;
    }, 60_000);
    const [ra, rb] = await run;
    const elapsed = Date.now() - t0;
    expect(ra.status, ra.text).toBe(200);
    expect(rb.status, rb.text).toBe(200);
    const a = ra.body;
    const b = rb.body;

    // The API's answer: each review belongs to its caller, in its project, completed.
    expect(a).toMatchObject({ status: 'completed', task_id: 'feature', project_id: projects.proj1!.id, developer_id: alice.userId });
    expect(b).toMatchObject({ status: 'completed', task_id: 'feature', project_id: projects.proj2!.id, developer_id: bob.userId });

    // No collision: two worktrees in two project namespaces, two branches.
    const root = path.join(c.dataDir, 'worktrees', owner.org_id);
    expect([...leases.values()].map((l) => [l.review_id, l.path, l.branch]).sort()).toEqual(
      [
        [a.id, path.join(root, projects.proj1!.id, `feature-${a.id}`), `quorum/proj1/feature/${a.id}`],
        [b.id, path.join(root, projects.proj2!.id, `feature-${b.id}`), `quorum/proj2/feature/${b.id}`],
      ].sort(),
    );
    expect(a.branch).toBe(`quorum/proj1/feature/${a.id}`);
    expect(b.branch).toBe(`quorum/proj2/feature/${b.id}`);
    await c.until('leases released', async () => (await c.q('select 1 from worktree_leases')).length === 0, 30_000);
    expect(await c.worktreeDirs()).toEqual([]);

    for (const [dev, review, slug] of [[alice, a, 'proj1'], [bob, b, 'proj2']] as const) {
      // Rows: the review (and the key it came with), every finding, every knowledge entry, the audit row.
      const [row] = await c.q(`select developer_id, api_key_id, branch, commit_sha from reviews where id = $1`, [review.id]);
      expect(row).toEqual({ developer_id: dev.userId, api_key_id: dev.keyId, branch: review.branch, commit_sha: review.commit_sha });
      const findings = await c.q(`select developer_id, file from findings where review_id = $1`, [review.id]);
      expect(findings.length).toBeGreaterThan(0);
      expect(findings.every((f) => f.developer_id === dev.userId)).toBe(true);
      expect(review.findings.every((f: { developer_id: string }) => f.developer_id === dev.userId)).toBe(true);
      const knowledge = await c.q(`select developer_id from knowledge where review_id = $1`, [review.id]);
      expect(knowledge.length).toBeGreaterThan(0);
      expect(knowledge.every((k) => k.developer_id === dev.userId)).toBe(true);
      const audit = await c.q(`select actor_user_id, api_key_id, project_id from audit_log where action = 'review.start' and target_id = $1`, [review.id]);
      expect(audit).toEqual([{ actor_user_id: dev.userId, api_key_id: dev.keyId, project_id: projects[slug]!.id }]);

      // Git: the review branch's commit is authored and committed by the developer, on the project's own base.
      const ident = `${dev.name} <${dev.email}>`;
      const mirror = projects[slug]!.mirror;
      expect(mirrorGit(mirror, 'log', '-1', '--format=%an <%ae>|%cn <%ce>', review.branch)).toBe(`${ident}|${ident}`);
      expect(mirrorGit(mirror, 'rev-parse', review.branch)).toBe(review.commit_sha);
      expect(mirrorGit(mirror, 'log', '-1', '--format=%s', review.branch)).toContain(review.id);
      // Every identity in the mirror: the repository's own history and this developer, nobody else.
      const idents = new Set(mirrorGit(mirror, 'log', '--all', '--format=%an <%ae>%n%cn <%ce>').split('\n'));
      expect([...idents].sort()).toEqual(['Fixture <fixture@example.com>', ident].sort());
    }
    // The server's own identity (what git would use for the server's user) is not among them.
    const serverIdent = serverGitIdentity();
    for (const p of Object.values(projects)) expect(mirrorGit(p.mirror, 'log', '--all', '--format=%an <%ae>|%cn <%ce>')).not.toContain(serverIdent);
    console.log(`seed 4: alice's and bob's concurrent sync reviews answered in ${elapsed} ms; server identity "${serverIdent}" absent`);
  }, 120_000);
});

/** The identity git would give a commit made by the server's user with no GIT_* variables set. */
function serverGitIdentity(): string {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? os.homedir() };
  try {
    return execFileSync('git', ['var', 'GIT_COMMITTER_IDENT'], { env, encoding: 'utf8' }).replace(/ \d+ [+-]\d{4}\s*$/, '').trim();
  } catch {
    // No usable identity at all for the server's user: then it cannot appear either; compare with the user@host form git would try.
    return `${os.userInfo().username}@${os.hostname()}`;
  }
}
