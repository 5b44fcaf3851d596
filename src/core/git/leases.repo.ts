import { sql, type Selectable, type Transaction } from 'kysely';
import type { Db } from '../../db/client.js';
import type { Database, WorktreeLeasesTable } from '../../db/schema.js';

/**
 * worktree_leases: a worktree exists while its lease row does, and the row's heartbeat says its
 * owner process is alive. All functions but the stale listing run in the caller's withTenant
 * transaction; times are the database's clock, so machines with skewed clocks agree.
 */

export interface Lease {
  id: string;
  orgId: string;
  projectId: string;
  reviewId: string;
  path: string;
  branch: string;
  owner: string;
  heartbeatAt: Date;
  createdAt: Date;
}

function toLease(r: Selectable<WorktreeLeasesTable>): Lease {
  return {
    id: r.id,
    orgId: r.org_id,
    projectId: r.project_id,
    reviewId: r.review_id,
    path: r.path,
    branch: r.branch,
    owner: r.owner,
    heartbeatAt: r.heartbeat_at,
    createdAt: r.created_at,
  };
}

type Tx = Transaction<Database>;

export async function insertLease(
  tx: Tx,
  v: { orgId: string; projectId: string; reviewId: string; path: string; branch: string; owner: string },
): Promise<Lease> {
  const row = await tx
    .insertInto('worktree_leases')
    .values({ org_id: v.orgId, project_id: v.projectId, review_id: v.reviewId, path: v.path, branch: v.branch, owner: v.owner })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toLease(row);
}

/** Refreshes every lease `owner` holds in this org; returns how many. */
export async function heartbeatLeases(tx: Tx, owner: string): Promise<number> {
  const r = await tx.updateTable('worktree_leases').set({ heartbeat_at: sql<Date>`now()` }).where('owner', '=', owner).executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Refreshes one lease; false when it is gone (a sweeper judged its owner dead and reclaimed it). */
export async function heartbeatLease(tx: Tx, id: string): Promise<boolean> {
  const r = await tx.updateTable('worktree_leases').set({ heartbeat_at: sql<Date>`now()` }).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function deleteLease(tx: Tx, id: string): Promise<boolean> {
  const r = await tx.deleteFrom('worktree_leases').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function findLease(tx: Tx, id: string): Promise<Lease | undefined> {
  const row = await tx.selectFrom('worktree_leases').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toLease(row) : undefined;
}

/**
 * Deletes a lease only if it is still stale. Of several sweepers (one per process), exactly one
 * wins; and an owner that heartbeated since the listing keeps its worktree.
 */
export async function claimStaleLease(tx: Tx, id: string, o: { lapseMs: number; ttlMs: number }): Promise<boolean> {
  const r = await tx
    .deleteFrom('worktree_leases')
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${o.lapseMs / 1000})`),
        eb('created_at', '<', sql<Date>`now() - make_interval(secs => ${o.ttlMs / 1000})`),
      ]),
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

/** Which of `paths` have a lease in this org. */
export async function leasedPaths(tx: Tx, paths: string[]): Promise<Set<string>> {
  if (paths.length === 0) return new Set();
  const rows = await tx.selectFrom('worktree_leases').select('path').where('path', 'in', paths).execute();
  return new Set(rows.map((r) => r.path));
}

export interface StaleWorktree {
  leaseId: string;
  orgId: string;
  projectId: string;
  reviewId: string;
  path: string;
  branch: string;
  owner: string;
  reason: 'lapsed' | 'ttl';
}

/** Stale leases of every org, through the named cross-org function (0005). */
export async function listStaleWorktrees(db: Db, o: { lapseMs: number; ttlMs: number }): Promise<StaleWorktree[]> {
  const r = await sql<{ lease_id: string; org_id: string; project_id: string; review_id: string; path: string; branch: string; owner: string; reason: string }>`
    select lease_id, org_id, project_id, review_id, path, branch, owner, reason
      from quorum.system_stale_worktrees(make_interval(secs => ${o.lapseMs / 1000}), make_interval(secs => ${o.ttlMs / 1000}))`.execute(db);
  return r.rows.map((x) => ({
    leaseId: x.lease_id,
    orgId: x.org_id,
    projectId: x.project_id,
    reviewId: x.review_id,
    path: x.path,
    branch: x.branch,
    owner: x.owner,
    reason: x.reason === 'ttl' ? 'ttl' : 'lapsed',
  }));
}
