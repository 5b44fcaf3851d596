import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import { GitError, retryOnLock, runGit, scrubPaths, type RetryOptions } from './git-exec.js';
import { repoLocks } from './keyed-mutex.js';
import { worktreeLocation, worktreesRoot } from './paths.js';
import { FULL_SHA_RE, validateRef } from './refs.js';
import { isInside } from './repo-url.js';

/**
 * Review worktrees: one per review, on its own branch in the project's mirror, so any number of
 * reviews — same task id or not — never share a directory or a branch.
 *
 * Registering a worktree touches shared state in the mirror (the branch namespace, the
 * worktrees/ admin directory), so it is serialized per mirror in this process and retried on git
 * lock contention from other processes. Populating the files is per-worktree (its own index)
 * and runs outside the lock, so a large checkout does not hold up other reviews.
 */

export interface CreateWorktreeInput {
  dataDir: string;
  orgId: string;
  projectId: string;
  projectSlug: string;
  taskId: string;
  reviewId: string;
  mirrorPath: string;
  commitish: string;
  /**
   * The caller holds this review's worktree lease (withWorktree), so a directory or branch of the
   * same review already there is a leftover of an earlier attempt that died mid-cleanup: reclaim it
   * instead of failing. Without it, a reused review id is a conflict.
   */
  reclaimLeftovers?: boolean | undefined;
}

export interface Worktree {
  path: string;
  branch: string;
  headSha: string;
  mirrorPath: string;
}

export async function createWorktree(i: CreateWorktreeInput, retry: RetryOptions = {}): Promise<Worktree> {
  const loc = worktreeLocation(i.dataDir, i);
  validateRef(i.commitish);
  const mirror = i.mirrorPath;
  const git = (args: string[]) => retryOnLock(() => runGit([`--git-dir=${mirror}`, ...args]), retry);
  const scrub = (e: unknown) => scrubPaths(e instanceof Error ? e.message : String(e), [path.resolve(i.dataDir)]);

  // A full id (what resolveTarget returns) needs no lookup: update-ref below rejects a missing object.
  const headSha = FULL_SHA_RE.test(i.commitish)
    ? i.commitish
    : await runGit([`--git-dir=${mirror}`, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${i.commitish}^{commit}`]).then(
        (r) => r.stdout.trim(),
        () => {
          throw new AppError('invalid_ref', `ref ${JSON.stringify(i.commitish)} does not name a commit in the project repository`);
        },
      );
  await fs.mkdir(path.dirname(loc.path), { recursive: true });
  // The path carries the review id: with the lease held, a directory already there was left by an
  // earlier attempt of this review that died mid-cleanup. Remove it (and its branch).
  if (i.reclaimLeftovers && (await exists(loc.path))) await removeWorktree({ dataDir: i.dataDir, mirrorPath: mirror, path: loc.path }, retry);

  // Creating a new loose ref locks only that ref, so branches are created concurrently; the
  // zero old value makes it fail (not overwrite) if the branch exists, and idempotent under retry.
  const createBranch = () => git(['update-ref', '--no-deref', `refs/heads/${loc.branch}`, headSha, '0'.repeat(headSha.length)]);
  try {
    await createBranch().catch(async (e: unknown) => {
      if (!i.reclaimLeftovers || !/reference already exists/.test(e instanceof Error ? e.message : '')) throw e;
      // The branch name carries the review id: it is left over by an earlier attempt of this review
      // that died between removing its lease and its branch (a SIGKILL mid-cleanup). Reclaim it.
      await repoLocks.run(mirror, () => dropLeftoverBranch(mirror, loc.branch, i.dataDir, retry));
      await createBranch();
    });
  } catch (e) {
    throw new AppError('conflict', `could not create branch ${loc.branch}: ${scrub(e)}`);
  }
  // Registering the worktree writes the mirror's worktrees/ directory: one at a time per mirror.
  try {
    await repoLocks.run(mirror, () => git(['worktree', 'add', '--no-checkout', '--quiet', '--', loc.path, loc.branch]));
  } catch (e) {
    await git(['update-ref', '-d', `refs/heads/${loc.branch}`]).catch(() => {});
    throw new AppError('conflict', `could not create worktree for review ${i.reviewId}: ${scrub(e)}`);
  }

  try {
    await runGit(['reset', '--hard', '--quiet'], { cwd: loc.path, env: ceiling(loc.path) });
  } catch (e) {
    await removeWorktree({ dataDir: i.dataDir, mirrorPath: mirror, path: loc.path, branch: loc.branch }).catch(() => {});
    throw new AppError('internal', `could not check out the worktree: ${scrub(e)}`);
  }
  return { path: loc.path, branch: loc.branch, headSha, mirrorPath: mirror };
}

export interface RemoveWorktreeInput {
  dataDir: string;
  mirrorPath: string;
  path: string;
  /** The worktree's branch; read from the worktree when omitted (orphans found on disk). */
  branch?: string | undefined;
  /** Keep the branch (and so any commit made on it) after the worktree is gone. Default false. */
  keepBranch?: boolean | undefined;
}

export interface RemoveWorktreeResult {
  /** The directory existed and is gone. */
  removed: boolean;
  /** Stale administrative entries `git worktree prune` dropped. */
  pruned: number;
}

/** Removes a review worktree, its admin entry and (unless kept) its branch. Safe to repeat. */
export async function removeWorktree(i: RemoveWorktreeInput, retry: RetryOptions = {}): Promise<RemoveWorktreeResult> {
  const target = path.resolve(i.path);
  // Paths come from our own rows and directory walks; still, never delete outside the worktree root.
  if (!isInside(worktreesRoot(i.dataDir), target) || target === worktreesRoot(i.dataDir)) {
    throw new AppError('bad_request', 'refusing to remove a path outside the worktree root');
  }
  const existed = await exists(target);
  const mirrorOk = await exists(path.join(i.mirrorPath, 'HEAD'));
  const branch = i.branch ?? (existed ? await branchOf(target) : undefined);
  if (branch !== undefined && !branch.startsWith('quorum/')) throw new AppError('bad_request', 'refusing to delete a branch Quorum did not create');

  let pruned = 0;
  let viaGit = false;
  if (existed && mirrorOk) {
    // Deleting the files touches only this worktree's directory and admin entry: no mirror lock.
    viaGit = await retryOnLock(() => runGit([`--git-dir=${i.mirrorPath}`, 'worktree', 'remove', '--force', '--', target]), retry).then(
      () => true,
      () => false,
    );
  }
  if (!viaGit) await fs.rm(target, { recursive: true, force: true });
  if (mirrorOk) {
    await repoLocks.run(i.mirrorPath, async () => {
      if (!viaGit) pruned = await pruneWorktrees(i.mirrorPath, retry);
      if (branch !== undefined && !i.keepBranch) {
        await retryOnLock(() => runGit([`--git-dir=${i.mirrorPath}`, 'update-ref', '-d', `refs/heads/${branch}`]), retry);
      }
    });
  }
  return { removed: existed && !(await exists(target)), pruned };
}

/** Removes whatever worktree still has `branch` checked out (a dead attempt's), then the branch. */
async function dropLeftoverBranch(mirror: string, branch: string, dataDir: string, retry: RetryOptions): Promise<void> {
  await pruneWorktrees(mirror, retry);
  const list = await runGit([`--git-dir=${mirror}`, 'worktree', 'list', '--porcelain']);
  let current: string | undefined;
  for (const line of list.stdout.split('\n')) {
    if (line.startsWith('worktree ')) current = line.slice('worktree '.length);
    else if (line === `branch refs/heads/${branch}` && current && isInside(worktreesRoot(dataDir), path.resolve(current))) {
      await retryOnLock(() => runGit([`--git-dir=${mirror}`, 'worktree', 'remove', '--force', '--', current!]), retry).catch(() => fs.rm(current!, { recursive: true, force: true }));
    }
  }
  await pruneWorktrees(mirror, retry);
  await retryOnLock(() => runGit([`--git-dir=${mirror}`, 'update-ref', '-d', `refs/heads/${branch}`]), retry);
}

/** `git worktree prune`, returning how many stale entries it dropped. */
export async function pruneWorktrees(mirrorPath: string, retry: RetryOptions = {}): Promise<number> {
  const r = await retryOnLock(() => runGit([`--git-dir=${mirrorPath}`, 'worktree', 'prune', '--verbose']), retry);
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^Removing worktrees\//.test(l)).length;
}

/** The quorum/* branch a worktree has checked out, if it is still a working git worktree. */
export async function branchOf(worktree: string): Promise<string | undefined> {
  try {
    const r = await runGit(['symbolic-ref', '-q', 'HEAD'], { cwd: worktree, env: ceiling(worktree) });
    const ref = r.stdout.trim();
    return ref.startsWith('refs/heads/quorum/') ? ref.slice('refs/heads/'.length) : undefined;
  } catch (e) {
    if (e instanceof GitError) return undefined;
    throw e;
  }
}

/** Stops git's repository discovery at the worktree: a broken one must not resolve to a parent repository. */
export function ceiling(worktree: string): Record<string, string> {
  return { GIT_CEILING_DIRECTORIES: path.dirname(path.resolve(worktree)) };
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
