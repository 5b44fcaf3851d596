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
 * For each (category, normalized title), the earliest knowledge entry anywhere in the org (RLS
 * scopes it) from another review — one query for the whole review. Keyed by `${category}\0${title}`;
 * its note reads "similar finding detected by alice on 2026-02-21 (review …)".
 */
export async function findSimilarMany(
  tx: Transaction<Database>,
  keys: Array<{ category: string; normalizedTitle: string }>,
  excludeReviewId: string,
): Promise<Map<string, SimilarEntry>> {
  const out = new Map<string, SimilarEntry>();
  if (keys.length === 0) return out;
  const unique = [...new Map(keys.map((k) => [`${k.category}\0${k.normalizedTitle}`, k])).values()];
  // One index probe per key (knowledge_match: org, category, title, created_at), however many
  // entries share the title: the earliest one is all a note needs.
  const { rows } = await sql<{ category: string; normalized_title: string; developer_id: string; name: string; created_at: Date; review_id: string }>`
    select q.category, q.normalized_title, k.developer_id, u.name, k.created_at, k.review_id
      from unnest(${unique.map((k) => k.category)}::text[], ${unique.map((k) => k.normalizedTitle)}::text[]) as q(category, normalized_title)
      cross join lateral (
        select k.developer_id, k.created_at, k.review_id
          from knowledge k
         where k.category = q.category and k.normalized_title = q.normalized_title and k.review_id <> ${excludeReviewId}
         order by k.created_at, k.id
         limit 1) k
      join users u on u.id = k.developer_id`.execute(tx);
  for (const r of rows) {
    const date = r.created_at.toISOString().slice(0, 10);
    out.set(`${r.category}\0${r.normalized_title}`, {
      developer_id: r.developer_id,
      developer_name: r.name,
      date,
      review_id: r.review_id,
      note: `similar finding detected by ${r.name} on ${date} (review ${r.review_id})`,
    });
  }
  return out;
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

/** A project's knowledge entries as KNOWLEDGE.md lists them (newest first): ids and authors' names only. */
export async function listKnowledgeIndex(tx: Transaction<Database>, projectId: string, limit: number): Promise<Array<{ id: string; developer_name: string }>> {
  return tx
    .selectFrom('knowledge as k')
    .innerJoin('users as u', 'u.id', 'k.developer_id')
    .select(['k.id', 'u.name as developer_name'])
    .where('k.project_id', '=', projectId)
    .orderBy('k.created_at', 'desc')
    .orderBy('k.id', 'desc')
    .limit(limit)
    .execute();
}

/** Whole entries by id (any order). */
export async function knowledgeByIds(tx: Transaction<Database>, ids: string[]): Promise<KnowledgeOut[]> {
  if (ids.length === 0) return [];
  const rows = await tx
    .selectFrom('knowledge as k')
    .innerJoin('users as u', 'u.id', 'k.developer_id')
    .select(['k.id', 'k.project_id', 'k.review_id', 'k.finding_id', 'k.developer_id', 'u.name as developer_name', 'k.category', 'k.title', 'k.file', 'k.severity', 'k.detail', 'k.created_at'])
    .where('k.id', 'in', ids)
    .execute();
  return rows.map((r) => ({ ...r, severity: Number(r.severity), created_at: r.created_at.toISOString() }));
}

/** Serializes KNOWLEDGE.md exports of one project across every process (released at commit). */
export async function lockProjectKnowledge(tx: Transaction<Database>, projectId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'knowledge:' + projectId}, 0))`.execute(tx);
}
