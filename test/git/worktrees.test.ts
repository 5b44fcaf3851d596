import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { ensureMirror } from '../../src/core/git/mirror.js';
import { createWorktree, removeWorktree } from '../../src/core/git/worktrees.js';
import { git, makeUpstream, tempDir } from './git-fixture.js';

describe('review worktrees', () => {
  let root: string;
  let dataDir: string;
  let mirror: string;
  let head: string;
  const org = randomUUID();
  const project = randomUUID();
  const base = () => ({ dataDir, orgId: org, projectId: project, projectSlug: 'proj1', mirrorPath: mirror });

  beforeAll(async () => {
    root = await tempDir('wt');
    dataDir = path.join(root, 'data');
    const upstream = path.join(root, 'user-repo');
    const shas = await makeUpstream(upstream, [{ 'README.md': 'hi\n', 'src/a.ts': 'export const a = 1;\n' }]);
    head = shas[0]!;
    mirror = (await ensureMirror(dataDir, org, project, upstream)).path;
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const worktreeCount = async () => (await git(mirror, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree ')).length;
  const quorumBranches = async () => (await git(mirror, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/quorum/')).split('\n').filter(Boolean);

  it('100 concurrent reviews with one task_id in one project: 100 distinct worktrees and branches, 0 failures; then all removed', async () => {
    const ids = Array.from({ length: 100 }, () => randomUUID());
    const created = await Promise.allSettled(ids.map((reviewId) => createWorktree({ ...base(), taskId: 'test', reviewId, commitish: head })));
    const failures = created.filter((r) => r.status === 'rejected');
    expect(failures).toEqual([]);
    const wts = created.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof createWorktree>>>).value);

    expect(new Set(wts.map((w) => w.path)).size).toBe(100);
    expect(new Set(wts.map((w) => w.branch)).size).toBe(100);
    for (const [i, w] of wts.entries()) {
      expect(w.path).toBe(path.join(dataDir, 'worktrees', org, project, `test-${ids[i]}`));
      expect(w.branch).toBe(`quorum/proj1/test/${ids[i]}`);
      expect(w.headSha).toBe(head);
    }
    // Every worktree is a full, clean checkout on its own branch.
    const sample = [wts[0]!, wts[57]!, wts[99]!];
    for (const w of sample) {
      expect(await fs.readFile(path.join(w.path, 'src/a.ts'), 'utf8')).toBe('export const a = 1;\n');
      expect(await git(w.path, 'symbolic-ref', '--short', 'HEAD')).toBe(w.branch);
      expect(await git(w.path, 'status', '--porcelain')).toBe('');
    }
    expect(await worktreeCount()).toBe(101); // the bare mirror itself + 100
    expect((await quorumBranches()).sort()).toEqual(wts.map((w) => w.branch).sort());

    const removed = await Promise.allSettled(wts.map((w) => removeWorktree({ dataDir, mirrorPath: mirror, path: w.path, branch: w.branch })));
    expect(removed.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(removed.every((r) => r.status === 'fulfilled' && r.value.removed)).toBe(true);
    expect(await fs.readdir(path.join(dataDir, 'worktrees', org, project))).toEqual([]);
    expect(await worktreeCount()).toBe(1);
    expect(await quorumBranches()).toEqual([]);
  }, 240_000); // a safety net, not a speed assertion: 100 checkouts on a busy 2-core machine

  it('the same task_id in another project never shares a path or branch', async () => {
    const other = randomUUID();
    const otherMirror = (await ensureMirror(dataDir, org, other, path.join(root, 'user-repo'))).path;
    const reviewId = randomUUID();
    const a = await createWorktree({ ...base(), taskId: 'feature', reviewId: randomUUID(), commitish: 'main' });
    const b = await createWorktree({ dataDir, orgId: org, projectId: other, projectSlug: 'proj2', taskId: 'feature', reviewId, mirrorPath: otherMirror, commitish: 'main' });
    expect(a.path).not.toBe(b.path);
    expect(b.branch).toBe(`quorum/proj2/feature/${reviewId}`);
    await removeWorktree({ dataDir, mirrorPath: mirror, path: a.path, branch: a.branch });
    await removeWorktree({ dataDir, mirrorPath: otherMirror, path: b.path, branch: b.branch });
  });

  it('retries when another process holds a git lock, and succeeds once it is released', async () => {
    const w = await createWorktree({ ...base(), taskId: 'locked', reviewId: randomUUID(), commitish: 'main' });
    // Pack the branch so deleting it must rewrite packed-refs, then hold packed-refs.lock as a foreign git would.
    await git(mirror, 'pack-refs', '--all');
    const lock = path.join(mirror, 'packed-refs.lock');
    await fs.writeFile(lock, '');
    const retries: string[] = [];
    await removeWorktree(
      { dataDir, mirrorPath: mirror, path: w.path, branch: w.branch },
      {
        onRetry: async (_n, e) => {
          retries.push(e.stderr);
          await fs.rm(lock, { force: true }); // the other process finishes
        },
      },
    );
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatch(/packed-refs\.lock/);
    expect(await quorumBranches()).toEqual([]);
  });

  it('removal falls back to rm + prune for a broken worktree, and is idempotent', async () => {
    const w = await createWorktree({ ...base(), taskId: 'broken', reviewId: randomUUID(), commitish: 'main' });
    await fs.rm(path.join(w.path, '.git')); // no longer a worktree git recognises
    const r = await removeWorktree({ dataDir, mirrorPath: mirror, path: w.path, branch: w.branch });
    expect(r).toEqual({ removed: true, pruned: 1 });
    expect(await worktreeCount()).toBe(1);
    expect(await removeWorktree({ dataDir, mirrorPath: mirror, path: w.path, branch: w.branch })).toEqual({ removed: false, pruned: 0 });
  });

  it('refuses paths outside the worktree root, unknown commits and reused review ids', async () => {
    const outside = await removeWorktree({ dataDir, mirrorPath: mirror, path: path.join(dataDir, 'repos') }).catch((e: unknown) => e);
    expect((outside as AppError).code).toBe('bad_request');
    expect(await fs.stat(path.join(dataDir, 'repos')).then(() => true)).toBe(true);

    const missing = await createWorktree({ ...base(), taskId: 'x', reviewId: randomUUID(), commitish: 'nope' }).catch((e: unknown) => e);
    expect((missing as AppError).code).toBe('invalid_ref');
    const inject = await createWorktree({ ...base(), taskId: 'x', reviewId: randomUUID(), commitish: '--orphan' }).catch((e: unknown) => e);
    expect((inject as AppError).code).toBe('invalid_ref');

    const reviewId = randomUUID();
    const first = await createWorktree({ ...base(), taskId: 'dup', reviewId, commitish: 'main' });
    const again = await createWorktree({ ...base(), taskId: 'dup', reviewId, commitish: 'main' }).catch((e: unknown) => e);
    expect((again as AppError).code).toBe('conflict');
    expect(await git(first.path, 'status', '--porcelain')).toBe(''); // the first is intact
    await removeWorktree({ dataDir, mirrorPath: mirror, path: first.path, branch: first.branch });
  });
});
