import type { CoreDeps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { BUILTIN_RULES } from '../llm/builtin/index.js';
import type { Actor } from '../tenancy/actor.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import { VERSION } from '../../version.js';
import { toSarif } from './report.js';
import type { ReviewReportJson } from './report-json.js';
import { findReview } from './reviews.repo.js';
import type { ReviewSummary } from './types.js';

export type ReportFormat = 'md' | 'json' | 'sarif';

export interface ReportOut {
  contentType: string;
  body: string;
}

/** Rebuilds the summary from the stored JSON report (the SARIF view is derived from it). */
function summaryFromJson(j: ReviewReportJson): ReviewSummary {
  return {
    score: j.score,
    verdict: j.verdict,
    coverage: { filesCovered: j.coverage.files_covered, filesClipped: j.coverage.files_clipped },
    findings: j.findings.map((f) => ({
      fingerprint: f.fingerprint,
      file: f.file,
      lineStart: f.line_start,
      lineEnd: f.line_end,
      category: f.category,
      severity: f.severity,
      score: f.score,
      title: f.title,
      detail: f.detail,
      ...(f.suggestion !== null && { suggestion: f.suggestion }),
      ...(f.rule !== null && { rule: f.rule }),
      reviewers: f.reviewers,
      agreement: f.agreement.k,
      panelSize: f.agreement.n,
      occurrences: f.agreement.k,
    })),
  };
}

export async function getReviewReport(deps: CoreDeps, actor: Actor, reviewId: string, format: ReportFormat): Promise<ReportOut> {
  return withTenant(deps.db, actor.orgId, async (tx) => {
    const r = await findReview(tx, reviewId);
    if (!r) throw notFound('review');
    await loadProjectFor(tx, actor, r.project_id, 'viewer');
    if (r.status !== 'completed' || !r.report_md || !r.report_json) {
      throw new AppError('conflict', `the review is ${r.status}; its report exists once it has completed`, { status: r.status });
    }
    if (format === 'md') return { contentType: 'text/markdown; charset=utf-8', body: r.report_md };
    if (format === 'json') return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(r.report_json) };
    const sarif = toSarif(summaryFromJson(r.report_json as unknown as ReviewReportJson), { toolVersion: VERSION, ruleCatalog: BUILTIN_RULES });
    return { contentType: 'application/sarif+json; charset=utf-8', body: JSON.stringify(sarif) };
  });
}
