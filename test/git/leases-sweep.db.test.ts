import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/client.js';
import { heartbeatLeases, insertLease } from '../../src/core/git/leases.repo.js';
import { ensureMirror } from '../../src/core/git/mirror.js';
import { sweepWorktrees, type SweepWorktreesReport } from '../../src/core/git/sweep-worktrees.js';
import { withWorktree } from '../../src/core/git/with-worktree.js';
import { createWorktree } from '../../src/core/git/worktrees.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { until, within } from '../worker/wait.js';
import { git, makeUpstream, tempDir } from './git-fixture.js';

describe('worktree leases, withWorktree and the sweeper', () => {
  let rt: TestRuntime;
  let repoRoot: string;
  let upstream: string;
  let head: string;
  let orgA: string;
  let orgB: string;
  const projectA = randomUUID();
  const projectB = randomUUID();
  let mirrorA: string;
  let mirrorB: string;

  const newOrg = async (slug: string) => (await rt.admin.query<{ id: string }>(`insert into orgs (name, slug) values ($1, $1) returning id`, [slug])).rows[0]!.id;
  const leaseRows = async () =>
    (await rt.admin.query<{ id: string; org_id: string; path: string; owner: string; heartbeat_at: Date }>(`select id, org_id, path, owner, heartbeat_at from worktree_leases order by path`)).rows;
  const exists = (p: string) => fs.access(p).then(() => true, () => false);
  const branches = async (mirror: string) => (await git(mirror, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/quorum/')).split('\n').filter(Boolean);

  beforeAll(async () => {
    rt = await createTestRuntime();
    repoRoot = await tempDir('lease-upstream');
    upstream = path.join(repoRoot, 'user-repo');
    head = (await makeUpstream(upstream, [{ 'src/a.ts': 'export const a = 1;\n' }]))[0]!;
    orgA = await newOrg('org-a');
    orgB = await newOrg('org-b');
    mirrorA = (await ensureMirror(rt.config.dataDir, orgA, projectA, upstream)).path;
    mirrorB = (await ensureMirror(rt.config.dataDir, orgB, projectB, upstream)).path;
  });
  afterAll(async () => {
    await rt.close();
    await fs.rm(repoRoot, { recursive: true, force: true });
  });

  const wtInput = (over: Partial<Parameters<typeof withWorktree>[1]> = {}) => ({
    orgId: orgA,
    projectId: projectA,
    projectSlug: 'proj1',
    taskId: 'feature',
    reviewId: randomUUID(),
    mirrorPath: mirrorA,
    commitish: head,
    owner: 'worker-1',
    ...over,
  });

  it('withWorktree: the lease exists (and is heartbeated) while fn runs; worktree, branch and lease are gone after, however fn ends', async () => {
    const input = wtInput({ heartbeatMs: 50 });
    const seen = await withWorktree(rt.deps, input, async (wt) => {
      const rows = await leaseRows();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ org_id: orgA, path: wt.path, owner: 'worker-1' });
      expect(await fs.readFile(path.join(wt.path, 'src/a.ts'), 'utf8')).toBe('export const a = 1;\n');
      const first = rows[0]!.heartbeat_at.getTime();
      await until(async () => (await leaseRows())[0]!.heartbeat_at.getTime() > first, 5_000, 'a lease heartbeat');
      return wt;
    });
    expect(seen.path).toBe(path.join(rt.config.dataDir, 'worktrees', orgA, projectA, `feature-${input.reviewId}`));
    expect(await exists(seen.path)).toBe(false);
    expect(await leaseRows()).toEqual([]);
    expect(await branches(mirrorA)).toEqual([]);

    let inside = '';
    const boom = await withWorktree(rt.deps, wtInput(), async (wt) => {
      inside = wt.path;
      throw new Error('reviewer crashed');
    }).catch((e: unknown) => e as Error);
    expect(boom.message).toBe('reviewer crashed');
    expect(await exists(inside)).toBe(false);
    expect(await leaseRows()).toEqual([]);
    expect(await branches(mirrorA)).toEqual([]);

    // A creation failure (unknown commit) leaves nothing behind either.
    const bad = await withWorktree(rt.deps, wtInput({ commitish: 'no-such-branch' }), async () => 'unreachable').catch((e: unknown) => e as Error);
    expect((bad as { code?: string }).code).toBe('invalid_ref');
    expect(await leaseRows()).toEqual([]);
  });

  it('signals fn when its lease is reclaimed, and leases are invisible across orgs', async () => {
    await withWorktree(rt.deps, wtInput({ heartbeatMs: 50 }), async (wt) => {
      const aborted = new Promise<void>((resolve) => wt.signal.addEventListener('abort', () => resolve()));
      expect(await withTenant(rt.deps.db, orgB, (tx) => tx.selectFrom('worktree_leases').selectAll().execute())).toEqual([]);
      expect(await withTenant(rt.deps.db, orgA, (tx) => heartbeatLeases(tx, 'worker-1'))).toBe(1);
      expect(await withTenant(rt.deps.db, orgB, (tx) => heartbeatLeases(tx, 'worker-1'))).toBe(0);
      await rt.admin.query(`delete from worktree_leases where id = $1`, [wt.leaseId]); // as a sweeper would
      await within(aborted, 5_000, 'the lease-lost signal');
      expect(wt.signal.aborted).toBe(true);
    });
  });

  it('the sweeper removes lapsed, over-TTL and orphaned worktrees exactly once across concurrent sweepers, and spares live ones', async () => {
    const dataDir = rt.config.dataDir;
    const make = async (org: string, project: string, mirror: string, taskId: string, lease: boolean) => {
      const reviewId = randomUUID();
      const wt = await createWorktree({ dataDir, orgId: org, projectId: project, projectSlug: 'p', taskId, reviewId, mirrorPath: mirror, commitish: head });
      const id = lease
        ? (await withTenant(rt.deps.db, org, (tx) => insertLease(tx, { orgId: org, projectId: project, reviewId, path: wt.path, branch: wt.branch, owner: `w-${taskId}` }))).id
        : undefined;
      return { ...wt, leaseId: id };
    };
    const lapsed = await make(orgA, projectA, mirrorA, 'lapsed', true);
    const ttl = await make(orgA, projectA, mirrorA, 'ttl', true);
    const live = await make(orgA, projectA, mirrorA, 'live', true);
    const liveB = await make(orgB, projectB, mirrorB, 'live-b', true);
    const orphan = await make(orgB, projectB, mirrorB, 'orphan', false);
    const freshOrphan = await make(orgA, projectA, mirrorA, 'fresh-orphan', false);
    await rt.admin.query(`update worktree_leases set heartbeat_at = now() - interval '1 hour' where id = $1`, [lapsed.leaseId]);
    await rt.admin.query(`update worktree_leases set created_at = now() - interval '2 days' where id = $1`, [ttl.leaseId]);
    // Old on disk: an orphan from a crash long ago (and a live worktree with an old mtime, which its lease protects).
    const old = new Date(Date.now() - 3600_000);
    await fs.utimes(orphan.path, old, old);
    await fs.utimes(live.path, old, old);
    // Something under the worktree root that is not ours is never touched.
    const foreign = path.join(dataDir, 'worktrees', 'not-an-org', 'x');
    await fs.mkdir(foreign, { recursive: true });
    await fs.utimes(foreign, old, old);

    const opts = { lapseMs: 60_000, ttlMs: 24 * 3600_000, orphanGraceMs: 600_000 };
    const reports: SweepWorktreesReport[] = await Promise.all([sweepWorktrees(rt.deps, opts), sweepWorktrees(rt.deps, opts)]);
    const removed = reports.flatMap((r) => r.removed).sort((a, b) => a.path.localeCompare(b.path));
    expect(reports.flatMap((r) => r.failed)).toEqual([]);
    expect(removed).toEqual(
      [
        { path: lapsed.path, reason: 'lapsed', org_id: orgA, project_id: projectA },
        { path: ttl.path, reason: 'ttl', org_id: orgA, project_id: projectA },
        { path: orphan.path, reason: 'orphan', org_id: orgB, project_id: projectB },
      ].sort((a, b) => a.path.localeCompare(b.path)),
    );

    for (const gone of [lapsed, ttl, orphan]) expect(await exists(gone.path), gone.path).toBe(false);
    for (const kept of [live, liveB, freshOrphan]) expect(await git(kept.path, 'status', '--porcelain'), kept.path).toBe('');
    expect(await exists(foreign)).toBe(true);
    expect((await leaseRows()).map((r) => r.path).sort()).toEqual([live.path, liveB.path].sort());
    expect((await branches(mirrorA)).sort()).toEqual([live.branch, freshOrphan.branch].sort());
    expect(await branches(mirrorB)).toEqual([liveB.branch]);
    const wtList = await git(mirrorA, 'worktree', 'list', '--porcelain');
    expect(wtList).not.toContain(lapsed.path);
    expect(wtList).not.toContain(ttl.path);
    // Each was claimed by renaming it, so git's entry for it went stale and was pruned.
    expect(reports.reduce((n, r) => n + r.pruned, 0)).toBe(3);
    expect((await git(mirrorB, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree '))).toEqual([`worktree ${mirrorB}`, `worktree ${liveB.path}`]);
    expect(await fs.readdir(path.dirname(orphan.path))).toEqual([path.basename(liveB.path)]);
    expect((await fs.readdir(path.dirname(live.path))).sort()).toEqual([path.basename(freshOrphan.path), path.basename(live.path)].sort());

    // Nothing left to do: a second sweep removes nothing.
    expect(await sweepWorktrees(rt.deps, opts)).toEqual({ removed: [], pruned: 0, failed: [] });
  });
});
