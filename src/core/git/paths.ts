import path from 'node:path';
import { isUuid } from '../../db/client.js';
import { AppError } from '../errors.js';
import { validateTaskId, worktreeBranchName } from './refs.js';

/**
 * Where Quorum keeps git data, all under the data directory and namespaced by org and project
 * ids (never by names a user chose, so no two tenants or projects can share a path):
 *   $DATA/repos/{orgId}/{projectId}.git                            bare mirror of the project's repository
 *   $DATA/worktrees/{orgId}/{projectId}/{taskId}-{reviewId}        one review's checkout
 */
export function reposRoot(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'repos');
}

export function worktreesRoot(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'worktrees');
}

function ids(orgId: string, projectId: string): void {
  if (!isUuid(orgId) || !isUuid(projectId)) throw new AppError('bad_request', 'org and project ids must be UUIDs');
}

export function mirrorPathFor(dataDir: string, orgId: string, projectId: string): string {
  ids(orgId, projectId);
  return path.join(reposRoot(dataDir), orgId, `${projectId}.git`);
}

export interface WorktreeLocation {
  path: string;
  branch: string;
}

export function worktreeLocation(
  dataDir: string,
  o: { orgId: string; projectId: string; projectSlug: string; taskId: string; reviewId: string },
): WorktreeLocation {
  ids(o.orgId, o.projectId);
  if (!isUuid(o.reviewId)) throw new AppError('bad_request', 'review id must be a UUID');
  validateTaskId(o.taskId);
  return {
    path: path.join(worktreesRoot(dataDir), o.orgId, o.projectId, `${o.taskId}-${o.reviewId}`),
    branch: worktreeBranchName(o.projectSlug, o.taskId, o.reviewId),
  };
}
