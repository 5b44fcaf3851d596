import { PREPARE } from '../../db/client.js';
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
  const { rows } = await sql<{ category: string; normalized_title: string; developer_id: string; name: string; created_at: Date; review_id: string }>`${sql.raw(PREPARE)}
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

/** What an export asks of the database (quorum.knowledge_delta, migration 0013). */
export interface KnowledgeDeltaQuery {
  projectId: string;
  /** Entries inserted by transactions at or above this xid ('0': the newest `limit` of the project). */
  sinceXid: string;
  /** Ids to leave out (already read: their transaction is at or above `sinceXid`). */
  known: string[];
  /** Authors whose current names are wanted. */
  developerIds: string[];
  limit: number;
}

/** What it answers: see quorum.knowledge_delta. */
export interface KnowledgeDelta {
  /** The xmin of the snapshot this was read with: the next query's `sinceXid`. */
  watermark: string;
  /** Entries of the project were deleted by a transaction at or above `sinceXid`: what was read before may be gone. */
  deleted: boolean;
  rows: KnowledgeDeltaRow[];
  names: Map<string, string>;
}

/**
 * The call that takes the project's knowledge lock and then reads the delta with a fresh snapshot
 * (a jsonb expression, for a select list: it can ride in the statement that locks a review).
 */
export function knowledgeDeltaCall(q: KnowledgeDeltaQuery) {
  return sql<unknown>`quorum.knowledge_delta(${q.projectId}::uuid, ${q.sinceXid}::xid8, ${q.known}::uuid[], ${q.developerIds}::uuid[], ${q.limit}::int)`;
}

interface RawDeltaRow extends Omit<KnowledgeDeltaRow, 'at_us' | 'created_at' | 'developer_name'> {
  at_us: string;
  developer_name: string | null;
}

/** The call's jsonb as the export uses it. */
export function parseKnowledgeDelta(raw: unknown): KnowledgeDelta {
  const d = raw as { watermark: string; deleted: boolean; names: Record<string, string>; rows: RawDeltaRow[] };
  return {
    watermark: d.watermark,
    deleted: d.deleted,
    names: new Map(Object.entries(d.names)),
    rows: d.rows.map((r) => {
      const atUs = Number(r.at_us);
      return { ...r, developer_name: r.developer_name ?? FORMER_MEMBER, at_us: atUs, created_at: new Date(Math.floor(atUs / 1000)).toISOString() };
    }),
  };
}

/**
 * The same, only if the project's knowledge lock is free right now (null otherwise: another
 * transaction is exporting the project, and the caller exports after its insert instead).
 */
export function knowledgeDeltaCallIfFree(q: KnowledgeDeltaQuery) {
  return sql<unknown>`case when pg_try_advisory_xact_lock(hashtextextended(${'knowledge:' + q.projectId}, 0)) then ${knowledgeDeltaCall(q)} end`;
}

/** Takes the project's knowledge lock (held to the end of the transaction) and reads the delta: one statement. */
export async function lockAndReadKnowledgeDelta(tx: Transaction<Database>, q: KnowledgeDeltaQuery): Promise<KnowledgeDelta> {
  const { rows } = await sql<{ d: unknown }>`select ${knowledgeDeltaCall(q)} as d`.execute(tx);
  return parseKnowledgeDelta(rows[0]!.d);
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
