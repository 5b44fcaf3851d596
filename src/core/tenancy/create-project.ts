import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { remoteDefaultBranch } from '../git/mirror.js';
import { validateRepoUrl } from '../git/repo-url.js';
import type { RequestContext } from './actor.js';
import { insertAudit } from './audit.repo.js';
import { projectOut } from './project-out.js';
import type { CreateProjectInput, ProjectOut } from './project.schemas.js';
import { toProject } from './projects.repo.js';
import { requireUnrestrictedOrgAdmin } from './rbac.js';

export async function createProject(deps: CoreDeps, ctx: RequestContext, input: CreateProjectInput): Promise<ProjectOut> {
  requireUnrestrictedOrgAdmin(ctx.actor);
  // Refuses dangerous transports, embedded credentials and paths inside Quorum's own data.
  if (input.repo_url) validateRepoUrl(input.repo_url, { dataDir: deps.config.dataDir, localRoots: deps.config.localRepoRoots });
  // Unless told, the project follows its repository's default branch (read before the transaction).
  const defaultBranch = input.default_branch ?? (input.repo_url ? await remoteDefaultBranch(input.repo_url) : undefined) ?? 'main';
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const exists = await tx.selectFrom('projects').select('id').where('slug', '=', input.slug).executeTakeFirst();
      if (exists) throw new AppError('already_exists', `a project with slug "${input.slug}" already exists in this org`);
      const row = await tx
        .insertInto('projects')
        .values({
          org_id: ctx.actor.orgId,
          slug: input.slug,
          name: input.name ?? input.slug,
          repo_url: input.repo_url ?? null,
          default_branch: defaultBranch,
          settings: JSON.stringify(input.settings ?? {}),
          created_by: ctx.actor.userId,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const project = toProject(row);
      await insertAudit(tx, ctx, {
        action: 'project.create',
        projectId: project.id,
        targetType: 'project',
        targetId: project.id,
        diff: { slug: project.slug, name: project.name, repo_url: project.repoUrl, default_branch: project.defaultBranch },
      });
      return projectOut(project, 'admin');
    },
    { userId: ctx.actor.userId },
  );
}
