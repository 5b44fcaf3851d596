import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';

export interface SimilarEntry {
  developer_id: string;
  developer_name: string;
  date: string;
  review_id: string;
  note: string;
}

/**
 * The earliest knowledge entry anywhere in the org (RLS scopes it) with the same category and
 * normalized title, from another review: "similar finding detected by alice on 2026-02-21 (review …)".
 */
export async function findSimilar(
  tx: Transaction<Database>,
  q: { category: string; normalizedTitle: string; excludeReviewId: string },
): Promise<SimilarEntry | null> {
  const row = await tx
    .selectFrom('knowledge as k')
    .innerJoin('users as u', 'u.id', 'k.developer_id')
    .select(['k.developer_id', 'u.name', 'k.created_at', 'k.review_id'])
    .where('k.category', '=', q.category)
    .where('k.normalized_title', '=', q.normalizedTitle)
    .where('k.review_id', '!=', q.excludeReviewId)
    .orderBy('k.created_at')
    .orderBy('k.id')
    .limit(1)
    .executeTakeFirst();
  if (!row) return null;
  const date = row.created_at.toISOString().slice(0, 10);
  return {
    developer_id: row.developer_id,
    developer_name: row.name,
    date,
    review_id: row.review_id,
    note: `similar finding detected by ${row.name} on ${date} (review ${row.review_id})`,
  };
}

export interface KnowledgeOut {
  id: string;
  project_id: string;
  review_id: string;
  finding_id: string;
  developer_id: string;
  developer_name: string;
  category: string;
  title: string;
  file: string;
  severity: number;
  detail: string;
  created_at: string;
}

export async function listKnowledge(
  tx: Transaction<Database>,
  q: { projectId?: string | undefined; text?: string | undefined; limit: number; before?: { at: Date; id: string } | undefined },
): Promise<KnowledgeOut[]> {
  let query = tx
    .selectFrom('knowledge as k')
    .innerJoin('users as u', 'u.id', 'k.developer_id')
    .select([
      'k.id', 'k.project_id', 'k.review_id', 'k.finding_id', 'k.developer_id', 'u.name as developer_name',
      'k.category', 'k.title', 'k.file', 'k.severity', 'k.detail', 'k.created_at',
    ])
    .orderBy('k.created_at', 'desc')
    .orderBy('k.id', 'desc')
    .limit(q.limit);
  if (q.projectId) query = query.where('k.project_id', '=', q.projectId);
  if (q.text) {
    const like = `%${q.text.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    query = query.where((eb) => eb.or([eb('k.title', 'ilike', like), eb('k.detail', 'ilike', like), eb('k.file', 'ilike', like), eb('k.category', 'ilike', like)]));
  }
  if (q.before) {
    const b = q.before;
    query = query.where((eb) => eb.or([eb('k.created_at', '<', b.at), eb.and([eb('k.created_at', '=', b.at), eb('k.id', '<', b.id)])]));
  }
  const rows = await query.execute();
  return rows.map((r) => ({ ...r, severity: Number(r.severity), created_at: r.created_at.toISOString() }));
}

/** Serializes KNOWLEDGE.md exports of one project across every process (released at commit). */
export async function lockProjectKnowledge(tx: Transaction<Database>, projectId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'knowledge:' + projectId}, 0))`.execute(tx);
}
