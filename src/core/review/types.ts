/**
 * Domain types of a review. These are plain data: no database rows, no transport shapes.
 * The Zod schemas that validate untrusted input (LLM output) live in finding.schemas.ts and
 * are kept in lock-step with these types by a compile-time check there.
 */

export const CATEGORIES = ['security', 'correctness', 'performance', 'maintainability', 'tests'] as const;
export type Category = (typeof CATEGORIES)[number];

/** A reviewer persona; there is exactly one persona per category. */
export const PERSONAS = CATEGORIES;
export type Persona = Category;

/** One issue as one reviewer reported it. Lines are 1-based new-file line numbers. */
export interface RawFinding {
  file: string;
  lineStart: number;
  lineEnd: number;
  category: Category;
  /** 0 (informational) … 10 (critical). */
  severity: number;
  title: string;
  detail: string;
  suggestion?: string;
  /** Id of the built-in rule that produced the finding (e.g. `secrets/aws-access-key`). */
  rule?: string;
  /** Name of the reviewer (persona) that reported it. */
  reviewer: string;
}

/** Findings of several reviewers (or several reports of one) that describe the same issue. */
export interface MergedFinding extends Omit<RawFinding, 'reviewer'> {
  /** SHA-256 of file, category and normalized title (see fingerprint.ts). */
  fingerprint: string;
  /** Distinct reviewers that reported this issue, sorted. */
  reviewers: string[];
  /** k: number of distinct reviewers agreeing. */
  agreement: number;
  /** n: number of reviewers on the panel. */
  panelSize: number;
  /** Consensus score of this finding, 0–10, 2 decimals. */
  score: number;
  /** Number of raw findings merged into this one. */
  occurrences: number;
}

export type ReviewVerdict = 'pass' | 'comment' | 'request_changes';

export interface ClippedFile {
  file: string;
  reason: string;
}

export interface ReviewCoverage {
  filesCovered: string[];
  filesClipped: ClippedFile[];
  /** What the review could not do with the change as a whole (e.g. a diff that does not apply). */
  notes?: string[];
}

export interface ReviewSummary {
  score: number;
  verdict: ReviewVerdict;
  findings: MergedFinding[];
  coverage: ReviewCoverage;
}

export interface VerdictThresholds {
  /** Score at or above which the verdict is request_changes. */
  requestChanges: number;
  /** Score at or above which the verdict is at least comment. */
  comment: number;
}

export const DEFAULT_THRESHOLDS: Readonly<VerdictThresholds> = Object.freeze({ requestChanges: 7, comment: 4 });

/** A finding at or above this severity blocks the change whatever the overall score. */
export const BLOCKING_SEVERITY = 9;
