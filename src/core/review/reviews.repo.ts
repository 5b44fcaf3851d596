import { sql, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { Database, FindingsTable, ReviewsTable } from '../../db/schema.js';
import type { FindingOut, ReviewOut, ReviewerSpec } from './review.schemas.js';

export type StoredTarget =
  | { kind: 'refs'; base: string; head: string }
  | { kind: 'diff'; diff: string }
  | { kind: 'last_commit'; branch: string };

export type ReviewRow = Selectable<ReviewsTable>;

/**
 * Lets the current transaction commit without waiting for its WAL to reach disk (one fsync less).
 * Only for a transaction nobody is told about before a later, synchronous commit of the same flow:
 * WAL is flushed in order, so that commit makes this one durable too; if the database crashes
 * first, both are lost together and nobody was answered. The WAL writer also flushes it within
 * 3 × wal_writer_delay (600 ms by default) on its own. A set_config call, selected by a statement
 * of that transaction (it rides along with one that is sent anyway).
 */
export function commitWithoutWaitingForDisk(): RawBuilder<string> {
  return sql<string>`set_config('synchronous_commit', 'off', true)`;
}

export async function findReview(tx: Transaction<Database>, id: string): Promise<ReviewRow | undefined> {
  return tx.selectFrom('reviews').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every column of a review but its two reports (the large ones). */
export const REVIEW_COLUMNS_BUT_REPORTS = [
  'id', 'org_id', 'project_id', 'task_id', 'developer_id', 'api_key_id', 'status', 'priority', 'target', 'panel', 'base_sha', 'head_sha',
  'commit_sha', 'branch', 'score', 'verdict', 'coverage', 'error', 'attempts', 'correlation_id', 'cancel_requested', 'created_at',
  'started_at', 'completed_at', 'slot_retry_at',
] as const satisfies ReadonlyArray<Exclude<keyof ReviewsTable, 'report_md' | 'report_json'>>;
/** Fails to compile when a column is added to reviews and not to the list above. */
export type ReviewColumnsButReportsComplete = NoneLeft<Exclude<keyof ReviewsTable, 'report_md' | 'report_json' | (typeof REVIEW_COLUMNS_BUT_REPORTS)[number]>>;
type NoneLeft<T extends never> = T;

export async function lockReview(tx: Transaction<Database>, id: string): Promise<ReviewRow | undefined> {
  return tx.selectFrom('reviews').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function completedReviewers(tx: Transaction<Database>, reviewId: string): Promise<Map<string, { status: string; findings: unknown[] }>> {
  const rows = await tx.selectFrom('reviewer_runs').select(['reviewer', 'status', 'findings']).where('review_id', '=', reviewId).execute();
  return new Map(rows.map((r) => [r.reviewer, { status: r.status, findings: r.findings }]));
}

export async function findingsCount(tx: Transaction<Database>, reviewIds: string[]): Promise<Map<string, number>> {
  if (reviewIds.length === 0) return new Map();
  const rows = await tx
    .selectFrom('findings')
    .select(['review_id', sql<string>`count(*)`.as('n')])
    .where('review_id', 'in', reviewIds)
    .groupBy('review_id')
    .execute();
  return new Map(rows.map((r) => [r.review_id, Number(r.n)]));
}

export async function progressOf(tx: Transaction<Database>, reviewIds: string[]): Promise<Map<string, number>> {
  if (reviewIds.length === 0) return new Map();
  const rows = await tx
    .selectFrom('reviewer_runs')
    .select(['review_id', sql<string>`count(*)`.as('n')])
    .where('review_id', 'in', reviewIds)
    .groupBy('review_id')
    .execute();
  return new Map(rows.map((r) => [r.review_id, Number(r.n)]));
}

export function publicTarget(t: StoredTarget): ReviewOut['target'] {
  if (t.kind === 'diff') return { kind: 'diff', diff_bytes: Buffer.byteLength(t.diff) };
  if (t.kind === 'refs') return { kind: 'refs', base: t.base, head: t.head };
  return { kind: 'last_commit', branch: t.branch };
}

export function reviewOut(r: ReviewRow, extra: { completed: number; findingsCount: number; findings?: FindingOut[] }): ReviewOut {
  const base = `/v1/reviews/${r.id}`;
  const panel = r.panel as ReviewerSpec[];
  const coverage = r.coverage as { filesCovered?: string[]; filesClipped?: Array<{ file: string; reason: string }>; notes?: string[] } | null;
  const err = r.error as { code?: string; message?: string } | null;
  return {
    id: r.id,
    org_id: r.org_id,
    project_id: r.project_id,
    task_id: r.task_id,
    developer_id: r.developer_id,
    status: r.status,
    priority: r.priority,
    target: publicTarget(r.target as unknown as StoredTarget),
    panel,
    progress: { completed: Math.min(extra.completed, panel.length), total: panel.length },
    base_sha: r.base_sha,
    head_sha: r.head_sha,
    commit_sha: r.commit_sha,
    branch: r.branch,
    score: r.score === null ? null : Number(r.score),
    verdict: r.verdict,
    coverage: coverage
      ? { files_covered: coverage.filesCovered ?? [], files_clipped: coverage.filesClipped ?? [], ...(coverage.notes?.length && { notes: coverage.notes }) }
      : null,
    findings_count: extra.findingsCount,
    ...(extra.findings && { findings: extra.findings }),
    error: err ? { code: err.code ?? 'internal', message: err.message ?? 'review failed' } : null,
    attempts: r.attempts,
    created_at: r.created_at.toISOString(),
    started_at: r.started_at?.toISOString() ?? null,
    completed_at: r.completed_at?.toISOString() ?? null,
    links: {
      self: base,
      events: `${base}/events`,
      report_md: `${base}/report.md`,
      report_json: `${base}/report.json`,
      report_sarif: `${base}/report.sarif`,
    },
  };
}

export function findingOut(f: Selectable<FindingsTable>): FindingOut {
  return {
    id: f.id,
    fingerprint: f.fingerprint,
    file: f.file,
    line_start: f.line_start,
    line_end: f.line_end,
    category: f.category,
    severity: Number(f.severity),
    score: Number(f.score),
    title: f.title,
    detail: f.detail,
    suggestion: f.suggestion,
    rules: f.rules,
    reviewers: f.reviewers,
    agreement: { k: f.agreement, n: f.panel_size },
    similar: f.similar_finding as FindingOut['similar'],
    developer_id: f.developer_id,
  };
}

export async function listFindings(tx: Transaction<Database>, reviewId: string): Promise<FindingOut[]> {
  const rows = await tx
    .selectFrom('findings')
    .selectAll()
    .where('review_id', '=', reviewId)
    .orderBy('score', 'desc')
    .orderBy('file')
    .orderBy('line_start')
    .execute();
  return rows.map(findingOut);
}
