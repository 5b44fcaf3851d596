import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { validateRepoUrl } from '../git/repo-url.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { loadProjectFor } from './project-access.js';
import { projectOut } from './project-out.js';
import type { ProjectOut, UpdateProjectInput } from './project.schemas.js';
import { toProject } from './projects.repo.js';

export async function updateProject(deps: CoreDeps, ctx: RequestContext, ref: string, input: UpdateProjectInput): Promise<ProjectOut> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const { project, role } = await loadProjectFor(tx, ctx.actor, ref, 'admin');
      // After authorization: a caller without access learns nothing from validation.
      if (input.repo_url) validateRepoUrl(input.repo_url, { dataDir: deps.config.dataDir, localRoots: deps.config.localRepoRoots });
      if (input.slug && input.slug !== project.slug) {
        const taken = await tx.selectFrom('projects').select('id').where('slug', '=', input.slug).executeTakeFirst();
        if (taken) throw new AppError('already_exists', `a project with slug "${input.slug}" already exists in this org`);
      }
      const patch = {
        ...(input.slug !== undefined && { slug: input.slug }),
        ...(input.name !== undefined && { name: input.name }),
        ...(input.repo_url !== undefined && { repo_url: input.repo_url }),
        ...(input.default_branch !== undefined && { default_branch: input.default_branch }),
        ...(input.settings !== undefined && { settings: JSON.stringify(input.settings) }),
      };
      const row = await tx
        .updateTable('projects')
        .set({ ...patch, updated_at: deps.clock.now() })
        .where('id', '=', project.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      const before: Record<string, unknown> = {};
      const after: Record<string, unknown> = {};
      for (const k of Object.keys(input) as (keyof UpdateProjectInput)[]) {
        const oldKey = ({ slug: 'slug', name: 'name', repo_url: 'repoUrl', default_branch: 'defaultBranch', settings: 'settings' } as const)[k];
        before[k] = project[oldKey];
        after[k] = input[k];
      }
      await insertAudit(tx, ctx, {
        action: 'project.update',
        projectId: project.id,
        targetType: 'project',
        targetId: project.id,
        diff: { before, after },
      });
      return projectOut(toProject(row), role);
    },
    { userId: ctx.actor.userId },
  );
}
