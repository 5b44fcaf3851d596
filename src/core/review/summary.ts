import { mergeFindings, reviewScore, verdict } from './consensus.js';
import { DEFAULT_THRESHOLDS, type RawFinding, type ReviewCoverage, type ReviewSummary, type VerdictThresholds } from './types.js';

export interface SummarizeInput {
  raw: readonly RawFinding[];
  panelSize: number;
  coverage: ReviewCoverage;
  thresholds?: VerdictThresholds;
}

/** Raw panel output → the summary that every report format renders. Pure. */
export function summarizeReview(input: SummarizeInput): ReviewSummary {
  const findings = mergeFindings(input.raw, input.panelSize);
  const score = reviewScore(findings);
  return {
    score,
    verdict: verdict(score, findings, input.thresholds ?? DEFAULT_THRESHOLDS),
    findings,
    coverage: {
      filesCovered: [...input.coverage.filesCovered],
      filesClipped: input.coverage.filesClipped.map((c) => ({ ...c })),
      ...(input.coverage.notes?.length && { notes: [...input.coverage.notes] }),
    },
  };
}
