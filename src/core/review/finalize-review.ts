import type { Transaction } from 'kysely';
import type { CoreDeps } from '../deps.js';
import type { Database } from '../../db/schema.js';
import { withTenant } from '../../db/client.js';
import { emitReviewEvent } from './review-events.js';
import { BUILTIN_RULES } from '../llm/builtin/index.js';
import type { Project } from '../tenancy/projects.repo.js';
import { parseUnifiedDiff } from './diff.js';
import { exportKnowledge } from './export-knowledge.js';
import { normalizeTitle } from './fingerprint.js';
import { findSimilarMany, type SimilarEntry } from './knowledge.repo.js';
import type { PreparedChange } from './prepare-change.js';
import { renderMarkdownReport, toJsonReport, toSarif } from './report.js';
import { latestReportPath, reviewReportPath, writeFileAtomic } from './review-files.js';
import { lockReview, type ReviewRow } from './reviews.repo.js';
import type { RunOutcome } from './run-review.js';
import { summarizeReview } from './summary.js';
import { DEFAULT_THRESHOLDS, type RawFinding, type ReviewCoverage, type ReviewSummary } from './types.js';
import { VERSION } from '../../version.js';

/** Findings at or above this severity become shared knowledge (project setting `knowledge_min_severity`). */
const DEFAULT_KNOWLEDGE_MIN_SEVERITY = 7;

function thresholdsOf(settings: Record<string, unknown>) {
  const t = settings.verdict_thresholds as { request_changes?: unknown; comment?: unknown } | undefined;
  return {
    requestChanges: typeof t?.request_changes === 'number' ? t.request_changes : DEFAULT_THRESHOLDS.requestChanges,
    comment: typeof t?.comment === 'number' ? t.comment : DEFAULT_THRESHOLDS.comment,
  };
}

/**
 * Merges the checkpointed reviewer results into the consensus, annotates findings that match shared
 * knowledge, and writes findings, knowledge, reports and `review.completed` in one transaction.
 */
export async function finalizeReview(
  deps: CoreDeps,
  input: { review: ReviewRow; project: Project; change: PreparedChange; correlationId?: string | undefined },
): Promise<RunOutcome> {
  const { review, project, change } = input;
  const outcome = await withTenant(deps.db, review.org_id, async (tx) => {
    const locked = await lockReview(tx, review.id);
    if (!locked || locked.status !== 'running') return 'skipped' as const;
    const runs = await tx.selectFrom('reviewer_runs').selectAll().where('review_id', '=', review.id).execute();
    const raw = runs.filter((r) => r.status === 'completed').flatMap((r) => r.findings as RawFinding[]);
    const failed = runs.filter((r) => r.status === 'failed');
    const panelSize = (review.panel).length;
    if (failed.length === panelSize) {
      const error = { code: 'reviewers_failed', message: `every reviewer failed: ${failed.map((f) => `${f.reviewer}: ${f.error}`).join('; ')}` };
      await tx.updateTable('reviews').set({ status: 'failed', completed_at: deps.clock.now(), error: JSON.stringify(error) }).where('id', '=', review.id).execute();
      await emitReviewEvent(tx, review, input.correlationId, 'review.failed', { error });
      return 'failed' as const;
    }
    const coverage = coverageOf(change.diffText, runs.map((r) => (r.usage as { coverage?: ReviewCoverage } | null)?.coverage));
    const summary = summarizeReview({ raw, panelSize, coverage, thresholds: thresholdsOf(project.settings) });
    const matches = await findSimilarMany(
      tx,
      summary.findings.map((f) => ({ category: f.category, normalizedTitle: normalizeTitle(f.title) })),
      review.id,
    );
    const similar = new Map<string, SimilarEntry>();
    for (const f of summary.findings) {
      const m = matches.get(`${f.category}\0${normalizeTitle(f.title)}`);
      if (m) similar.set(f.fingerprint, m);
    }
    await insertFindingsAndKnowledge(tx, review, summary, similar, project.settings);
    const notes = new Map([...similar].map(([k, v]) => [k, v.note]));
    const now = deps.clock.now();
    const title = `Review of ${project.slug} — task ${review.task_id}`;
    const md = renderMarkdownReport(summary, { title, similar: notes, generatedAt: now.toISOString() });
    const json = toJsonReport(summary, { title, similar: notes, generatedAt: now.toISOString() });
    const sarif = toSarif(summary, { toolVersion: VERSION, ruleCatalog: BUILTIN_RULES });
    await tx
      .updateTable('reviews')
      .set({
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
      })
      .where('id', '=', review.id)
      .execute();
    // Files are written before commit: a crash after commit can't leave a completed review
    // without its report; a failed commit leaves a report the retry overwrites.
    const dir = deps.config.dataDir;
    await Promise.all([
      writeFileAtomic(reviewReportPath(dir, review.org_id, project.id, review.id, 'md'), md),
      writeFileAtomic(reviewReportPath(dir, review.org_id, project.id, review.id, 'json'), JSON.stringify(json, null, 2)),
      writeFileAtomic(reviewReportPath(dir, review.org_id, project.id, review.id, 'sarif'), JSON.stringify(sarif, null, 2)),
      writeFileAtomic(latestReportPath(dir, review.org_id, project.id, project.slug, review.task_id), md),
    ]);
    await emitReviewEvent(tx, review, input.correlationId, 'review.completed', {
      score: summary.score,
      verdict: summary.verdict,
      findings: summary.findings.length,
    });
    return 'completed' as const;
  });
  if (outcome === 'completed') await exportKnowledge(deps, review.org_id, project);
  return outcome;
}

async function insertFindingsAndKnowledge(
  tx: Transaction<Database>,
  review: ReviewRow,
  summary: ReviewSummary,
  similar: Map<string, SimilarEntry>,
  settings: Record<string, unknown>,
): Promise<void> {
  const min = typeof settings.knowledge_min_severity === 'number' ? settings.knowledge_min_severity : DEFAULT_KNOWLEDGE_MIN_SEVERITY;
  if (summary.findings.length === 0) return;
  // One multi-row insert; a retried finalize inserts nothing twice (unique per review).
  const inserted = await tx
    .insertInto('findings')
    .values(
      summary.findings.map((f) => ({
        org_id: review.org_id,
        project_id: review.project_id,
        review_id: review.id,
        developer_id: review.developer_id,
        fingerprint: f.fingerprint,
        file: f.file,
        line_start: f.lineStart,
        line_end: f.lineEnd,
        category: f.category,
        severity: f.severity,
        score: f.score,
        title: f.title,
        detail: f.detail,
        suggestion: f.suggestion ?? null,
        rules: f.rule ? [f.rule] : [],
        reviewers: f.reviewers,
        agreement: f.agreement,
        panel_size: f.panelSize,
        similar_finding: similar.has(f.fingerprint) ? JSON.stringify(similar.get(f.fingerprint)) : null,
      })),
    )
    .onConflict((oc) => oc.columns(['review_id', 'fingerprint', 'line_start']).doNothing())
    .returning(['id', 'fingerprint', 'line_start'])
    .execute();
  const idOf = new Map(inserted.map((r) => [`${r.fingerprint}:${r.line_start}`, r.id]));
  const keep = summary.findings
    .filter((f) => f.severity >= min && idOf.has(`${f.fingerprint}:${f.lineStart}`))
    .map((f) => ({
      org_id: review.org_id,
      project_id: review.project_id,
      review_id: review.id,
      finding_id: idOf.get(`${f.fingerprint}:${f.lineStart}`)!,
      developer_id: review.developer_id,
      category: f.category,
      normalized_title: normalizeTitle(f.title),
      title: f.title,
      file: f.file,
      severity: f.severity,
      detail: f.detail,
    }));
  if (keep.length) await tx.insertInto('knowledge').values(keep).onConflict((oc) => oc.column('finding_id').doNothing()).execute();
}

/** Every changed file is covered unless a reviewer reports it clipped (context budget). */
function coverageOf(diffText: string, perReviewer: Array<ReviewCoverage | undefined>): ReviewCoverage {
  const files = parseUnifiedDiff(diffText).map((f) => f.path);
  const clipped = new Map<string, string>();
  for (const c of perReviewer) for (const x of c?.filesClipped ?? []) clipped.set(x.file, x.reason);
  return {
    filesCovered: [...new Set(files)].filter((f) => !clipped.has(f)).sort(),
    filesClipped: [...clipped].map(([file, reason]) => ({ file, reason })).sort((a, b) => (a.file < b.file ? -1 : 1)),
  };
}
