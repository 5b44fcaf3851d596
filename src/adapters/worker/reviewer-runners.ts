import type { CoreDeps } from '../../core/deps.js';
import type { RunReviewOptions } from '../../core/review/run-review.js';

/** LLM-backed reviewer runners available in this process (from configured providers). */
export function buildReviewerRunners(_deps: CoreDeps): RunReviewOptions['runners'] {
  return {};
}
