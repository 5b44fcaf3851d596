import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import { AppError, type ErrorCode } from '../errors.js';
import { exportKnowledgeCoalesced } from './knowledge-export-queue.js';
import { knowledgePath } from './review-files.js';
import fs from 'node:fs/promises';
import type { RequestContext } from '../tenancy/actor.js';
import type { ReviewOut, StartReviewInput } from './review.schemas.js';
import { Spans } from './review-timing.js';
import { inlineOwner, runReviewInline, startSpeculativePanel, type SpeculativePanel } from './run-review-inline.js';
import { startReviewRow, type InlinePlan, type StartedReview } from './start-review.js';
import { waitForReview } from './wait-for-review.js';

/** How long the job of an inline review is held back: the worker's takeover time if this process dies. */
export const INLINE_GRACE_MS = 10_000;

/**
 * POST /v1/review: starts a review and answers when it is done or after `timeout_s` (then with
 * done=false). A small change for a built-in-only panel is reviewed right here (no queue hop, one
 * finishing transaction, the answer built from what was written); anything else goes through the
 * queue and a worker, and this waits for it.
 */
export async function runSyncReview(deps: CoreDeps, ctx: RequestContext, input: StartReviewInput, opts: SyncReviewOptions = {}): Promise<{ review: ReviewOut; done: boolean }> {
  return refusedChangeAsError(await runSyncReviewOnce(deps, ctx, input, opts));
}

export interface SyncReviewOptions {
  /**
   * Called, for a review completed in this process, with the very review object that will be
   * returned, while the transaction that completes it commits (the thread would only wait for the
   * disk): the caller prepares its answer meanwhile — and uses it only if that object is returned.
   */
  whileCommitting?: (review: ReviewOut) => void;
}

/**
 * Failures answered as errors: the request named no reviewable change (the caller's to fix), or
 * the org's budget stopped every reviewer (429, like any call over budget).
 */
const CHANGE_ERRORS = new Set(['invalid_ref', 'invalid_diff', 'unprocessable', 'budget_exceeded']);

/**
 * A sync review that failed because its change could not be read (a ref that names no commit, a
 * project without a repository) is answered as that error (422 with its code), the review's id in
 * the details, like a malformed ref refused up front; the failed review stays listed.
 */
function refusedChangeAsError(r: { review: ReviewOut; done: boolean }): { review: ReviewOut; done: boolean } {
  const err = r.review.error;
  if (r.done && r.review.status === 'failed' && err && CHANGE_ERRORS.has(err.code)) {
    throw new AppError(err.code as ErrorCode, err.message, { review_id: r.review.id, review: r.review.links.self });
  }
  return r;
}

async function runSyncReviewOnce(deps: CoreDeps, ctx: RequestContext, input: StartReviewInput, opts: SyncReviewOptions): Promise<{ review: ReviewOut; done: boolean }> {
  const timeoutMs = input.timeout_s * 1000;
  const t0 = Date.now();
  const spans = new Spans();
  // The built-in reviewers of a submitted diff start while the review is being started.
  let speculative: SpeculativePanel | undefined;
  const onPlanned = (plan: InlinePlan) => (speculative = startSpeculativePanel(deps, plan));
  const onUnplanned = () => {
    speculative?.abort();
    speculative = undefined;
  };
  let started: StartedReview;
  try {
    started = await startReviewRow(deps, ctx, input, timeoutMs > 0 ? { inline: { graceMs: INLINE_GRACE_MS, onPlanned, onUnplanned }, spans } : {});
  } catch (e) {
    speculative?.abort();
    throw e;
  } finally {
    speculative?.started();
  }
  spans.mark(speculative ? 'start: commit (reviewers run meanwhile)' : 'start: commit');
  if (!started.inline) {
    speculative?.abort();
    return withKnowledgeExported(deps, ctx.actor.orgId, await waitForReview(deps, ctx.actor, started.out.id, timeoutMs));
  }
  const run = runReviewInline(deps, started, { owner: inlineOwner(), graceMs: INLINE_GRACE_MS, spans, speculative, whileCommitting: opts.whileCommitting });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([run, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    // The answer goes out now (202); the review goes on in this process and completes on its own.
    run.catch(() => undefined);
    return waitForReview(deps, ctx.actor, started.out.id, 0);
  }
  if (first) return { review: first, done: true };
  return withKnowledgeExported(deps, ctx.actor.orgId, await waitForReview(deps, ctx.actor, started.out.id, Math.max(0, timeoutMs - (Date.now() - t0))));
}

/**
 * A review finished by a worker: the worker wrote KNOWLEDGE.md with the review's entries before
 * committing it, in its own data directory. When that is not this process's (another host), or
 * the file was replaced since by one without them, the export is done (or joined) here first, so
 * the file holds the review's entries when the caller reads it.
 */
async function withKnowledgeExported(deps: CoreDeps, orgId: string, r: { review: ReviewOut; done: boolean }): Promise<{ review: ReviewOut; done: boolean }> {
  if (r.review.status !== 'completed') return r;
  const project = await withTenant(deps.db, orgId, async (tx) => {
    // Through the review's findings (indexed by review), not knowledge.review_id (not indexed).
    const added = await tx
      .selectFrom('findings as f')
      .innerJoin('knowledge as k', 'k.finding_id', 'f.id')
      .select('k.id')
      .where('f.review_id', '=', r.review.id)
      .limit(1)
      .executeTakeFirst();
    return added ? tx.selectFrom('projects').select(['id', 'slug']).where('id', '=', r.review.project_id).executeTakeFirst() : undefined;
  });
  if (project && !(await knowledgeFileHoldsReview(deps, orgId, project.id, r.review.id))) await exportKnowledgeCoalesced(deps, orgId, project);
  return r;
}

/** Whether this process's KNOWLEDGE.md of the project shows entries of the review (each names it: "(review <id>)"). */
async function knowledgeFileHoldsReview(deps: CoreDeps, orgId: string, projectId: string, reviewId: string): Promise<boolean> {
  const text = await fs.readFile(knowledgePath(deps.config.dataDir, orgId, projectId)).catch(() => null);
  return text !== null && text.includes(`(review ${reviewId})`);
}
