import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/client.js';
import { insertLease } from '../../src/core/git/leases.repo.js';
import { ensureMirror } from '../../src/core/git/mirror.js';
import { sweepWorktrees } from '../../src/core/git/sweep-worktrees.js';
import { createWorktree } from '../../src/core/git/worktrees.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { makeUpstream, tempDir } from '../git/git-fixture.js';

/**
 * The worktree sweeper is a singleton: its holder lives long, so its own lapsed leases cannot
 * wait for "another process" to reclaim them. A lapsed lease of the holder whose review no longer
 * runs there (its deletion failed while the database restarted) is reclaimed; one whose review
 * still runs there is not.
 */
describe('worktree sweeper: the holder own lapsed leases', () => {
  let rt: TestRuntime;
  let root: string;
  let orgId: string;
  const projectId = randomUUID();
  let mirror: string;
  let head: string;

  beforeAll(async () => {
    rt = await createTestRuntime();
    root = await tempDir('sweeper-self');
    const upstream = path.join(root, 'user-repo');
    head = (await makeUpstream(upstream, [{ 'a.ts': 'export const a = 1;\n' }]))[0]!;
    orgId = (await rt.admin.query<{ id: string }>(`insert into orgs (name, slug) values ('s', 's') returning id`)).rows[0]!.id;
    mirror = (await ensureMirror(rt.config.dataDir, orgId, projectId, upstream)).path;
  });
  afterAll(async () => {
    await rt.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  const leftover = async (reviewId: string) => {
    const wt = await createWorktree({ dataDir: rt.config.dataDir, orgId, projectId, projectSlug: 'p', taskId: 't', reviewId, mirrorPath: mirror, commitish: head });
    await withTenant(rt.deps.db, orgId, (tx) => insertLease(tx, { orgId, projectId, reviewId, path: wt.path, branch: wt.branch, owner: 'me' }));
    await rt.admin.query(`update worktree_leases set heartbeat_at = now() - interval '1 minute' where review_id = $1`, [reviewId]);
    return wt;
  };

  it('reclaims the holder own lapsed lease of a review it no longer runs, keeps the one it runs', async () => {
    const done = randomUUID();
    const running = randomUUID();
    const a = await leftover(done);
    const b = await leftover(running);
    const r = await sweepWorktrees(rt.deps, { lapseMs: 5_000, selfOwner: 'me', selfInUse: (id) => id === running });
    expect(r.removed.map((x) => x.path)).toEqual([a.path]);
    const left = await rt.admin.query(`select review_id from worktree_leases`);
    expect(left.rows.map((x) => x.review_id)).toEqual([running]);
    await expect(fs.stat(a.path)).rejects.toThrow();
    expect((await fs.stat(b.path)).isDirectory()).toBe(true);
    // Without selfInUse every own lease counts as in use (the previous behaviour).
    expect((await sweepWorktrees(rt.deps, { lapseMs: 5_000, selfOwner: 'me' })).removed).toEqual([]);
  });
});
