import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { createProject } from './create-project.js';
import { projectOut } from './project-out.js';
import type { ProjectOut } from './project.schemas.js';
import { findProjectsByRepoUrl } from './projects-by-repo.repo.js';
import { effectiveProjectRole } from './rbac.js';
import { projectMembership } from './projects.repo.js';

export interface RegisterRepositoryInput {
  /** Absolute path of the repository (its top level). */
  repoUrl: string;
  /** Preferred slug (e.g. the directory name); made slug-safe and unique in the org. */
  name: string;
  defaultBranch?: string | undefined;
}

const MAX_SUFFIX = 50;

/** "My Repo!" → "my-repo"; always a valid ProjectSlug (falls back to "repo"). */
export function slugFromName(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/\.lock$/, '')
    .slice(0, 56)
    .replace(/[-.]+$/, '');
  return s || 'repo';
}

/**
 * Idempotent: the project already registered with this repository, else a new one (org admin),
 * named after it with a numeric suffix when the slug is taken. Two processes racing on the same
 * repository converge: a slug clash re-checks by location before trying the next slug.
 */
export async function registerRepository(deps: CoreDeps, ctx: RequestContext, input: RegisterRepositoryInput): Promise<{ project: ProjectOut; created: boolean }> {
  const base = slugFromName(input.name);
  for (let i = 1; i <= MAX_SUFFIX; i++) {
    const existing = await withTenant(deps.db, ctx.actor.orgId, async (tx) => {
      const p = (await findProjectsByRepoUrl(tx, input.repoUrl))[0];
      if (!p) return undefined;
      const member = await projectMembership(tx, p.id, ctx.actor.userId);
      return projectOut(p, effectiveProjectRole(ctx.actor, p.id, member));
    });
    if (existing) return { project: existing, created: false };
    const slug = i === 1 ? base : `${base.slice(0, 56)}-${i}`;
    try {
      const project = await createProject(deps, ctx, {
        slug,
        repo_url: input.repoUrl,
        ...(input.defaultBranch && { default_branch: input.defaultBranch }),
      });
      return { project, created: true };
    } catch (e) {
      if (e instanceof AppError && e.code === 'already_exists') continue;
      throw e;
    }
  }
  throw new AppError('conflict', `no free project slug for ${input.name}`);
}
