import type { CoreDeps } from '../deps.js';
import { runBuiltinReviewer } from '../llm/builtin/index.js';
import type { DiffFile } from './diff.js';
import type { ReviewerSpec } from './review.schemas.js';
import type { RawFinding } from './types.js';

export interface ReviewerContext {
  orgId: string;
  projectId: string;
  userId: string;
  apiKeyId: string | null;
  reviewId: string;
  priority: 'low' | 'normal' | 'high';
  files: DiffFile[];
  diffText: string;
  signal: AbortSignal;
}

export interface ReviewerResult {
  findings: RawFinding[];
  usage: Record<string, number> | null;
  coverage: { filesCovered: string[]; filesClipped: Array<{ file: string; reason: string }> } | null;
}

/** Runs one reviewer of the panel. Built-in reviewers are local; the others go through the gate. */
export type ReviewerRunner = (deps: CoreDeps, spec: ReviewerSpec, ctx: ReviewerContext) => Promise<ReviewerResult>;

export const runBuiltin: ReviewerRunner = async (_deps, spec, ctx) => {
  ctx.signal.throwIfAborted();
  const findings = runBuiltinReviewer(spec.persona, ctx.files).map((f) => ({ ...f, reviewer: spec.persona }));
  return { findings, usage: null, coverage: null };
};
