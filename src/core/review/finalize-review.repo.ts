import { PREPARE } from '../../db/client.js';
import { sql, type Transaction, type Updateable } from 'kysely';
import type { Database, ReviewsTable } from '../../db/schema.js';
import { eventsInStreamCtes, type NewEvent } from '../events/events.repo.js';
import { removeJobCall } from '../jobs/enqueue.js';
import { REVIEW_COLUMNS_BUT_REPORTS, type ReviewRow } from './reviews.repo.js';
import {
  knowledgeDeltaCallIfFree,
  ownKnowledgeStampColumns,
  parseKnowledgeDelta,
  type KnowledgeDelta,
  type KnowledgeDeltaQuery,
  type OwnKnowledgeStamp,
} from './knowledge.repo.js';

/** A reviewer's result as reviewer_runs keeps it (the checkpoint a resumed review starts from). */
export interface ReviewerRunInsert {
  reviewer: string;
  status: 'completed' | 'failed';
  findings: unknown[];
  usage: Record<string, unknown> | null;
  error: string | null;
  duration_ms: number | null;
}

/** What the inline path must find in the locked row to finish the review itself. */
export type LockedState = Pick<ReviewRow, 'status' | 'cancel_requested' | 'attempts'>;

/**
 * Locks the review's row and, only if it is still the inline run's to finish (running, not
 * cancelled, still attempt `attempts`: no worker took it over), checkpoints the reviewers' results
 * and writes their events — one statement. Returns the locked row's state (undefined: no such
 * review); when it does not qualify, nothing was written.
 *
 * The lock is taken before anything is written (the other CTEs read from it) and returns the row
 * as committed by whoever held the lock before (a FOR UPDATE that waited rechecks the newest
 * version), so the check is the one a separate `select … for update` made.
 *
 * With `knowledge` (the review will add knowledge entries), the project's knowledge lock is taken
 * too when it is free (after the row's: the order every completing transaction takes them in),
 * with the export's delta read (quorum.knowledge_delta: a fresh snapshot after the lock) and the
 * transaction's stamp, for exportKnowledgeWithOwn; when another transaction holds it, `knowledge`
 * comes back null and the caller exports after its insert (the lock's wait then overlaps nothing
 * of its own, and the holder keeps it a short time).
 */
export async function lockAndCheckpoint(
  tx: Transaction<Database>,
  input: {
    review: { id: string; org_id: string; project_id: string };
    attempts: number;
    runs: readonly ReviewerRunInsert[];
    events: readonly NewEvent[];
    knowledge?: KnowledgeDeltaQuery | undefined;
  },
): Promise<(LockedState & { knowledge: { stamp: OwnKnowledgeStamp; delta: KnowledgeDelta } | null }) | undefined> {
  const { review } = input;
  const { rows } = await sql<LockedState & { nowUs: string | null; xid: string | null; d: unknown }>`${sql.raw(PREPARE)}
    with l as materialized (
      select status, cancel_requested, attempts from reviews where id = ${review.id} for update
    ), ok as materialized (
      select 1 from l where status = 'running' and not cancel_requested and attempts = ${input.attempts}::int
    ), runs as (
      insert into reviewer_runs (org_id, review_id, reviewer, status, findings, usage, error, duration_ms)
      select ${review.org_id}::uuid, ${review.id}::uuid, r.reviewer, r.status, r.findings, r.usage, r.error, r.duration_ms
        from ok, json_to_recordset(${JSON.stringify(input.runs)}::json)
             as r(reviewer text, status text, findings jsonb, usage jsonb, error text, duration_ms integer)
    )${input.events.length ? sql`, ${eventsInStreamCtes('ev', review.id, input.events, { onlyIf: 'ok' })}` : sql``}
    ${input.knowledge ? sql`, kd as materialized (select ${knowledgeDeltaCallIfFree(input.knowledge)} as d from ok)` : sql``}
    select l.*${input.knowledge ? sql`, k.*` : sql``}
      from l${input.knowledge ? sql` left join lateral (select kd.d, ${ownKnowledgeStampColumns} from kd) k on true` : sql``}`.execute(tx);
  const r = rows[0];
  if (!r) return undefined;
  const { nowUs, xid, d, ...state } = r;
  return { ...state, knowledge: nowUs && xid && d ? { stamp: { nowUs, xid }, delta: parseKnowledgeDelta(d) } : null };
}

/** One finding of the consensus, as the completing statement inserts it. */
export interface FindingInsert {
  fingerprint: string;
  file: string;
  line_start: number;
  line_end: number;
  category: string;
  severity: number;
  score: number;
  title: string;
  detail: string;
  suggestion: string | null;
  rules: string[];
  reviewers: string[];
  agreement: number;
  panel_size: number;
  similar_finding: unknown;
  /** Set only for findings that become shared knowledge: their normalized title, and the entry's id. */
  knowledge_title: string | null;
  knowledge_id: string | null;
}

/** What the database made of an inserted finding (the rest is what was sent). */
export interface FindingInserted {
  id: string;
  fingerprint: string;
  line_start: number;
  /** numeric(4, 2) and numeric(5, 2): rounded as stored. */
  severity: number;
  score: number;
  /** As jsonb keeps it. */
  similar_finding: unknown;
}

/**
 * The review's terminal write, in ONE statement: its findings and the knowledge entries they make
 * (sent as one json parameter, not ~20 bind parameters per row), the review row, its terminal event
 * and — for an inline review — the removal of its fallback job (quorum.remove_job). The caller
 * holds the review's row lock and saw the review running: a review's findings are written only
 * here, with the status that ends it, so none exist yet — plain inserts, no ON CONFLICT (whose
 * speculative insertion costs each row an extra index probe and WAL record). The unique
 * constraints (per review and fingerprint and line, per finding) stay as the guard: a second
 * completion fails and rolls back rather than duplicating a finding.
 *
 * Returns the updated row without its reports (tens of kB, just written from memory) and target,
 * the findings inserted, how many knowledge entries were added, and whether other reviews of the
 * org wait for a slot (as the statement saw them: the caller promotes them only then).
 */
export async function writeCompletion(
  tx: Transaction<Database>,
  input: {
    review: { id: string; org_id: string; project_id: string; developer_id: string };
    set: Updateable<ReviewsTable>;
    findings: readonly FindingInsert[];
    events: readonly NewEvent[];
    removeJobKey?: string | undefined;
  },
): Promise<{ row: Omit<ReviewRow, 'report_md' | 'report_json' | 'target'>; findings: FindingInserted[]; knowledgeAdded: number; othersWaiting: boolean }> {
  const { review } = input;
  const update = tx
    .updateTable('reviews')
    .set(input.set)
    .where('id', '=', review.id)
    .returning(REVIEW_COLUMNS_BUT_REPORTS.filter((c) => c !== 'target'));
  const { rows } = await sql<Omit<ReviewRow, 'report_md' | 'report_json' | 'target'> & { findings: Array<[string, string, number, number, number, unknown]>; knowledge_added: string; others_waiting: boolean }>`${sql.raw(PREPARE)}
    with x as materialized (
      select * from json_to_recordset(${JSON.stringify(input.findings)}::json) as x(
        fingerprint text, file text, line_start integer, line_end integer, category text, severity numeric,
        score numeric, title text, detail text, suggestion text, rules text[], reviewers text[], agreement integer,
        panel_size integer, similar_finding jsonb, knowledge_title text, knowledge_id uuid)
    ), f as (
      insert into findings (org_id, project_id, review_id, developer_id, fingerprint, file, line_start, line_end, category,
                            severity, score, title, detail, suggestion, rules, reviewers, agreement, panel_size, similar_finding)
      select ${review.org_id}::uuid, ${review.project_id}::uuid, ${review.id}::uuid, ${review.developer_id}::uuid, fingerprint, file,
             line_start, line_end, category, severity, score, title, detail, suggestion, rules, reviewers, agreement, panel_size,
             similar_finding
        from x
      returning *
    ), k as (
      insert into knowledge (id, org_id, project_id, review_id, finding_id, developer_id, category, normalized_title, title, file, severity, detail)
      select x.knowledge_id, f.org_id, f.project_id, f.review_id, f.id, f.developer_id, f.category, x.knowledge_title, f.title, f.file, f.severity, f.detail
        from f join x on x.fingerprint = f.fingerprint and x.line_start = f.line_start
       where x.knowledge_title is not null
      returning 1
    ), u as (${update})${input.events.length ? sql`, ${eventsInStreamCtes('ev', review.id, input.events)}` : sql``}
    ${input.removeJobKey ? sql`, j as materialized (select ${removeJobCall(input.removeJobKey)} as removed)` : sql``}
    select u.*,
           (select count(*) from k) as knowledge_added,
           (select coalesce(json_agg(json_build_array(f.id, f.fingerprint, f.line_start, f.severity, f.score, f.similar_finding)), '[]') from f) as findings,
           exists (select 1 from reviews w where w.status = 'queued' and w.slot_retry_at is not null) as others_waiting
      from u${input.removeJobKey ? sql`, j` : sql``}`.execute(tx);
  const r = rows[0];
  if (!r) throw new Error(`review ${review.id} to complete not found`);
  const { findings, knowledge_added, others_waiting, ...row } = r;
  return {
    othersWaiting: others_waiting,
    row,
    findings: findings.map(([id, fingerprint, line_start, severity, score, similar_finding]) => ({ id, fingerprint, line_start, severity, score, similar_finding })),
    knowledgeAdded: Number(knowledge_added),
  };
}
