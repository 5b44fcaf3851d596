import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isUuid, withTenant } from '../../db/client.js';
import type { CoreDeps } from '../deps.js';
import { claimStaleLease, leasedPaths, listStaleWorktrees } from './leases.repo.js';
import { mirrorPathFor, worktreesRoot } from './paths.js';
import { branchOf, removeWorktree } from './worktrees.js';

/**
 * The worktree sweeper. Three kinds of leftovers:
 *  - lapsed: the lease's heartbeat stopped (its process died mid-review);
 *  - ttl: the lease is older than the TTL (a review stuck for a day);
 *  - orphan: a directory under $DATA/worktrees with no lease at all, e.g. the lease was reclaimed
 *    but deleting the files failed. withWorktree commits the lease before creating the
 *    directory, so a lease-less directory is never a review in progress; the grace period is a
 *    margin for worktrees made outside withWorktree.
 * A stale lease is first deleted conditionally (still stale?), so of several sweepers exactly
 * one removes it, and an owner that heartbeated since the listing keeps its worktree.
 */

export const DEFAULT_WORKTREE_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60 * 1000;

/** Suffix of an orphan a sweeper has claimed (a crash mid-removal leaves it for the next sweep). */
const SWEEP_MARK = '.sweeping-';

export type SweepReason = 'lapsed' | 'ttl' | 'orphan';

export interface SweepWorktreesReport {
  removed: Array<{ path: string; reason: SweepReason; org_id: string; project_id: string }>;
  /** Stale administrative entries `git worktree prune` dropped from mirrors. */
  pruned: number;
  failed: Array<{ path: string; reason: SweepReason; message: string }>;
}

export interface SweepWorktreesOptions {
  lapseMs: number;
  ttlMs?: number;
  orphanGraceMs?: number;
  /** The sweeping process's lease owner id: its own lapsed leases are in use (it is alive), never reclaimed… */
  selfOwner?: string | undefined;
  /** …unless this says the lease's review no longer runs in the sweeping process (a leftover of a finished attempt). */
  selfInUse?: ((reviewId: string) => boolean) | undefined;
}

export async function sweepWorktrees(deps: Pick<CoreDeps, 'db' | 'config' | 'logger' | 'clock'>, o: SweepWorktreesOptions): Promise<SweepWorktreesReport> {
  const dataDir = deps.config.dataDir;
  const window = { lapseMs: o.lapseMs, ttlMs: o.ttlMs ?? DEFAULT_WORKTREE_TTL_MS };
  const report: SweepWorktreesReport = { removed: [], pruned: 0, failed: [] };

  const remove = async (w: { orgId: string; projectId: string; path: string; branch?: string | undefined; reportAs?: string }, reason: SweepReason) => {
    const shown = w.reportAs ?? w.path;
    try {
      const r = await removeWorktree({ dataDir, mirrorPath: mirrorPathFor(dataDir, w.orgId, w.projectId), path: w.path, branch: w.branch });
      report.pruned += r.pruned;
      report.removed.push({ path: shown, reason, org_id: w.orgId, project_id: w.projectId });
    } catch (e) {
      report.failed.push({ path: shown, reason, message: (e as Error).message });
    }
  };

  for (const s of await listStaleWorktrees(deps.db, window)) {
    if (s.reason === 'lapsed' && o.selfOwner !== undefined && s.owner === o.selfOwner && (o.selfInUse?.(s.reviewId) ?? true)) continue;
    // The claim (a DELETE) stays uncommitted until the files and the branch are gone: the next
    // attempt of the same review uses the same path and branch, and its lease INSERT (unique path)
    // waits on this delete instead of creating a worktree that this removal would then take away.
    // A sweeper that dies midway rolls back: the lease is still there for the next sweep.
    await withTenant(deps.db, s.orgId, async (tx) => {
      if (!(await claimStaleLease(tx, s.leaseId, window))) return;
      // Take the directory by renaming it first (another sweeper's orphan pass cannot take it then).
      // If it is already gone, removal still prunes git's entry and the branch.
      const moved = `${s.path}${SWEEP_MARK}${randomBytes(4).toString('hex')}`;
      const path = (await fs.rename(s.path, moved).then(() => true, () => false)) ? moved : s.path;
      await remove({ orgId: s.orgId, projectId: s.projectId, path, branch: s.branch, reportAs: s.path }, s.reason);
    });
  }

  const graceMs = o.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
  const cutoff = deps.clock.now().getTime() - graceMs;
  for (const [orgId, candidates] of await oldWorktreeDirs(worktreesRoot(dataDir), cutoff)) {
    const leased = await withTenant(deps.db, orgId, (tx) => leasedPaths(tx, candidates.map((c) => c.path)));
    for (const c of candidates) {
      if (leased.has(c.path)) continue;
      // Claim the orphan by renaming it (atomic): of concurrent sweepers only one proceeds. The
      // moved worktree's git link still works, so its branch is found; git's stale entry is pruned.
      const original = c.path.split(SWEEP_MARK)[0]!;
      const claimed = `${original}${SWEEP_MARK}${randomBytes(4).toString('hex')}`;
      // Read before the move: a concurrent prune may drop git's entry for the moved directory.
      const branch = await branchOf(c.path);
      if (!(await fs.rename(c.path, claimed).then(() => true, () => false))) continue;
      await remove({ orgId, projectId: c.projectId, path: claimed, branch, reportAs: original }, 'orphan');
    }
  }

  if (report.removed.length > 0 || report.failed.length > 0) {
    deps.logger.warn({ removed: report.removed, pruned: report.pruned, failed: report.failed }, `swept ${report.removed.length} worktree(s)`);
  }
  return report;
}

/** Worktree directories ($root/{org}/{project}/{name}) last modified before `cutoff`, by org. */
async function oldWorktreeDirs(root: string, cutoff: number): Promise<Map<string, Array<{ projectId: string; path: string }>>> {
  const out = new Map<string, Array<{ projectId: string; path: string }>>();
  for (const org of await dirs(root)) {
    if (!isUuid(org)) continue; // not ours: leave it alone
    for (const project of await dirs(path.join(root, org))) {
      if (!isUuid(project)) continue;
      for (const name of await dirs(path.join(root, org, project))) {
        const p = path.join(root, org, project, name);
        const st = await fs.lstat(p).catch(() => undefined);
        // A claimed orphan keeps its old mtime, but the rename set its ctime: age it by that, so
        // only one left behind by a crashed sweeper is taken, never one another sweeper is removing.
        const age = name.includes(SWEEP_MARK) ? st?.ctimeMs : st?.mtimeMs;
        if (age !== undefined && age < cutoff) {
          const list = out.get(org) ?? [];
          list.push({ projectId: project, path: p });
          out.set(org, list);
        }
      }
    }
  }
  return out;
}

async function dirs(p: string): Promise<string[]> {
  const entries = await fs.readdir(p, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}
