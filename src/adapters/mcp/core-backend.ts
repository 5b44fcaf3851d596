import type { CoreDeps } from '../../core/deps.js';
import { generatePlan } from '../../core/plan/generate-plan.js';
import { waitForReviewWithProgress } from '../../core/review/wait-for-review-with-progress.js';
import { getKnowledgeMarkdown } from '../../core/review/get-knowledge-markdown.js';
import { getProjectReviewReport } from '../../core/review/get-project-review-report.js';
import { getReview } from '../../core/review/get-review.js';
import { listReviews } from '../../core/review/list-reviews.js';
import { runSyncReview } from '../../core/review/run-sync-review.js';
import { searchKnowledge } from '../../core/review/search-knowledge.js';
import { startReview } from '../../core/review/start-review.js';
import type { RequestContext } from '../../core/tenancy/actor.js';
import { listProjects } from '../../core/tenancy/list-projects.js';
import type { QuorumBackend } from './backend.js';

/**
 * The in-process backend: each method is one core use case, run as the actor of `ctx()` (the
 * local owner in `quorum mcp`, the API key's user and org on the server's /mcp).
 */
export function coreBackend(deps: CoreDeps, ctx: () => RequestContext): QuorumBackend {
  return {
    kind: 'core',
    async reviewCode(input, onProgress) {
      const c = ctx();
      // No progress wanted: the same path as REST's synchronous POST /v1/review (a small change
      // for the built-in panel is reviewed right here, without a queue hop).
      if (!onProgress) return runSyncReview(deps, c, input);
      // Progress wanted: the review's id is needed before it finishes, to follow its events.
      const started = await startReview(deps, c, input);
      return waitForReviewWithProgress(deps, c.actor, started.id, input.timeout_s * 1000, onProgress);
    },
    getReview: (id) => getReview(deps, ctx().actor, id),
    listReviews: (q) => listReviews(deps, ctx().actor, q),
    searchKnowledge: (project, q) => searchKnowledge(deps, ctx().actor, project, q),
    listProjects: (q) => listProjects(deps, ctx().actor, q),
    generatePlan: (input, signal) => generatePlan(deps, ctx(), input, signal),
    reviewMarkdown: async (project, id) => (await getProjectReviewReport(deps, ctx().actor, project, id, 'md')).body,
    knowledgeMarkdown: (project) => getKnowledgeMarkdown(deps, ctx().actor, project),
  };
}
