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
    /**
     * Called when a plan made early (from the project as this process last saw it, before the
     * transaction read it) turns out wrong: the project changed, or the caller may not review in
     * it. The caller stops what it started; onPlanned may follow with the right plan.
     */
    onUnplanned?: () => void;
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
 * Projects as this process last loaded them for a review, by org and the reference callers use
 * (id or slug): enough to plan an inline review's reviewers before the transaction has read the
 * project. Only a guess — the plan is checked against the project the transaction reads (and the
 * caller's access to it) and dropped when it differs; the reviewers started on it only read the
 * submitted diff, so a wrong guess costs CPU, never data.
 */
const seenProjects = new Map<string, Pick<Project, 'id' | 'repoUrl' | 'settings'>>();
const SEEN_PROJECTS_MAX = 1000;

function rememberProject(orgId: string, project: Project): void {
  for (const ref of [project.id, project.slug]) {
    const key = `${orgId}\0${ref}`;
    seenProjects.delete(key);
    if (seenProjects.size >= SEEN_PROJECTS_MAX) seenProjects.delete(seenProjects.keys().next().value!);
    seenProjects.set(key, { id: project.id, repoUrl: project.repoUrl, settings: project.settings });
  }
}

/** The inline plan for a submitted diff in this project, when its review would run inline (panel built-in only, small diff, no repository). */
function inlinePlanOf(
  ctx: RequestContext,
  input: StartReviewInput,
  project: Pick<Project, 'id' | 'repoUrl' | 'settings'>,
  id: string,
  panel: ReviewerSpec[] = resolvePanel(project.settings, input.reviewers),
): InlinePlan | undefined {
  if (!input.target || !('diff' in input.target) || project.repoUrl) return undefined;
  const target: StoredTarget = { kind: 'diff', diff: input.target.diff };
  if (!inlineEligible(panel, target)) return undefined;
  return {
    review: { id, org_id: ctx.actor.orgId, project_id: project.id, developer_id: ctx.actor.userId, api_key_id: ctx.actor.apiKeyId, priority: input.priority },
    panel,
    diffText: target.diff,
  };
}

function samePlan(a: InlinePlan, b: InlinePlan): boolean {
  return a.review.project_id === b.review.project_id && a.diffText === b.diffText && JSON.stringify(a.panel) === JSON.stringify(b.panel);
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
  const id = randomUUID();
  // The reviewers of an inline review start now when this process knows the project (they need
  // only the diff and the panel), and the plan is checked once the transaction has read it.
  let early: InlinePlan | undefined;
  const seen = opts.inline?.onPlanned && seenProjects.get(`${ctx.actor.orgId}\0${input.project_id}`);
  if (seen) {
    try {
      early = inlinePlanOf(ctx, input, seen, id);
    } catch {
      early = undefined; // a reviewer list the project refuses: the transaction says so
    }
    if (early) opts.inline!.onPlanned!(early);
  }
  const unplan = () => {
    if (early) opts.inline?.onUnplanned?.();
    early = undefined;
  };
  try {
    return await startReviewRowIn(deps, ctx, input, opts, id, {
      early: () => early,
      unplan,
    });
  } catch (e) {
    unplan();
    throw e;
  }
}

async function startReviewRowIn(
  deps: CoreDeps,
  ctx: RequestContext,
  input: StartReviewInput,
  opts: StartOptions,
  id: string,
  plans: { early: () => InlinePlan | undefined; unplan: () => void },
): Promise<StartedReview> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      // Once the reviewers run beside this transaction, its phases hold their time too: said so.
      let planned = !!plans.early();
      const mark = (phase: string) => opts.spans?.mark(planned ? `${phase} (reviewers run meanwhile)` : phase);
      mark('start: begin');
      const { project } = await loadProjectFor(tx, ctx.actor, input.project_id, 'reviewer');
      mark('start: project + access');
      let target: StoredTarget;
      if (!input.target) target = { kind: 'last_commit', branch: validateRef(project.defaultBranch) };
      else if ('diff' in input.target) target = { kind: 'diff', diff: input.target.diff };
      else target = { kind: 'refs', base: validateRef(input.target.base), head: validateRef(input.target.head) };
      const panel = resolvePanel(project.settings, input.reviewers);
      if (opts.inline?.onPlanned) rememberProject(ctx.actor.orgId, project);
      const eligible = !!opts.inline && inlineEligible(panel, target);
      const plan = opts.inline?.onPlanned ? inlinePlanOf(ctx, input, project, id, panel) : undefined;
      const early = plans.early();
      if (early && !(plan && samePlan(early, plan))) plans.unplan();
      if (plan && !plans.early()) opts.inline!.onPlanned!(plan);
      planned = !!plan;
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
