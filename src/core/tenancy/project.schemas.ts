import { z } from 'zod';
import { ReviewerSpec } from '../review/review.schemas.js';
import { DEFAULT_THRESHOLDS } from '../review/types.js';

export const ProjectSlug = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'slug: lowercase letters, digits, ".", "_" or "-", at most 63, starting with a letter or digit')
  // Slugs name git branches (quorum/{slug}/…): git refuses ".." and a ".lock" suffix.
  .refine((s) => !s.includes('..') && !s.endsWith('.lock'), 'slug must not contain ".." or end with ".lock"');

// A branch name: the git-check-ref-format rules that matter for safety (no option injection, no "..").
export const BranchName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)(?!\/)(?!.*\/$)(?!.*\.lock$)[A-Za-z0-9._/-]+$/, 'not a valid branch name');

export const RepoUrl = z
  .string()
  .min(1)
  .max(2000)
  .refine((s) => !s.startsWith('-') && !/[\0\n\r]/.test(s), 'not a valid repository location');

const Severity = z.number().min(0).max(10);

/**
 * Project settings. The keys Quorum reads are validated when written — a bad value accepted here
 * would fail every review of the project later; other keys are kept as given.
 */
export const ProjectSettings = z
  .object({
    /** The reviewer panel of the project's reviews (default: the five built-in personas). */
    panel: z.array(ReviewerSpec).min(1).max(20).optional(),
    /** Consensus score at or above which the verdict is request_changes / comment. */
    verdict_thresholds: z
      .object({ request_changes: Severity.optional(), comment: Severity.optional() })
      .strict()
      .refine(
        (t) => (t.comment ?? DEFAULT_THRESHOLDS.comment) <= (t.request_changes ?? DEFAULT_THRESHOLDS.requestChanges),
        `verdict_thresholds.comment must not exceed request_changes (defaults: comment ${DEFAULT_THRESHOLDS.comment}, request_changes ${DEFAULT_THRESHOLDS.requestChanges})`,
      )
      .optional(),
    /** Findings at or above this severity become shared knowledge (default 7). */
    knowledge_min_severity: Severity.optional(),
  })
  .catchall(z.unknown())
  .refine((o) => JSON.stringify(o).length <= 64_000, 'settings too large');

export const CreateProjectInput = z.object({
  slug: ProjectSlug,
  name: z.string().trim().min(1).max(200).optional(),
  repo_url: RepoUrl.optional(),
  default_branch: BranchName.optional(),
  settings: ProjectSettings.optional(),
});
export type CreateProjectInput = z.infer<typeof CreateProjectInput>;

export const UpdateProjectInput = z
  .object({
    slug: ProjectSlug.optional(),
    name: z.string().trim().min(1).max(200).optional(),
    repo_url: RepoUrl.nullable().optional(),
    default_branch: BranchName.optional(),
    settings: ProjectSettings.optional(),
  })
  .refine((o) => Object.keys(o).length > 0, 'nothing to update');
export type UpdateProjectInput = z.infer<typeof UpdateProjectInput>;

export const ProjectOut = z.object({
  id: z.string().uuid(),
  org_id: z.string().uuid(),
  slug: z.string(),
  name: z.string(),
  repo_url: z.string().nullable(),
  default_branch: z.string(),
  settings: z.record(z.string(), z.unknown()),
  role: z.enum(['admin', 'reviewer', 'viewer']).nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type ProjectOut = z.infer<typeof ProjectOut>;
