import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { commitDiff } from '../git/commit-diff.js';
import { ensureMirror, type Mirror } from '../git/mirror.js';
import { diffBetween, resolveCommit, resolveTarget } from '../git/resolve-target.js';
import { withWorktree } from '../git/with-worktree.js';
import { filesystemUsedFraction } from '../git/disk.js';
import { emitEvent } from '../events/emit.js';
import { removeWorktree } from '../git/worktrees.js';
import type { Project } from '../tenancy/projects.repo.js';
import type { ReviewRow, StoredTarget } from './reviews.repo.js';

/** The change a panel reviews, and where it was checked out (if the project has a repository). */
export interface PreparedChange {
  diffText: string;
  baseSha: string | null;
  headSha: string | null;
  /** The commit Quorum made of a submitted diff, authored by the developer. */
  commitSha: string | null;
  branch: string | null;
  worktreePath: string | null;
  /** Files left out of the diff by the size cap: reported as clipped, never hidden. */
  omittedFiles: string[];
  /** What the review could not do with the change, for its coverage (a diff that does not apply). */
  notes?: string[];
}

interface PrepareInput {
  review: ReviewRow;
  project: Project;
  owner: string;
}

/**
 * Gets the change into reviewable shape and runs `fn` with it, inside a leased worktree when the
 * project has a repository (removed however `fn` ends). A submitted diff is committed on the
 * review branch with the developer's identity; refs are resolved in Quorum's own mirror.
 */
export async function withPreparedChange<T>(deps: CoreDeps, i: PrepareInput, fn: (c: PreparedChange) => Promise<T>): Promise<T> {
  const target = i.review.target as unknown as StoredTarget;
  if (!i.project.repoUrl) {
    if (target.kind !== 'diff') {
      throw new AppError('unprocessable', 'this project has no repository (repo_url); send the change as a diff, or set repo_url to review refs');
    }
    return fn({ diffText: target.diff, baseSha: null, headSha: null, commitSha: null, branch: null, worktreePath: null, omittedFiles: [] });
  }
  await waitIfDiskFull(deps, i.review);
  const mirror = await ensureMirror(deps.config.dataDir, i.review.org_id, i.project.id, i.project.repoUrl, { localRoots: deps.config.localRepoRoots });
  await reclaimPreviousAttempt(deps, i, mirror);
  const common = {
    orgId: i.review.org_id,
    projectId: i.project.id,
    projectSlug: i.project.slug,
    taskId: i.review.task_id,
    reviewId: i.review.id,
    mirrorPath: mirror.path,
    owner: i.owner,
  };
  if (target.kind === 'diff') {
    const baseSha = await resolveCommit(mirror.path, i.project.defaultBranch).catch(() => null);
    if (!baseSha) {
      const notes = [`the project's default branch ${i.project.defaultBranch} has no commit: the diff was reviewed as submitted, without the repository around it`];
      return fn({ diffText: target.diff, baseSha: null, headSha: null, commitSha: null, branch: null, worktreePath: null, omittedFiles: [], notes });
    }
    const developer = await developerOf(deps, i.review);
    return withWorktree(deps, { ...common, commitish: baseSha, keepBranch: true }, counted(deps, i, async (wt) => {
      // A diff that does not apply to the default branch is still reviewed, from its text alone.
      const commitSha = await commitDiff(wt.path, target.diff, developer, `Quorum review ${i.review.task_id} (${i.review.id})`).catch((e: unknown) => {
        deps.logger.info({ review_id: i.review.id, err: (e as Error).message }, 'diff does not apply to the default branch; reviewing its text');
        return null;
      });
      return fn({
        diffText: target.diff,
        baseSha,
        headSha: commitSha,
        commitSha,
        branch: commitSha ? wt.branch : null,
        worktreePath: wt.path,
        omittedFiles: [],
        ...(!commitSha && {
          notes: [`the diff does not apply to ${i.project.defaultBranch} (${baseSha.slice(0, 12)}): it was reviewed as submitted, without the repository around it, and no commit was made`],
        }),
      });
    }));
  }
  const resolved = await resolveTarget(mirror.path, target);
  const diff = await diffBetween(mirror.path, resolved.baseSha, resolved.headSha);
  return withWorktree(deps, { ...common, commitish: resolved.headSha }, counted(deps, i, (wt) =>
    fn({
      diffText: diff.text,
      baseSha: resolved.baseIsEmptyTree ? null : resolved.baseSha,
      headSha: resolved.headSha,
      commitSha: null,
      branch: null,
      worktreePath: wt.path,
      omittedFiles: diff.omittedFiles,
    }),
  ));
}

/** Counts the worktrees this process holds, by org and project, while `fn` runs. */
function counted<A, T>(deps: CoreDeps, i: PrepareInput, fn: (a: A) => Promise<T>): (a: A) => Promise<T> {
  const labels = { org: i.review.org_id, project: i.project.id };
  return async (a) => {
    deps.metrics.worktreesLive.inc(labels);
    try {
      return await fn(a);
    } finally {
      deps.metrics.worktreesLive.dec(labels);
    }
  };
}

/**
 * Above the disk threshold no new worktree is made: the org is told (`worktree.disk_pressure`),
 * the review goes back to queued and its job is retried later with backoff (503 = not final).
 */
async function waitIfDiskFull(deps: CoreDeps, review: ReviewRow): Promise<void> {
  const used = await filesystemUsedFraction(deps.config.dataDir);
  deps.metrics.worktreeDiskUsed.set(used);
  const threshold = deps.config.worktreeDiskThreshold;
  if (used <= threshold) return;
  await withTenant(deps.db, review.org_id, async (tx) => {
    await tx.updateTable('reviews').set({ status: 'queued' }).where('id', '=', review.id).where('status', '=', 'running').execute();
    await emitEvent(tx, { orgId: review.org_id }, { type: 'worktree.disk_pressure', payload: { used_fraction: Math.min(1, used), threshold } });
  });
  deps.logger.warn({ review_id: review.id, used_fraction: used, threshold }, 'worktree disk above threshold; review waits');
  throw new AppError('not_ready', `the worktree disk is ${(used * 100).toFixed(1)}% full (threshold ${(threshold * 100).toFixed(0)}%); the review will be retried`);
}

/**
 * The queue runs one attempt of a review at a time, so a lease of this review still present now
 * belongs to an attempt whose process died: remove its worktree before making a new one.
 */
async function reclaimPreviousAttempt(deps: CoreDeps, i: PrepareInput, mirror: Mirror): Promise<void> {
  const leases = await withTenant(deps.db, i.review.org_id, (tx) =>
    tx.selectFrom('worktree_leases').select(['id', 'path', 'branch']).where('review_id', '=', i.review.id).execute(),
  );
  for (const l of leases) {
    await removeWorktree({ dataDir: deps.config.dataDir, mirrorPath: mirror.path, path: l.path, branch: l.branch });
    await withTenant(deps.db, i.review.org_id, (tx) => tx.deleteFrom('worktree_leases').where('id', '=', l.id).execute());
    deps.logger.info({ review_id: i.review.id, path: l.path }, 'removed the worktree of an interrupted attempt');
  }
}

async function developerOf(deps: CoreDeps, review: ReviewRow): Promise<{ name: string; email: string }> {
  const u = await withTenant(deps.db, review.org_id, (tx) =>
    tx.selectFrom('users').select(['name', 'email']).where('id', '=', review.developer_id).executeTakeFirst(),
  );
  if (!u) throw new AppError('unprocessable', 'the developer of this review no longer exists');
  return u;
}
