import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { ensureMirror } from '../../src/core/git/mirror.js';
import { createWorktree, removeWorktree } from '../../src/core/git/worktrees.js';
import { git, makeUpstream, tempDir } from '../git/git-fixture.js';

/**
 * A review attempt SIGKILLed mid-cleanup (or whose sweeper was) can leave its branch, or its
 * registered directory, behind with no lease. The next attempt of the same review holds the lease
 * (withWorktree) and reclaims them; without the lease (reclaimLeftovers unset) a reused review id
 * stays a conflict.
 */
describe('worktree leftovers of a dead attempt', () => {
  let root: string;
  let dataDir: string;
  let mirror: string;
  let head: string;
  const org = randomUUID();
  const project = randomUUID();
  const base = () => ({ dataDir, orgId: org, projectId: project, projectSlug: 'proj1', mirrorPath: mirror, taskId: 't' });

  beforeAll(async () => {
    root = await tempDir('wt-left');
    dataDir = path.join(root, 'data');
    const upstream = path.join(root, 'user-repo');
    head = (await makeUpstream(upstream, [{ 'README.md': 'hi\n' }]))[0]!;
    mirror = (await ensureMirror(dataDir, org, project, upstream)).path;
  });
  afterAll(async () => fs.rm(root, { recursive: true, force: true }));

  const worktrees = async () => (await git(mirror, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree ')).length;

  it('a leftover branch (directory already removed): reclaimed by the next attempt', async () => {
    const reviewId = randomUUID();
    const first = await createWorktree({ ...base(), reviewId, commitish: head });
    await removeWorktree({ dataDir, mirrorPath: mirror, path: first.path, keepBranch: true }); // died before deleting the branch
    expect((await createWorktree({ ...base(), reviewId, commitish: head }).catch((e: unknown) => e)) as AppError).toMatchObject({ code: 'conflict' });
    const second = await createWorktree({ ...base(), reviewId, commitish: head, reclaimLeftovers: true });
    expect(await git(second.path, 'rev-parse', 'HEAD')).toBe(head);
    await removeWorktree({ dataDir, mirrorPath: mirror, path: second.path, branch: second.branch });
    expect(await worktrees()).toBe(1);
  });

  it('a leftover registered directory with its branch: reclaimed by the next attempt', async () => {
    const reviewId = randomUUID();
    const first = await createWorktree({ ...base(), reviewId, commitish: head });
    await fs.writeFile(path.join(first.path, 'half-done.txt'), 'left by the dead attempt\n');
    const second = await createWorktree({ ...base(), reviewId, commitish: head, reclaimLeftovers: true });
    expect(second.path).toBe(first.path);
    await expect(fs.stat(path.join(second.path, 'half-done.txt'))).rejects.toThrow();
    expect(await worktrees()).toBe(2);
    await removeWorktree({ dataDir, mirrorPath: mirror, path: second.path, branch: second.branch });
    expect(await worktrees()).toBe(1);
    expect(await git(mirror, 'for-each-ref', '--format=%(refname)', 'refs/heads/quorum/')).toBe('');
  });
});
