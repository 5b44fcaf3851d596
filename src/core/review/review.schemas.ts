import { z } from 'zod';
import { CATEGORIES } from './types.js';

/** Text that may reach SQL: PostgreSQL text cannot hold NUL, and no identifier has control characters. */
const NoControl = z.string().regex(/^\P{Cc}*$/u, 'must not contain control characters');

export const Persona = z.enum(CATEGORIES);
export const ProviderName = z.enum(['builtin', 'anthropic', 'openai-compatible']);

/** One reviewer of a panel: a persona bound to a provider and model. */
export const ReviewerSpec = z.object({
  persona: Persona,
  provider: ProviderName.default('builtin'),
  model: z.string().min(1).max(200).optional(),
});
export type ReviewerSpec = z.infer<typeof ReviewerSpec>;

/** `"security"` is shorthand for `{persona: "security"}` on the project's provider for it. */
export const ReviewerInput = z.union([Persona, ReviewerSpec]);

export const TaskId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'task_id: letters, digits, ".", "_" or "-", starting with a letter or digit');

const MAX_DIFF_BYTES = 5 * 1024 * 1024;

export const ReviewTarget = z.union([
  z.object({ base: z.string().min(1).max(256), head: z.string().min(1).max(256) }).strict(),
  z.object({ diff: z.string().min(1).max(MAX_DIFF_BYTES) }).strict(),
]);
export type ReviewTarget = z.infer<typeof ReviewTarget>;

export const StartReviewInput = z.object({
  project_id: NoControl.min(1).max(200).describe('project id or slug'),
  task_id: TaskId,
  target: ReviewTarget.optional().describe('refs to compare, or a unified diff; default: the last commit of the default branch'),
  reviewers: z.array(ReviewerInput).min(1).max(20).optional(),
  priority: z.enum(['low', 'normal', 'high']).default('normal'),
  timeout_s: z.number().int().min(0).max(3600).default(300).describe('sync endpoint only: how long to wait before answering 202'),
});
export type StartReviewInput = z.infer<typeof StartReviewInput>;

export const ReviewStatus = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);

export const FindingOut = z.object({
  id: z.string().uuid(),
  fingerprint: z.string(),
  file: z.string(),
  line_start: z.number().int(),
  line_end: z.number().int(),
  category: z.string(),
  severity: z.number(),
  score: z.number(),
  title: z.string(),
  detail: z.string(),
  suggestion: z.string().nullable(),
  rules: z.array(z.string()),
  reviewers: z.array(z.string()),
  agreement: z.object({ k: z.number().int(), n: z.number().int() }),
  similar: z
    .object({ developer_id: z.string(), developer_name: z.string(), date: z.string(), review_id: z.string(), note: z.string() })
    .nullable(),
  developer_id: z.string().uuid(),
});
export type FindingOut = z.infer<typeof FindingOut>;

export const ReviewOut = z.object({
  id: z.string().uuid(),
  org_id: z.string().uuid(),
  project_id: z.string().uuid(),
  task_id: z.string(),
  developer_id: z.string().uuid(),
  status: ReviewStatus,
  priority: z.enum(['low', 'normal', 'high']),
  target: z.object({
    kind: z.enum(['refs', 'diff', 'last_commit']),
    base: z.string().optional(),
    head: z.string().optional(),
    branch: z.string().optional(),
    diff_bytes: z.number().int().optional(),
  }),
  panel: z.array(ReviewerSpec),
  progress: z.object({ completed: z.number().int(), total: z.number().int() }),
  base_sha: z.string().nullable(),
  head_sha: z.string().nullable(),
  commit_sha: z.string().nullable(),
  branch: z.string().nullable(),
  score: z.number().nullable(),
  verdict: z.enum(['pass', 'comment', 'request_changes']).nullable(),
  coverage: z
    .object({
      files_covered: z.array(z.string()),
      files_clipped: z.array(z.object({ file: z.string(), reason: z.string() })),
      notes: z.array(z.string()).optional().describe('what the review could not do with the change as a whole, e.g. a diff that does not apply'),
    })
    .nullable(),
  findings_count: z.number().int(),
  findings: z.array(FindingOut).optional(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  attempts: z.number().int(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  links: z.object({ self: z.string(), events: z.string(), report_md: z.string(), report_json: z.string(), report_sarif: z.string() }),
});
export type ReviewOut = z.infer<typeof ReviewOut>;

export const ListReviewsQuery = z.object({
  project: NoControl.min(1).max(200).optional(),
  developer: NoControl.min(1).max(320).optional().describe('user id or email'),
  task_id: NoControl.min(1).max(100).optional(),
  status: ReviewStatus.optional(),
  min_score: z.coerce.number().min(0).max(10).optional(),
  since: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/, 'since: an ISO 8601 date (2026-12-01) or date-time (2026-12-01T09:00:00Z)')
    .refine((v) => !Number.isNaN(Date.parse(v)), 'since: not a valid date')
    .transform((v) => new Date(v))
    .optional()
    .describe('reviews created at or after this date or date-time (ISO 8601)'),
  cursor: NoControl.max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListReviewsQuery = z.infer<typeof ListReviewsQuery>;
