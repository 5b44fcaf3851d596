import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { CoreDeps } from '../deps.js';
import type { Database } from '../../db/schema.js';
import { withTenant } from '../../db/client.js';
import { enqueueJobCall } from '../jobs/enqueue.js';
import { validateRef } from '../git/refs.js';
import type { RequestContext } from '../tenancy/actor.js';
import { auditInsert } from '../tenancy/audit.repo.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import type { Project } from '../tenancy/projects.repo.js';
import { tierLimits } from '../tenancy/tiers.js';
import { AppError } from '../errors.js';
import { parseUnifiedDiff } from './diff.js';
import { reviewerKey, resolvePanel } from './panel.js';
import { reviewEventRows } from './review-events.js';
import type { ReviewerSpec, ReviewOut, StartReviewInput } from './review.schemas.js';
import { runningReviewsExcept } from './review-slots.repo.js';
import type { Spans } from './review-timing.js';
import { reviewOut, type ReviewRow, type StoredTarget } from './reviews.repo.js';
import { insertReviewWithOutbox } from './start-review.repo.js';

export const JOB_PRIORITY = { high: -10, normal: 0, low: 10 } as const;

/** A change this small, reviewed by built-in reviewers only, is quick enough to review in the request. */
export const INLINE_MAX_DIFF_BYTES = 256 * 1024;

export interface StartOptions {
  /**
   * Offer to run the review in this process (the sync endpoint). Taken when the panel is built-in
   * only, the change is a small submitted diff, and the org has a free slot: the review then starts
   * as running, and its job is still written, due `graceMs` from now, so that a worker picks the
   * review up if this process dies before finishing it.
   */
  inline?: {
    graceMs: number;
    /**
     * Called once the review is known to be one to run inline on a submitted diff in a project
     * without a repository — before the slot check, insert and commit — so that the caller can
     * start the reviewers meanwhile (whether it does run inline is `StartedReview.inline`).
     */
    onPlanned?: (plan: InlinePlan) => void;
  };
  /** Phase timings (the review bench reads them from the debug log). */
  spans?: Spans;
}

/** A review about to be run inline: what its built-in panel needs. */
export interface InlinePlan {
  review: Pick<ReviewRow, 'id' | 'org_id' | 'project_id' | 'developer_id' | 'api_key_id' | 'priority'>;
  panel: ReviewerSpec[];
  diffText: string;
}

export interface StartedReview {
  out: ReviewOut;
  row: ReviewRow;
  project: Project;
  /** The caller runs the review now (see StartOptions.inline). */
  inline: boolean;
}

export function runReviewJobOptions(row: Pick<ReviewRow, 'id' | 'priority'>, runAt?: Date) {
  return { jobKey: `review:${row.id}`, priority: JOB_PRIORITY[row.priority], maxAttempts: 10, ...(runAt && { runAt }) };
}

/** Whether this org may start one more review now (the per-tier cap the worker enforces at claim). */
async function slotFree(deps: CoreDeps, tx: Transaction<Database>, orgId: string, reviewId: string): Promise<boolean> {
  const { running, tier } = await runningReviewsExcept(tx, orgId, reviewId);
  return running < tierLimits(deps.config.tierLimits, tier).max_concurrent_reviews;
}

function inlineEligible(panel: ReviewerSpec[], target: StoredTarget): boolean {
  return panel.every((s) => s.provider === 'builtin') && target.kind === 'diff' && Buffer.byteLength(target.diff) <= INLINE_MAX_DIFF_BYTES;
}

/**
 * Starts a review of a change in a project. The review belongs to the caller (developer_id is the
 * authenticated user). The row, its events, the job and the audit row are written in one
 * transaction: a review is never accepted without the job that will run it.
 */
export async function startReviewRow(deps: CoreDeps, ctx: RequestContext, input: StartReviewInput, opts: StartOptions = {}): Promise<StartedReview> {
  // Text with no file in it is refused, not reviewed into an empty "pass" (a CI job piping a broken diff).
  if (input.target && 'diff' in input.target && parseUnifiedDiff(input.target.diff).length === 0) {
    throw new AppError('invalid_diff', 'target.diff is not a unified diff: no file header (diff --git … or --- / +++ lines) was found');
  }
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      // Once the reviewers run beside this transaction, its phases hold their time too: said so.
      let planned = false;
      const mark = (phase: string) => opts.spans?.mark(planned ? `${phase} (reviewers run meanwhile)` : phase);
      mark('start: begin');
      const { project } = await loadProjectFor(tx, ctx.actor, input.project_id, 'reviewer');
      mark('start: project + access');
      let target: StoredTarget;
      if (!input.target) target = { kind: 'last_commit', branch: validateRef(project.defaultBranch) };
      else if ('diff' in input.target) target = { kind: 'diff', diff: input.target.diff };
      else target = { kind: 'refs', base: validateRef(input.target.base), head: validateRef(input.target.head) };
      const panel = resolvePanel(project.settings, input.reviewers);
      const id = randomUUID();
      const eligible = !!opts.inline && inlineEligible(panel, target);
      if (eligible && target.kind === 'diff' && !project.repoUrl && opts.inline?.onPlanned) {
        planned = true;
        opts.inline.onPlanned({
          review: { id, org_id: ctx.actor.orgId, project_id: project.id, developer_id: ctx.actor.userId, api_key_id: ctx.actor.apiKeyId, priority: input.priority },
          panel,
          diffText: target.diff,
        });
      }
      const inline = eligible && (await slotFree(deps, tx, ctx.actor.orgId, id));
      mark('start: slot check');
      const now = deps.clock.now();
      const total = panel.length;
      const runAt = inline && opts.inline ? new Date(now.getTime() + opts.inline.graceMs) : undefined;
      const review = { id, org_id: ctx.actor.orgId, project_id: project.id };
      // Row, events, job and audit in one statement (one round trip).
      const row = await insertReviewWithOutbox(tx, {
        target,
        review: {
          ...review,
          task_id: input.task_id,
          developer_id: ctx.actor.userId,
          api_key_id: ctx.actor.apiKeyId,
          priority: input.priority,
          target: JSON.stringify(target),
          panel: JSON.stringify(panel),
          correlation_id: ctx.correlationId,
          ...(inline && { status: 'running' as const, attempts: 1, started_at: now }),
        },
        events: reviewEventRows(review, ctx.correlationId, [
          { type: 'review.queued', payload: { task_id: input.task_id, priority: input.priority, total } },
          ...(inline
            ? [
                { type: 'review.started' as const, payload: { attempt: 1, resumed: false, completed: 0, total } },
                ...panel.map((spec) => ({ type: 'reviewer.started' as const, payload: { reviewer: reviewerKey(spec), completed: 0, total } })),
              ]
            : []),
        ]),
        job: enqueueJobCall(
          'run_review',
          { org_id: ctx.actor.orgId, review_id: id, project_id: project.id, correlation_id: ctx.correlationId },
          runReviewJobOptions({ id, priority: input.priority }, runAt),
        ),
        audit: auditInsert(tx, ctx, {
          action: 'review.start',
          projectId: project.id,
          targetType: 'review',
          targetId: id,
          diff: { task_id: input.task_id, target: target.kind, reviewers: panel.map((p) => p.persona), priority: input.priority },
        }),
        // An inline review is answered only after its finishing transaction, a synchronous commit that
        // makes this one durable as well (or after its timeout, ≥ 1 s, when the WAL writer has long
        // flushed it): nobody learns of this review from this commit alone.
        commitWithoutWaitingForDisk: inline,
      });
      mark('start: insert review + events + job + audit');
      return { out: reviewOut(row, { completed: 0, findingsCount: 0 }), row, project, inline };
    },
    { userId: ctx.actor.userId },
  );
}

/** Queues a review; a worker runs it. */
export async function startReview(deps: CoreDeps, ctx: RequestContext, input: StartReviewInput): Promise<ReviewOut> {
  return (await startReviewRow(deps, ctx, input)).out;
}
