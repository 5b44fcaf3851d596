import type { ProjectRole } from './actor.js';
import type { ProjectOut } from './project.schemas.js';
import type { Project } from './projects.repo.js';

export function projectOut(p: Project, role: ProjectRole | null): ProjectOut {
  return {
    id: p.id,
    org_id: p.orgId,
    slug: p.slug,
    name: p.name,
    repo_url: p.repoUrl,
    default_branch: p.defaultBranch,
    settings: p.settings,
    role,
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
  };
}
