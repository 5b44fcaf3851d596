import type { Selectable, Transaction } from 'kysely';
import type { Database, ProjectsTable } from '../../db/schema.js';
import { isUuid } from '../../db/client.js';
import type { ProjectRole } from './actor.js';

export interface Project {
  id: string;
  orgId: string;
  slug: string;
  name: string;
  repoUrl: string | null;
  defaultBranch: string;
  settings: Record<string, unknown>;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toProject(r: Selectable<ProjectsTable>): Project {
  return {
    id: r.id,
    orgId: r.org_id,
    slug: r.slug,
    name: r.name,
    repoUrl: r.repo_url,
    defaultBranch: r.default_branch,
    settings: r.settings,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** `ref` is an id or a slug; RLS makes another org's project indistinguishable from a missing one. */
export async function findProject(tx: Transaction<Database>, ref: string): Promise<Project | undefined> {
  const q = tx.selectFrom('projects').selectAll();
  const row = await (isUuid(ref) ? q.where('id', '=', ref) : q.where('slug', '=', ref.toLowerCase())).executeTakeFirst();
  return row ? toProject(row) : undefined;
}

export async function projectMembership(tx: Transaction<Database>, projectId: string, userId: string): Promise<ProjectRole | null> {
  const r = await tx
    .selectFrom('project_members')
    .select('role')
    .where('project_id', '=', projectId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return r?.role ?? null;
}

export async function listProjectsRows(
  tx: Transaction<Database>,
  opts: { userId: string | null; onlyIds: string[] | null; cursor?: string | undefined; limit: number },
): Promise<Array<Project & { memberRole: ProjectRole | null }>> {
  let q = tx
    .selectFrom('projects')
    .leftJoin('project_members as pm', (j) =>
      j.onRef('pm.project_id', '=', 'projects.id').on('pm.user_id', '=', opts.userId ?? '00000000-0000-0000-0000-000000000000'),
    )
    .selectAll('projects')
    .select('pm.role as member_role')
    .orderBy('projects.slug')
    .limit(opts.limit + 1);
  // Non-admins see the projects they have a role in.
  if (opts.userId) q = q.where('pm.role', 'is not', null);
  if (opts.onlyIds) q = q.where('projects.id', 'in', opts.onlyIds.length ? opts.onlyIds : ['00000000-0000-0000-0000-000000000000']);
  if (opts.cursor) q = q.where('projects.slug', '>', opts.cursor);
  const rows = await q.execute();
  return rows.map((r) => ({ ...toProject(r), memberRole: r.member_role }));
}
