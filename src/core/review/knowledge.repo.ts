import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { afterCursor, cursorAt } from './time-cursor.js';

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

/** The author of an entry whose user the org no longer shows (the member left): the entry stays. */
export const FORMER_MEMBER = 'a former member';
const authorName = sql<string>`coalesce(u.name, ${FORMER_MEMBER})`.as('developer_name');

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
  q: { projectId?: string | undefined; text?: string | undefined; limit: number; before?: { at: string; id: string } | undefined },
): Promise<Array<KnowledgeOut & { cursor_at: string }>> {
  let query = tx
    .selectFrom('knowledge as k')
    .leftJoin('users as u', 'u.id', 'k.developer_id')
    .select([
      'k.id', 'k.project_id', 'k.review_id', 'k.finding_id', 'k.developer_id', authorName,
      'k.category', 'k.title', 'k.file', 'k.severity', 'k.detail', 'k.created_at', cursorAt('k.created_at').as('cursor_at'),
    ])
    .orderBy('k.created_at', 'desc')
    .orderBy('k.id', 'desc')
    .limit(q.limit);
  if (q.projectId) query = query.where('k.project_id', '=', q.projectId);
  if (q.text) {
    const like = `%${q.text.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    query = query.where((eb) => eb.or([eb('k.title', 'ilike', like), eb('k.detail', 'ilike', like), eb('k.file', 'ilike', like), eb('k.category', 'ilike', like)]));
  }
  if (q.before) query = query.where(afterCursor('k.created_at', 'k.id', q.before));
  const rows = await query.execute();
  return rows.map((r) => ({ ...r, severity: Number(r.severity), created_at: r.created_at.toISOString() }));
}

/** One knowledge row as an export reads it: the entry, its place in the newest-first order, its inserting transaction. */
export interface KnowledgeDeltaRow extends KnowledgeOut {
  /** created_at in microseconds since the epoch (the file's order: newest first, then id descending). */
  at_us: number;
  xid: string;
}

/**
 * What a KNOWLEDGE.md export needs, read in ONE statement (one snapshot): the `limit` newest
 * entries inserted by transactions at or above `sinceXid` except `known` ids, whether entries of
 * the project were deleted by such a transaction (knowledge_deletions: what was read before may
 * be gone), the authors' current names for `developerIds`, and the xmin of the snapshot all of this
 * was read with (the next call's `sinceXid`: every transaction below it had ended, so a row or a
 * deletion not seen now has an xid at or above it). `sinceXid` '0' reads the newest `limit` entries.
 */
export async function readKnowledgeDelta(
  tx: Transaction<Database>,
  q: { projectId: string; sinceXid: string; known: string[]; developerIds: string[]; limit: number },
): Promise<{ watermark: string; deleted: boolean; rows: KnowledgeDeltaRow[]; names: Map<string, string> }> {
  // One row per entry read (the figures repeated on each), or one row of figures and nulls.
  const { rows } = await sql<{ watermark: string; deleted: boolean; names: Record<string, string> } & Partial<Omit<KnowledgeDeltaRow, 'at_us' | 'created_at'>> & { at_us: string | null; created_at: Date | null }>`
    -- The new rows through the (project, xid) index: a few rows, not the whole project filtered.
    with recent as materialized (
      select id from knowledge where project_id = ${q.projectId} and xid >= ${q.sinceXid}::xid8
         -- Hashed, not compared one by one: while a long transaction holds the xmin back, the known list grows.
         and id not in (select unnest(${q.known}::uuid[]))
    )
    select m.watermark, m.deleted, m.names, d.*
      from (select pg_snapshot_xmin(pg_current_snapshot())::text as watermark,
                   exists (select 1 from knowledge_deletions
                            where (project_id = ${q.projectId} or project_id is null) and xid >= ${q.sinceXid}::xid8) as deleted,
                   (select coalesce(json_object_agg(u.id, u.name), '{}') from users u where u.id = any(${q.developerIds}::uuid[])) as names) m
      left join lateral (
        select k.id, k.project_id, k.review_id, k.finding_id, k.developer_id, coalesce(u.name, ${FORMER_MEMBER}) as developer_name,
               k.category, k.title, k.file, k.severity::float8 as severity, k.detail, k.created_at,
               (extract(epoch from k.created_at) * 1000000)::int8::text as at_us, k.xid::text as xid
          from knowledge k left join users u on u.id = k.developer_id
         where k.id in (select id from recent)
         order by k.created_at desc, k.id desc
         limit ${q.limit}) d on true`.execute(tx);
  const r = rows[0]!;
  return {
    watermark: r.watermark,
    deleted: r.deleted,
    rows: rows
      .filter((f) => f.id != null)
      .map((f) => ({ ...(f as unknown as KnowledgeDeltaRow), at_us: Number(f.at_us), created_at: f.created_at!.toISOString() })),
    names: new Map(Object.entries(r.names)),
  };
}

/** The lock that serializes KNOWLEDGE.md exports of one project across every process (a transaction lock: released at its end). */
export function projectKnowledgeLock(projectId: string) {
  return sql<void>`pg_advisory_xact_lock(hashtextextended(${'knowledge:' + projectId}, 0))`;
}

/** Takes the project's knowledge lock (see projectKnowledgeLock). */
export async function lockProjectKnowledge(tx: Transaction<Database>, projectId: string): Promise<void> {
  await sql`select ${projectKnowledgeLock(projectId)}`.execute(tx);
}

/**
 * What a transaction that adds knowledge entries needs to put them in KNOWLEDGE.md before it
 * commits: the entries' created_at (the transaction's now(), in microseconds since the epoch) and
 * their xid (the transaction's id), as the rows will hold them.
 */
export interface OwnKnowledgeStamp {
  nowUs: string;
  xid: string;
}

/** Columns that stamp this transaction's knowledge rows (see OwnKnowledgeStamp), for a select list. */
export const ownKnowledgeStampColumns = sql<OwnKnowledgeStamp>`(extract(epoch from now()) * 1000000)::int8::text as "nowUs", pg_current_xact_id()::text as xid`;

/** Takes the project's knowledge lock and returns the transaction's stamp: one statement. */
export async function lockProjectKnowledgeStamped(tx: Transaction<Database>, projectId: string): Promise<OwnKnowledgeStamp> {
  const { rows } = await sql<OwnKnowledgeStamp>`select ${projectKnowledgeLock(projectId)}, ${ownKnowledgeStampColumns}`.execute(tx);
  return rows[0]!;
}
