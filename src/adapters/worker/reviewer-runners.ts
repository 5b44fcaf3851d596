import type { CoreDeps } from '../../core/deps.js';
import type { RunReviewOptions } from '../../core/review/run-review.js';
import { runLlmReviewer } from '../../core/review/run-llm-reviewer.js';

/** Reviewer runners by provider; builtin is always available inside runReview. */
export function buildReviewerRunners(_deps: CoreDeps): RunReviewOptions['runners'] {
  return { anthropic: runLlmReviewer, 'openai-compatible': runLlmReviewer };
}
