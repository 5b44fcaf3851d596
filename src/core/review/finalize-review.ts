import { DEFAULT_MAX_DIFF_BYTES } from '../git/resolve-target.js';
import type { Transaction, Updateable } from 'kysely';
import type { CoreDeps } from '../deps.js';
import type { Database, ReviewsTable } from '../../db/schema.js';
import type { NewEvent } from '../events/events.repo.js';
import { withTenant } from '../../db/client.js';
import { reviewEventRows } from './review-events.js';
import { writeCompletion, type FindingInsert, type FindingInserted } from './finalize-review.repo.js';
import { BUILTIN_RULES } from '../llm/builtin/index.js';
import type { Project } from '../tenancy/projects.repo.js';
import { parseUnifiedDiff } from './diff.js';
import { normalizeTitle } from './fingerprint.js';
import { findSimilarMany, type KnowledgeDelta, type OwnKnowledgeStamp, type SimilarEntry } from './knowledge.repo.js';
import { exportKnowledgeCoalesced } from './knowledge-export-queue.js';
import { exportKnowledgeInTransaction, exportKnowledgeWithOwn, knowledgeExportReadsAgain, type DeltaPlan, type OwnKnowledgeExport } from './export-knowledge.js';
import type { PreparedChange } from './prepare-change.js';
import { renderMarkdownReport, toJsonReport, toSarif } from './report.js';
import type { ReviewReportJson } from './report-json.js';
import { knowledgePath, latestReportPath, reviewReportPath, SYNC_WRITE_MAX_BYTES, writeFileAtomic, writeFilesAtomicSync } from './review-files.js';
import type { FindingOut } from './review.schemas.js';
import { lockReview, type ReviewRow } from './reviews.repo.js';
import type { RunOutcome } from './run-review.js';
import type { Spans } from './review-timing.js';
import { summarizeReview } from './summary.js';
import { DEFAULT_THRESHOLDS, type RawFinding, type ReviewCoverage, type ReviewSummary } from './types.js';
import { VERSION } from '../../version.js';
import fs from 'node:fs/promises';
import { randomUUID } from 'node:crypto';

/** Findings at or above this severity become shared knowledge (project setting `knowledge_min_severity`). */
const DEFAULT_KNOWLEDGE_MIN_SEVERITY = 7;

function thresholdsOf(settings: Record<string, unknown>) {
  const t = settings.verdict_thresholds as { request_changes?: unknown; comment?: unknown } | undefined;
  return {
    requestChanges: typeof t?.request_changes === 'number' ? t.request_changes : DEFAULT_THRESHOLDS.requestChanges,
    comment: typeof t?.comment === 'number' ? t.comment : DEFAULT_THRESHOLDS.comment,
  };
}

/** One reviewer's checkpointed result, as stored in reviewer_runs. */
export interface ReviewerRunRecord {
  reviewer: string;
  status: 'completed' | 'failed';
  findings: unknown;
  usage: unknown;
  error: string | null;
}

/** What finalizing wrote: the review row as it now is, and its findings (as GET /v1/reviews/{id} shows them). */
export interface Completion {
  outcome: 'completed' | 'failed';
  row: ReviewRow;
  findings: FindingOut[];
  /** Knowledge entries this review added: KNOWLEDGE.md is re-exported only when there are any. */
  knowledgeAdded: number;
  /** KNOWLEDGE.md as written with those entries, before the commit (see afterCompletion). */
  knowledgeExport?: OwnKnowledgeExport | undefined;
  /** Reviews of the org waited for a slot when this one completed (the slot it frees may start one). */
  othersWaiting?: boolean | undefined;
}

/**
 * Merges the checkpointed reviewer results into the consensus, annotates findings that match shared
 * knowledge, and writes findings, knowledge, reports and `review.completed` in one transaction.
 */
export async function finalizeReview(
  deps: CoreDeps,
  input: { review: ReviewRow; project: Project; change: PreparedChange; correlationId?: string | undefined },
): Promise<RunOutcome> {
  const { review, project } = input;
  const done = await withCompletionTransaction(deps, review.org_id, async (tx) => {
    const locked = await lockReview(tx, review.id);
    if (!locked || locked.status !== 'running') return null;
    const runs = await tx.selectFrom('reviewer_runs').select(['reviewer', 'status', 'findings', 'usage', 'error']).where('review_id', '=', review.id).execute();
    return completeReview(deps, tx, { ...input, runs });
  });
  if (!done) return 'skipped';
  await afterCompletion(deps, project, done);
  return done.outcome;
}

/**
 * A transaction that completes a review (fn returns its Completion, or null when it did not): when
 * it wrote KNOWLEDGE.md with its entries but does not commit, the file is put right from the
 * database.
 */
export async function withCompletionTransaction(deps: CoreDeps, orgId: string, fn: (tx: Transaction<Database>) => Promise<Completion | null>): Promise<Completion | null> {
  let written: OwnKnowledgeExport | undefined;
  try {
    return await withTenant(deps.db, orgId, async (tx) => {
      const done = await fn(tx);
      written = done?.knowledgeExport;
      return done;
    });
  } catch (e) {
    written?.abandoned();
    throw e;
  }
}

/**
 * After commit: KNOWLEDGE.md follows the database. A review that added entries wrote the file in
 * its transaction (this process keeps what it wrote, for the next export); one that added none
 * re-exports only when the file is missing.
 */
export async function afterCompletion(deps: CoreDeps, project: Project, done: Completion): Promise<void> {
  if (done.knowledgeExport) {
    done.knowledgeExport.committed();
    return;
  }
  if (done.outcome !== 'completed') return;
  const missing = async () => fs.access(knowledgePath(deps.config.dataDir, done.row.org_id, project.id)).then(() => false, () => true);
  if (done.knowledgeAdded === 0 && !(await missing())) return;
  await exportKnowledgeCoalesced(deps, done.row.org_id, project);
}

export interface CompletionInput {
  review: ReviewRow;
  project: Project;
  change: PreparedChange;
  correlationId?: string | undefined;
  runs: ReviewerRunRecord[];
  spans?: Spans | undefined;
  /** The review's fallback job (an inline review's), taken back in the completing statement. */
  removeJobKey?: string | undefined;
  /**
   * The transaction already holds the project's knowledge lock (lockAndCheckpoint): the export's
   * plan, the delta read with the lock, and the transaction's stamp.
   */
  knowledgeLocked?: { plan: DeltaPlan; delta: KnowledgeDelta; stamp: OwnKnowledgeStamp } | null | undefined;
}

/**
 * The body of finalizing, in the caller's transaction, which must hold the review's row lock and
 * have seen it running. The report files are written while the database statements run, and are
 * complete before the caller commits: a completed review always has its files.
 */
export async function completeReview(deps: CoreDeps, tx: Transaction<Database>, input: CompletionInput): Promise<Completion> {
  const mark = (phase: string) => input.spans?.mark(phase);
  const consensus = consensusOf(input);
  const similar = await similarKnowledge(tx, input.review, consensus);
  mark('finalize: consensus + knowledge match');
  const composed = composeCompletion(deps, input, consensus, similar);
  mark('finalize: render reports');
  return writeComposedCompletion(deps, tx, input, composed);
}

/** The merged findings of the panel, or why there are none: every reviewer failed. */
export type Consensus = { kind: 'failed'; error: { code: string; message: string } } | { kind: 'merged'; summary: ReviewSummary };

/** Merges the reviewers' results (memory only). */
export function consensusOf(input: Pick<CompletionInput, 'review' | 'project' | 'change' | 'runs'>): Consensus {
  const { review, project, change, runs } = input;
  const failed = runs.filter((r) => r.status === 'failed');
  const panelSize = review.panel.length;
  if (failed.length === panelSize) {
    // Every reviewer stopped by the org's budget: that is the review's error, as for any other call.
    const code = failed.every((f) => f.error?.startsWith('budget_exceeded')) ? 'budget_exceeded' : 'reviewers_failed';
    return { kind: 'failed', error: { code, message: `every reviewer failed: ${failed.map((f) => `${f.reviewer}: ${f.error}`).join('; ')}` } };
  }
  const raw = runs.filter((r) => r.status === 'completed').flatMap((r) => r.findings as RawFinding[]);
  // A reviewer that failed (provider outage, budget used up) leaves the review partial: it says so
  // wherever the review is read, and a partial review never passes — the panel did not look.
  const partial = failed.length
    ? [`${failed.length} of ${panelSize} reviewers failed, so this review is partial: ${failed.map((f) => `${f.reviewer} (${f.error ?? 'failed'})`).join('; ')}`]
    : [];
  const notes = [...(change.notes ?? []), ...partial];
  const coverage = coverageOf(change.diffText, runs.map((r) => (r.usage as { coverage?: ReviewCoverage } | null)?.coverage), change.omittedFiles, notes);
  const summary = summarizeReview({ raw, panelSize, coverage, thresholds: thresholdsOf(project.settings) });
  if (failed.length && summary.verdict === 'pass') summary.verdict = 'comment';
  return { kind: 'merged', summary };
}

/** Shared knowledge like the merged findings, from other reviews of the org (one query), by fingerprint. */
export async function similarKnowledge(tx: Transaction<Database>, review: Pick<ReviewRow, 'id'>, consensus: Consensus): Promise<Map<string, SimilarEntry>> {
  const similar = new Map<string, SimilarEntry>();
  if (consensus.kind !== 'merged' || consensus.summary.findings.length === 0) return similar;
  const { findings } = consensus.summary;
  const matches = await findSimilarMany(tx, findings.map((f) => ({ category: f.category, normalizedTitle: normalizeTitle(f.title) })), review.id);
  for (const f of findings) {
    const m = matches.get(`${f.category}\0${normalizeTitle(f.title)}`);
    if (m) similar.set(f.fingerprint, m);
  }
  return similar;
}

/** What completing writes, composed in memory: the row's new values, its event, and for a merged review its findings and reports. */
export interface ComposedCompletion {
  outcome: 'completed' | 'failed';
  set: Updateable<ReviewsTable>;
  events: NewEvent[];
  findings: FindingInsert[];
  reports: { md: string; json: ReviewReportJson; files: Array<{ path: string; content: string }> } | null;
}

/** Renders the reports and the rows of a completion (no database, no files). */
export function composeCompletion(deps: CoreDeps, input: CompletionInput, consensus: Consensus, similar: Map<string, SimilarEntry>): ComposedCompletion {
  const { review, project, change } = input;
  const now = deps.clock.now();
  if (consensus.kind === 'failed') {
    const { error } = consensus;
    return {
      outcome: 'failed',
      set: { status: 'failed', completed_at: now, error: JSON.stringify(error) },
      events: reviewEventRows(review, input.correlationId, [{ type: 'review.failed', payload: { error } }]),
      findings: [],
      reports: null,
    };
  }
  const { summary } = consensus;
  const notes = new Map([...similar].map(([k, v]) => [k, v.note]));
  const title = `Review of ${project.slug} — task ${review.task_id}`;
  const md = renderMarkdownReport(summary, { title, similar: notes, generatedAt: now.toISOString() });
  const json = toJsonReport(summary, {
    title,
    similar: notes,
    generatedAt: now.toISOString(),
    review: {
      id: review.id,
      org_id: review.org_id,
      project_id: review.project_id,
      project: project.slug,
      task_id: review.task_id,
      developer_id: review.developer_id,
      base_sha: change.baseSha,
      head_sha: change.headSha,
      commit_sha: change.commitSha,
      created_at: review.created_at.toISOString(),
    },
  });
  const sarif = toSarif(summary, { toolVersion: VERSION, ruleCatalog: BUILTIN_RULES });
  const dir = deps.config.dataDir;
  return {
    outcome: 'completed',
    set: {
      status: 'completed',
      score: summary.score,
      verdict: summary.verdict,
      coverage: JSON.stringify(summary.coverage),
      report_md: md,
      report_json: JSON.stringify(json),
      completed_at: now,
      base_sha: change.baseSha,
      head_sha: change.headSha,
      commit_sha: change.commitSha,
      branch: change.branch,
    },
    events: reviewEventRows(review, input.correlationId, [
      { type: 'review.completed', payload: { score: summary.score, verdict: summary.verdict, findings: summary.findings.length } },
    ]),
    findings: findingInserts(summary, similar, project.settings),
    reports: {
      md,
      json,
      files: [
        { path: reviewReportPath(dir, review.org_id, project.id, review.id, 'md'), content: md },
        { path: reviewReportPath(dir, review.org_id, project.id, review.id, 'json'), content: JSON.stringify(json, null, 2) },
        { path: reviewReportPath(dir, review.org_id, project.id, review.id, 'sarif'), content: JSON.stringify(sarif, null, 2) },
        { path: latestReportPath(dir, review.org_id, project.id, project.slug, review.task_id), content: md },
      ],
    },
  };
}

/**
 * Writes a composed completion: the report files, while findings, knowledge, the review row and
 * its event (and the fallback job's removal) go in one statement; the files are complete when this
 * returns, before the caller commits.
 *
 * KNOWLEDGE.md, when the review adds entries, is written in this transaction too, under the
 * project's knowledge lock: while the statement inserts them when the caller already holds the
 * lock (lockAndCheckpoint took it, free), else after the insert — waiting for the lock then, and
 * holding it only for the read, the file and the commit, so that concurrent completions of one
 * project queue for a few milliseconds each.
 */
export async function writeComposedCompletion(deps: CoreDeps, tx: Transaction<Database>, input: CompletionInput, composed: ComposedCompletion): Promise<Completion> {
  const { review, project } = input;
  const reportFiles = composed.reports?.files ?? [];
  // Small reports are written while the completing statement runs (below); large ones from the start, off the thread.
  const writeInStatement = reportFiles.reduce((n, f) => n + f.content.length * 3, 0) <= SYNC_WRITE_MAX_BYTES;
  const files = writeInStatement ? Promise.resolve() : Promise.all(reportFiles.map((f) => writeFileAtomic(f.path, f.content)));
  files.catch(() => undefined); // awaited below; a database error first must not leave it unhandled
  const own = composed.findings.filter((f) => f.knowledge_id !== null);
  const locked = own.length ? input.knowledgeLocked : undefined;
  const exportOwn = async (l: NonNullable<CompletionInput['knowledgeLocked']>) => {
    const e = await exportKnowledgeWithOwn(deps, tx, {
      orgId: review.org_id,
      project,
      ...l,
      own: own.map((f) => ({
        id: f.knowledge_id!,
        review_id: review.id,
        developer_id: review.developer_id,
        category: f.category,
        title: f.title,
        file: f.file,
        severity: f.severity,
        detail: f.detail,
      })),
    });
    input.spans?.mark('finalize: knowledge delta');
    return e;
  };
  // The export is made while the completing statement runs, unless it reads the project again on
  // this transaction (entries were deleted): that read must come before the insert.
  const exportBeside = !!locked && !knowledgeExportReadsAgain(locked.plan, locked.delta);
  let knowledgeExport: OwnKnowledgeExport | undefined = locked && !exportBeside ? await exportOwn(locked) : undefined;
  let written: Awaited<ReturnType<typeof writeCompletion>>;
  try {
    const completing = writeCompletion(tx, { review, set: composed.set, findings: composed.findings, events: composed.events, removeJobKey: input.removeJobKey });
    const syncFiles = writeInStatement && reportFiles.length > 0;
    if (exportBeside || syncFiles) {
      completing.catch(() => undefined); // awaited below; an error here first must not leave it unhandled
      // The statement is sent by the next turn; the thread would wait for it, and works meanwhile.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (exportBeside) knowledgeExport = await exportOwn(locked);
      if (syncFiles) writeFilesAtomicSync(reportFiles);
    }
    written = await completing;
    if (knowledgeExport && written.knowledgeAdded !== own.length) {
      // Not the entries the file was written with (cannot happen while the review's row lock is
      // held, but the file must not disagree with the database): exported again from it, below.
      knowledgeExport.abandoned();
      knowledgeExport = undefined;
    }
    if (!knowledgeExport && written.knowledgeAdded > 0) {
      knowledgeExport = await exportKnowledgeInTransaction(deps, tx, review.org_id, project);
      input.spans?.mark('finalize: knowledge lock + export');
    }
    await knowledgeExport?.written;
  } catch (e) {
    knowledgeExport?.abandoned();
    throw e;
  }
  // The reports were just written from memory: not read back (tens of kB per review), nor the target.
  const row: ReviewRow = { ...written.row, target: review.target, report_md: composed.reports?.md ?? null, report_json: (composed.reports?.json as unknown as ReviewRow['report_json']) ?? null };
  const findings = findingsOut(composed.findings, written.findings, review.developer_id);
  input.spans?.mark('finalize: findings + knowledge + update + event');
  // Files are complete before commit: a crash after commit can't leave a completed review
  // without its report; a failed commit leaves a report the retry overwrites.
  await files;
  input.spans?.mark('finalize: report files (rest)');
  return { outcome: composed.outcome, row, findings, knowledgeAdded: written.knowledgeAdded, knowledgeExport, othersWaiting: written.othersWaiting };
}

/** The order GET /v1/reviews/{id} lists findings in (listFindings). */
function byScoreFileLine(a: FindingOut, b: FindingOut): number {
  return b.score - a.score || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line_start - b.line_start;
}

/** Findings at or above this severity become shared knowledge in a project with these settings. */
function knowledgeMinSeverity(settings: Record<string, unknown>): number {
  return typeof settings.knowledge_min_severity === 'number' ? settings.knowledge_min_severity : DEFAULT_KNOWLEDGE_MIN_SEVERITY;
}

/** Whether completing with this consensus adds knowledge entries (the transaction then takes the project's knowledge lock). */
export function consensusAddsKnowledge(consensus: Consensus, settings: Record<string, unknown>): boolean {
  const min = knowledgeMinSeverity(settings);
  return consensus.kind === 'merged' && consensus.summary.findings.some((f) => roundTo2(f.severity) >= min);
}

/**
 * Rounded to 2 decimals on the number's decimal form, half away from zero (as PostgreSQL rounds
 * into numeric(4, 2)), so what is written, shown and exported is the same number.
 */
export function roundTo2(x: number): number {
  const r = Number(`${Math.round(Number(`${Math.abs(x)}e2`))}e-2`);
  return Number.isFinite(r) ? Math.sign(x) * r : x;
}

/** The consensus findings as writeCompletion inserts them. */
function findingInserts(summary: ReviewSummary, similar: Map<string, SimilarEntry>, settings: Record<string, unknown>): FindingInsert[] {
  const min = knowledgeMinSeverity(settings);
  return summary.findings.map((f) => ({
    fingerprint: f.fingerprint,
    file: f.file,
    line_start: f.lineStart,
    line_end: f.lineEnd,
    category: f.category,
    severity: roundTo2(f.severity),
    score: roundTo2(f.score),
    title: f.title,
    detail: f.detail,
    suggestion: f.suggestion ?? null,
    rules: f.rule ? [f.rule] : [],
    reviewers: f.reviewers,
    agreement: f.agreement,
    panel_size: f.panelSize,
    similar_finding: similar.get(f.fingerprint) ?? null,
    // Set only for findings that become shared knowledge.
    knowledge_title: roundTo2(f.severity) >= min ? normalizeTitle(f.title) : null,
    knowledge_id: roundTo2(f.severity) >= min ? randomUUID() : null,
  }));
}

/**
 * The inserted findings as GET /v1/reviews/{id} shows them (findingOut of the stored rows): what
 * was sent, with the values the database rounded or normalized taken from it.
 */
function findingsOut(items: readonly FindingInsert[], inserted: readonly FindingInserted[], developerId: string): FindingOut[] {
  const sent = new Map(items.map((i) => [`${i.fingerprint}\0${i.line_start}`, i]));
  return inserted
    .map((d) => {
      const i = sent.get(`${d.fingerprint}\0${d.line_start}`)!;
      return {
        id: d.id,
        fingerprint: d.fingerprint,
        file: i.file,
        line_start: d.line_start,
        line_end: i.line_end,
        category: i.category,
        severity: Number(d.severity),
        score: Number(d.score),
        title: i.title,
        detail: i.detail,
        suggestion: i.suggestion,
        rules: i.rules,
        reviewers: i.reviewers,
        agreement: { k: i.agreement, n: i.panel_size },
        similar: d.similar_finding as FindingOut['similar'],
        developer_id: developerId,
      };
    })
    .sort(byScoreFileLine);
}

/**
 * Every changed file is covered unless a reviewer reports it clipped (context budget) or the change
 * was too large to read whole (files left out of the diff at the size cap): a review never looks at
 * less than it says.
 */
function coverageOf(diffText: string, perReviewer: Array<ReviewCoverage | undefined>, omittedFiles: readonly string[] = [], notes: readonly string[] = []): ReviewCoverage {
  const files = parseUnifiedDiff(diffText).map((f) => f.path);
  const clipped = new Map<string, string>(
    omittedFiles.map((f) => [f, `not reviewed: the change is larger than one review reads (${DEFAULT_MAX_DIFF_BYTES / (1024 * 1024)} MiB of diff); review it in smaller parts`]),
  );
  for (const c of perReviewer) for (const x of c?.filesClipped ?? []) clipped.set(x.file, x.reason);
  return {
    filesCovered: [...new Set(files)].filter((f) => !clipped.has(f)).sort(),
    filesClipped: [...clipped].map(([file, reason]) => ({ file, reason })).sort((a, b) => (a.file < b.file ? -1 : 1)),
    ...(notes.length && { notes: [...notes] }),
  };
}
