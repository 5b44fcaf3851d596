import { z } from 'zod';
import { CATEGORIES, type ReviewSummary } from './types.js';

/**
 * Machine-readable review report, schema version 1.0.
 *
 * Compatibility: within 1.x fields are only added, never removed or retyped; consumers must
 * ignore unknown fields. A breaking change bumps the major version. Field names are snake_case
 * like the REST API. `reviewReportJsonSchema()` publishes the schema as JSON Schema.
 */
export const REPORT_SCHEMA_VERSION = '1.0';

export const ReportFindingSchema = z.object({
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/).describe('SHA-256 of file, category and normalized title'),
  file: z.string(),
  line_start: z.number().int().min(1),
  line_end: z.number().int().min(1),
  category: z.enum(CATEGORIES),
  severity: z.number().min(0).max(10).describe('highest severity among the merged reports'),
  score: z.number().min(0).max(10).describe('consensus score of this finding'),
  title: z.string(),
  detail: z.string(),
  suggestion: z.string().nullable(),
  rule: z.string().nullable().describe('built-in rule id, null for model findings'),
  rules: z.array(z.string()).optional().describe('the same as a list, as the REST API shows findings (added within 1.0)'),
  reviewers: z.array(z.string()).describe('distinct reviewers that reported it'),
  agreement: z.object({ k: z.number().int().min(1), n: z.number().int().min(1) }),
  similar: z.string().nullable().describe('note about similar findings in the shared knowledge base'),
});

export const ReportReviewSchema = z
  .object({
    id: z.string().uuid(),
    org_id: z.string().uuid(),
    project_id: z.string().uuid(),
    project: z.string().describe('project slug'),
    task_id: z.string(),
    developer_id: z.string().uuid().describe('the developer whose review this is'),
    base_sha: z.string().nullable(),
    head_sha: z.string().nullable(),
    commit_sha: z.string().nullable().describe('the commit Quorum made of a submitted diff, if any'),
    created_at: z.string(),
  })
  .describe('which review this report is of (added within 1.0: absent in reports written before it)');

export const ReviewReportSchema = z.object({
  schema_version: z.literal(REPORT_SCHEMA_VERSION),
  review: ReportReviewSchema.optional(),
  title: z.string(),
  generated_at: z.string().nullable(),
  score: z.number().min(0).max(10),
  verdict: z.enum(['pass', 'comment', 'request_changes']),
  coverage: z.object({
    files_covered: z.array(z.string()),
    files_clipped: z.array(z.object({ file: z.string(), reason: z.string() })),
    notes: z.array(z.string()).optional().describe('what the review could not do with the change as a whole (added within 1.0)'),
  }),
  findings: z.array(ReportFindingSchema),
});

export type ReviewReportJson = z.infer<typeof ReviewReportSchema>;

export interface JsonReportOptions {
  title: string;
  review?: z.infer<typeof ReportReviewSchema>;
  generatedAt?: string;
  similar?: ReadonlyMap<string, string>;
}

export function toJsonReport(summary: ReviewSummary, options: JsonReportOptions): ReviewReportJson {
  return {
    schema_version: REPORT_SCHEMA_VERSION,
    ...(options.review && { review: options.review }),
    title: options.title,
    generated_at: options.generatedAt ?? null,
    score: summary.score,
    verdict: summary.verdict,
    coverage: {
      files_covered: [...summary.coverage.filesCovered],
      files_clipped: summary.coverage.filesClipped.map((c) => ({ file: c.file, reason: c.reason })),
      ...(summary.coverage.notes?.length && { notes: [...summary.coverage.notes] }),
    },
    findings: summary.findings.map((f) => ({
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
      rule: f.rule ?? null,
      rules: f.rule ? [f.rule] : [],
      reviewers: [...f.reviewers],
      agreement: { k: f.agreement, n: f.panelSize },
      similar: options.similar?.get(f.fingerprint) ?? null,
    })),
  };
}

/** The report schema as JSON Schema (draft 2020-12), for API docs and external consumers. */
export function reviewReportJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ReviewReportSchema);
}
