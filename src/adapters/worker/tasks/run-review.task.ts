import type { Task } from 'graphile-worker';
import type { CoreDeps } from '../../../core/deps.js';
import { runReview, type RunReviewOptions } from '../../../core/review/run-review.js';
import { tenantTask } from '../tenant-task.js';

export interface WorkerContext {
  /** This process's worker id: owner of the worktree leases it takes. */
  owner: string;
  runners: RunReviewOptions['runners'];
}

/** run_review {org_id, review_id}: runs or resumes one review (graceful shutdown hands it back). */
export const runReviewTask = (deps: CoreDeps, ctx: WorkerContext): Task =>
  tenantTask(deps, 'run_review', (d, p, helpers) =>
    runReview(d, { orgId: p.org_id, reviewId: p.review_id, correlationId: p.correlation_id }, {
      owner: ctx.owner,
      signal: helpers.abortSignal,
      runners: ctx.runners,
    }),
  );
