import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import { KNOWLEDGE_MD_MAX_ENTRIES, renderKnowledgeMd } from './export-knowledge.js';
import { listKnowledge } from './knowledge.repo.js';


export interface KnowledgeMarkdown {
  project_id: string;
  project_slug: string;
  markdown: string;
}

/**
 * A project's KNOWLEDGE.md as the actor may read it (viewer role): rendered from the database by
 * the same section renderer the export uses, so both always agree (a test compares them).
 */
export async function getKnowledgeMarkdown(deps: CoreDeps, actor: Actor, projectRef: string): Promise<KnowledgeMarkdown> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const { project } = await loadProjectFor(tx, actor, projectRef, 'viewer');
    const entries = await listKnowledge(tx, { projectId: project.id, limit: KNOWLEDGE_MD_MAX_ENTRIES });
    return { project_id: project.id, project_slug: project.slug, markdown: await renderKnowledgeMd(project.slug, entries) };
  });
}
