import type { PlanOut, GeneratePlanInput } from '../../core/plan/plan.schemas.js';
import type { ReviewProgress } from '../../core/review/follow-review-progress.js';
import type { KnowledgeOut } from '../../core/review/knowledge.repo.js';
import type { ListReviewsQuery, ReviewOut, StartReviewInput } from '../../core/review/review.schemas.js';
import type { SearchKnowledgeQuery } from '../../core/review/search-knowledge.js';
import type { Page } from '../../core/tenancy/list-projects.js';
import type { ProjectOut } from '../../core/tenancy/project.schemas.js';

/**
 * What the MCP tools and resources need, in the shapes of the REST API. Two implementations:
 * core-backend.ts calls the core use cases in-process (local mode, and /mcp on the API server);
 * rest-backend.ts sends the same calls to a team's REST API (delegation). The tools never know
 * which one they talk to, so both give the same structured results.
 */
export interface QuorumBackend {
  readonly kind: 'core' | 'rest';
  /**
   * Starts a review and waits for it (up to input.timeout_s), reporting reviewer progress k/n to
   * `onProgress` when given (no listener, no progress stream: a caller without a progress token).
   */
  reviewCode(
    input: StartReviewInput,
    onProgress: ((p: ReviewProgress) => void | Promise<void>) | undefined,
    signal?: AbortSignal,
  ): Promise<{ review: ReviewOut; done: boolean }>;
  getReview(id: string): Promise<ReviewOut>;
  listReviews(q: ListReviewsQuery): Promise<Page<ReviewOut>>;
  searchKnowledge(project: string, q: SearchKnowledgeQuery): Promise<Page<KnowledgeOut>>;
  listProjects(q: { cursor?: string | undefined; limit: number }): Promise<Page<ProjectOut>>;
  generatePlan(input: GeneratePlanInput, signal?: AbortSignal): Promise<PlanOut>;
  /** The Markdown report of a completed review of that project (404 when the review is another project's). */
  reviewMarkdown(project: string, reviewId: string): Promise<string>;
  /** The project's KNOWLEDGE.md. */
  knowledgeMarkdown(project: string): Promise<{ project_slug: string; markdown: string }>;
}
