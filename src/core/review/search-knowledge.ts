import { decodeTimeCursor, encodeTimeCursor } from './time-cursor.js';
import { z } from 'zod';
import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import type { Page } from '../tenancy/list-projects.js';
import { listKnowledge, type KnowledgeOut } from './knowledge.repo.js';

export const SearchKnowledgeQuery = z.object({
  q: z.string().regex(/^\P{Cc}*$/u, 'must not contain control characters').max(200).optional(),
  cursor: z.string().regex(/^\P{Cc}*$/u, 'must not contain control characters').max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type SearchKnowledgeQuery = z.infer<typeof SearchKnowledgeQuery>;

export const KnowledgeEntryOut = z.object({
  id: z.string(),
  project_id: z.string(),
  review_id: z.string(),
  finding_id: z.string(),
  developer_id: z.string(),
  developer_name: z.string(),
  category: z.string(),
  title: z.string(),
  file: z.string(),
  severity: z.number(),
  detail: z.string(),
  created_at: z.string(),
});

/** A project's knowledge entries, optionally filtered by text; viewer role on the project. */
export async function searchKnowledge(deps: CoreDeps, actor: Actor, projectRef: string, q: SearchKnowledgeQuery): Promise<Page<KnowledgeOut>> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const { project } = await loadProjectFor(tx, actor, projectRef, 'viewer');
    const before = decodeTimeCursor(q.cursor);
    const rows = await listKnowledge(tx, { projectId: project.id, text: q.q, limit: q.limit + 1, before });
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return { items: items.map(({ cursor_at: _cursor, ...k }) => k), next_cursor: rows.length > q.limit && last ? encodeTimeCursor(last.cursor_at, last.id) : null };
  });
}
