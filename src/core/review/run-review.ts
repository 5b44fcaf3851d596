import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { emitReviewEvent } from './review-events.js';
import { findProject, type Project } from '../tenancy/projects.repo.js';
import { tierLimits } from '../tenancy/tiers.js';
import { enqueueJob } from '../jobs/enqueue.js';
import { anyWaitingReview, markWaitingForSlot, runningReviewsExcept, takeWaitingReviews } from './review-slots.repo.js';
import { parseUnifiedDiff } from './diff.js';
import { finalizeReview } from './finalize-review.js';
import { reviewerKey } from './panel.js';
import { withPreparedChange } from './prepare-change.js';
import type { ReviewerSpec } from './review.schemas.js';
import { completedReviewers, lockReview, type ReviewRow } from './reviews.repo.js';
import { runBuiltin, type ReviewerResult, type ReviewerRunner } from './run-reviewer.js';

export interface RunReviewJob {
  orgId: string;
  reviewId: string;
  correlationId?: string | undefined;
}

export interface RunReviewOptions {
  /** Identifies this process in worktree leases. */
  owner: string;
  /** Aborted on graceful shutdown: in-flight reviewer calls stop, the job is handed back. */
  signal?: AbortSignal;
  /** Runners by provider; builtin is always available. */
  runners?: Partial<Record<ReviewerSpec['provider'], ReviewerRunner>>;
  /** How often a running review checks whether it was cancelled. */
  cancelPollMs?: number;
}

/** `deferred`: the org is at its tier's limit of running reviews; the job was put back to run shortly. */
export type RunOutcome = 'completed' | 'failed' | 'cancelled' | 'skipped' | 'deferred';

/** How long a review waits for a free slot of its org before trying again. */
const SLOT_RETRY_MS = 5_000;

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** Built-in reviewers finishing within this window share one checkpoint transaction. */
const CHECKPOINT_BATCH_MS = 250;

/**
 * Runs (or resumes) one review. Idempotent: a terminal review is skipped; reviewers that already
 * checkpointed are not run again, so a review picked up after its worker was SIGKILLed finishes
 * from where it stopped, and finding rows are unique per review (no duplicates on retries).
 */
export async function runReview(deps: CoreDeps, job: RunReviewJob, opts: RunReviewOptions): Promise<RunOutcome> {
  const t0 = performance.now();
  const seen: { projectId?: string } = {};
  const outcome = await runReviewOnce(deps, job, opts, seen);
  if (outcome === 'completed' || outcome === 'failed' || outcome === 'cancelled') {
    await promoteWaitingReviews(deps, job.orgId).catch((e: unknown) => deps.logger.warn({ err: (e as Error).message }, 'could not promote waiting reviews'));
  }
  if (outcome !== 'skipped' && outcome !== 'deferred') {
    const labels = { org: job.orgId, project: seen.projectId ?? 'unknown' };
    deps.metrics.reviews.inc({ ...labels, status: outcome });
    deps.metrics.reviewDuration.observe(labels, (performance.now() - t0) / 1000);
  }
  return outcome;
}

async function runReviewOnce(deps: CoreDeps, job: RunReviewJob, opts: RunReviewOptions, seen: { projectId?: string }): Promise<RunOutcome> {
  const claim = await claimReview(deps, job);
  if (claim.kind !== 'run') return claim.kind;
  const { review, project } = claim;
  seen.projectId = review.project_id;
  const panel = review.panel as ReviewerSpec[];
  const log = deps.logger.child({ review_id: review.id, org_id: review.org_id, project_id: review.project_id, correlation_id: job.correlationId });

  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(new AppError('not_ready', 'worker shutting down'));
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const stopWatch = watchCancellation(deps, review, abort, opts.cancelPollMs ?? 500);
  try {
    return await withPreparedChange(deps, { review, project, owner: opts.owner }, async (change) => {
      const files = parseUnifiedDiff(change.diffText);
      const done = claim.done;
      const pending = panel.filter((s) => !done.has(reviewerKey(s)));
      // The pending reviewers start together: one transaction announces them all.
      await withTenant(deps.db, review.org_id, async (tx) => {
        for (const spec of pending) {
          await emitReviewEvent(tx, review, job.correlationId, 'reviewer.started', { reviewer: reviewerKey(spec), completed: done.size, total: panel.length });
        }
      });
      const runOne = async (spec: ReviewerSpec): Promise<Checkpoint> => {
        const key = reviewerKey(spec);
        const runner = spec.provider === 'builtin' ? runBuiltin : opts.runners?.[spec.provider];
        const t0 = Date.now();
        try {
          if (!runner) throw new AppError('unprocessable', `no ${spec.provider} provider is configured on this server`);
          const result = await runner(deps, spec, {
            orgId: review.org_id,
            projectId: review.project_id,
            userId: review.developer_id,
            apiKeyId: review.api_key_id,
            reviewId: review.id,
            priority: review.priority,
            files,
            diffText: change.diffText,
            signal: abort.signal,
            worktreePath: change.headSha ? change.worktreePath : null,
          });
          return { key, result, durationMs: Date.now() - t0 };
        } catch (e) {
          if (abort.signal.aborted) throw e;
          const error = e instanceof AppError ? `${e.code}: ${e.message}` : (e as Error).message;
          log.warn({ reviewer: key, err: error }, 'reviewer failed');
          return { key, error, durationMs: Date.now() - t0 };
        }
      };
      // Built-in reviewers share this thread: run them one after another and checkpoint the ones
      // that finish close together in one transaction (a slow one is checkpointed on its own, so a
      // crash loses little work). Model reviewers run concurrently, each checkpointed as it ends.
      const builtinRun = (async () => {
        let batch: Checkpoint[] = [];
        let since = Date.now();
        for (const spec of pending.filter((p) => p.provider === 'builtin')) {
          batch.push(await runOne(spec));
          if (Date.now() - since >= CHECKPOINT_BATCH_MS) {
            await checkpoint(deps, review, job, panel.length, batch);
            batch = [];
            since = Date.now();
          }
        }
        if (batch.length) await checkpoint(deps, review, job, panel.length, batch);
      })();
      await Promise.all([
        builtinRun,
        ...pending.filter((p) => p.provider !== 'builtin').map(async (spec) => checkpoint(deps, review, job, panel.length, [await runOne(spec)])),
      ]);
      abort.signal.throwIfAborted();
      return finalizeReview(deps, { review, project, change, correlationId: job.correlationId });
    });
  } catch (e) {
    if (abort.signal.aborted && (await isCancelRequested(deps, review))) {
      await markTerminal(deps, review, job, 'cancelled', null);
      return 'cancelled';
    }
    if (opts.signal?.aborted) throw e; // shutdown: hand the job back, it resumes elsewhere
    if (e instanceof AppError && e.status < 500) {
      await markTerminal(deps, review, job, 'failed', { code: e.code, message: e.message });
      return 'failed';
    }
    throw e; // unexpected: the queue retries the job with backoff
  } finally {
    stopWatch();
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}

const JOB_PRIORITY = { high: -10, normal: 0, low: 10 } as const;

/**
 * A slot of the org was freed: the oldest reviews waiting for one run now instead of at their
 * next retry (their job is replaced in place by its key).
 */
export async function promoteWaitingReviews(deps: CoreDeps, orgId: string): Promise<void> {
  await withTenant(deps.db, orgId, async (tx) => {
    // Nobody waiting (the common case): no need for the org's slot lock. One marked waiting just
    // after this look is not lost: its job retries at its slot_retry_at.
    if (!(await anyWaitingReview(tx))) return;
    const { running, tier } = await runningReviewsExcept(tx, orgId, '00000000-0000-0000-0000-000000000000');
    const waiting = await takeWaitingReviews(tx, Math.min(8, tierLimits(deps.config.tierLimits, tier).max_concurrent_reviews - running));
    for (const r of waiting) {
      await enqueueJob(
        tx,
        'run_review',
        { org_id: r.org_id, review_id: r.id, ...(r.correlation_id && { correlation_id: r.correlation_id }) },
        { jobKey: `review:${r.id}`, priority: JOB_PRIORITY[r.priority], maxAttempts: 10 },
      );
    }
  });
}

type Claim = { kind: 'skipped' | 'cancelled' | 'deferred' } | { kind: 'run'; review: ReviewRow; project: Project; done: Map<string, unknown> };

async function claimReview(deps: CoreDeps, job: RunReviewJob): Promise<Claim> {
  return withTenant(deps.db, job.orgId, async (tx) => {
    const r = await lockReview(tx, job.reviewId);
    if (!r || TERMINAL.has(r.status)) return { kind: 'skipped' as const };
    const project = await findProject(tx, r.project_id);
    if (!project) return { kind: 'skipped' as const };
    if (r.cancel_requested) {
      await tx.updateTable('reviews').set({ status: 'cancelled', completed_at: deps.clock.now() }).where('id', '=', r.id).execute();
      // Running: its cancel made this job due while another attempt may still be stopping (it finds the review cancelled).
      const reason = r.status === 'running' ? 'cancelled while running' : 'cancelled before it started';
      await emitReviewEvent(tx, r, job.correlationId, 'review.cancelled', { reason });
      return { kind: 'cancelled' as const };
    }
    const now = deps.clock.now();
    // Per-org cap on running reviews by tier. A review already running (resumed after a crash) keeps its slot.
    if (r.status !== 'running') {
      const { running, tier } = await runningReviewsExcept(tx, r.org_id, r.id);
      if (running >= tierLimits(deps.config.tierLimits, tier).max_concurrent_reviews) {
        const retryAt = new Date(now.getTime() + SLOT_RETRY_MS);
        await markWaitingForSlot(tx, r.id, retryAt);
        await enqueueJob(
          tx,
          'run_review',
          { org_id: r.org_id, review_id: r.id, ...(job.correlationId && { correlation_id: job.correlationId }) },
          { jobKey: `review:${r.id}`, priority: JOB_PRIORITY[r.priority], runAt: retryAt, maxAttempts: 10 },
        );
        return { kind: 'deferred' as const };
      }
    }
    const review = await tx
      .updateTable('reviews')
      .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), started_at: r.started_at ?? now, slot_retry_at: null }))
      .where('id', '=', r.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const done = await completedReviewers(tx, r.id);
    await emitReviewEvent(tx, r, job.correlationId, 'review.started', {
      attempt: review.attempts,
      resumed: done.size > 0,
      completed: done.size,
      total: (r.panel).length,
    });
    return { kind: 'run' as const, review, project, done };
  });
}

interface Checkpoint {
  key: string;
  result?: ReviewerResult;
  error?: string;
  durationMs: number;
}

async function checkpoint(deps: CoreDeps, review: ReviewRow, job: RunReviewJob, total: number, entries: Checkpoint[]): Promise<void> {
  await withTenant(deps.db, review.org_id, async (tx) => {
    // Reviewers finish concurrently: serialize their checkpoints so "k of n" counts are exact.
    await lockReview(tx, review.id);
    const written = await tx
      .insertInto('reviewer_runs')
      .values(
        entries.map(({ key, result, error, durationMs }) => ({
          org_id: review.org_id,
          review_id: review.id,
          reviewer: key,
          status: result ? ('completed' as const) : ('failed' as const),
          findings: JSON.stringify(result?.findings ?? []),
          usage: result?.usage || result?.coverage ? JSON.stringify({ ...result.usage, coverage: result.coverage }) : null,
          error: error ?? null,
          duration_ms: durationMs,
        })),
      )
      .onConflict((oc) => oc.columns(['review_id', 'reviewer']).doNothing())
      .returning('reviewer')
      .execute();
    const n = await tx.selectFrom('reviewer_runs').select((eb) => eb.fn.countAll<string>().as('n')).where('review_id', '=', review.id).executeTakeFirstOrThrow();
    let completed = Number(n.n) - written.length;
    for (const { key, result } of entries.filter((e) => written.some((w) => w.reviewer === e.key))) {
      completed++;
      await emitReviewEvent(tx, review, job.correlationId, 'reviewer.completed', {
        reviewer: key,
        completed,
        total,
        findings: result?.findings.length ?? 0,
        status: result ? 'completed' : 'failed',
      });
    }
  });
}

async function isCancelRequested(deps: CoreDeps, review: ReviewRow): Promise<boolean> {
  const r = await withTenant(deps.db, review.org_id, (tx) =>
    tx.selectFrom('reviews').select('cancel_requested').where('id', '=', review.id).executeTakeFirst(),
  );
  return !!r?.cancel_requested;
}

async function markTerminal(deps: CoreDeps, review: ReviewRow, job: RunReviewJob, status: 'failed' | 'cancelled', error: { code: string; message: string } | null) {
  await withTenant(deps.db, review.org_id, async (tx) => {
    const r = await lockReview(tx, review.id);
    if (!r || TERMINAL.has(r.status)) return;
    await tx
      .updateTable('reviews')
      .set({ status, completed_at: deps.clock.now(), error: error ? JSON.stringify(error) : null })
      .where('id', '=', review.id)
      .execute();
    if (status === 'failed' && error) await emitReviewEvent(tx, review, job.correlationId, 'review.failed', { error });
    else await emitReviewEvent(tx, review, job.correlationId, 'review.cancelled', { reason: 'cancelled while running' });
  });
}

/** Polls the cancel flag while the review runs; cancellation aborts in-flight reviewer calls. */
function watchCancellation(deps: CoreDeps, review: ReviewRow, abort: AbortController, everyMs: number): () => void {
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || abort.signal.aborted) return;
    isCancelRequested(deps, review).then(
      (c) => {
        if (c) abort.abort(new AppError('conflict', 'review cancelled'));
      },
      () => {},
    );
  }, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
