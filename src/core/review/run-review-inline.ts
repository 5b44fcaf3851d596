import os from 'node:os';
import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { withTenant } from '../../db/client.js';
import { enqueueJob } from '../jobs/enqueue.js';
import { parseUnifiedDiff } from './diff.js';
import {
  afterCompletion,
  composeCompletion,
  consensusAddsKnowledge,
  consensusOf,
  similarKnowledge,
  withCompletionTransaction,
  writeComposedCompletion,
  type Completion,
  type CompletionInput,
  type ReviewerRunRecord,
} from './finalize-review.js';
import { reviewerKey } from './panel.js';
import { planKnowledgeDelta } from './export-knowledge.js';
import { withPreparedChange } from './prepare-change.js';
import { reviewEventRows } from './review-events.js';
import { lockAndCheckpoint } from './finalize-review.repo.js';
import type { ReviewerSpec, ReviewOut } from './review.schemas.js';
import { Spans } from './review-timing.js';
import { reviewOut, type ReviewRow } from './reviews.repo.js';
import { promoteWaitingReviews } from './run-review.js';
import { runBuiltin } from './run-reviewer.js';
import { runReviewJobOptions, type InlinePlan, type StartedReview } from './start-review.js';

/** Identifies this process in worktree leases taken by reviews it runs inline. */
export function inlineOwner(): string {
  return `api-${os.hostname()}-${process.pid}`;
}

interface TimedRun extends ReviewerRunRecord {
  durationMs: number;
}

/** What a built-in panel run needs of its review. */
type PanelReview = Pick<ReviewRow, 'id' | 'org_id' | 'project_id' | 'developer_id' | 'api_key_id' | 'priority'>;

/**
 * The built-in panel over a change, one reviewer after another, each timed (a reviewer that
 * throws is recorded as failed, the others go on). With `yieldFirst`, the event loop gets a turn
 * before each reviewer: I/O of the caller's transaction goes on between them.
 */
async function runBuiltinPanel(
  deps: CoreDeps,
  i: {
    review: PanelReview;
    panel: readonly ReviewerSpec[];
    diffText: string;
    worktreePath: string | null;
    signal: AbortSignal;
    log: CoreDeps['logger'];
    yieldFirst?: boolean;
    filesPerSlice?: () => number;
    onPrepared?: () => void;
  },
): Promise<TimedRun[]> {
  const files = parseUnifiedDiff(i.diffText);
  i.onPrepared?.();
  const runs: TimedRun[] = [];
  for (const spec of i.panel) {
    if (i.yieldFirst) await new Promise<void>((resolve) => setImmediate(resolve));
    i.signal.throwIfAborted();
    const t = Date.now();
    try {
      const result = await runBuiltin(deps, spec, {
        orgId: i.review.org_id,
        projectId: i.review.project_id,
        userId: i.review.developer_id,
        apiKeyId: i.review.api_key_id,
        reviewId: i.review.id,
        priority: i.review.priority,
        files,
        diffText: i.diffText,
        signal: i.signal,
        worktreePath: i.worktreePath,
        ...(i.filesPerSlice && { filesPerSlice: i.filesPerSlice }),
      });
      // The time spent analysing (the event loop's turns between slices are not the reviewer's).
      const durationMs = Math.round(result.busyMs ?? Date.now() - t);
      runs.push({ reviewer: reviewerKey(spec), status: 'completed', findings: result.findings, usage: null, error: null, durationMs });
    } catch (e) {
      if (i.signal.aborted) throw e;
      const error = e instanceof AppError ? `${e.code}: ${e.message}` : (e as Error).message;
      i.log.warn({ reviewer: reviewerKey(spec), err: error }, 'reviewer failed');
      runs.push({ reviewer: reviewerKey(spec), status: 'failed', findings: [], usage: null, error, durationMs: Date.now() - t });
    }
  }
  return runs;
}

/** A built-in panel started on a submitted diff before its review row is committed (see startSpeculativePanel). */
export interface SpeculativePanel {
  diffText: string;
  runs: Promise<TimedRun[]>;
  /** The start transaction has ended: the reviewers go on at their usual pace. */
  started(): void;
  /** The review is not run inline after all (no slot, or it could not start): stop, results unused. */
  abort(): void;
}

/**
 * Starts the built-in panel of a review about to be run inline on a submitted diff, while the
 * transaction that starts it is still running (slot check, insert, commit): the reviewers need
 * only the diff and the panel, and the database work goes on between them instead of before them.
 * Only for a project without a repository (no worktree to prepare: the diff is the change).
 */
export function startSpeculativePanel(deps: CoreDeps, plan: InlinePlan): SpeculativePanel {
  const abort = new AbortController();
  const log = deps.logger.child({ review_id: plan.review.id, org_id: plan.review.org_id, project_id: plan.review.project_id });
  // A file at a time while the start transaction runs: it holds the org's slot lock until its
  // commit, and each of its statements goes on only when the reviewers give the event loop a turn.
  let starting = true;
  const filesPerSlice = () => (starting ? 1 : FILES_PER_SLICE_AFTER_START);
  const runs = runBuiltinPanel(deps, { ...plan, worktreePath: null, signal: abort.signal, log, yieldFirst: true, filesPerSlice });
  runs.catch(() => undefined); // awaited by the inline run, or abandoned with abort()
  return {
    diffText: plan.diffText,
    runs,
    started: () => {
      starting = false;
    },
    abort: () => abort.abort(),
  };
}

/** Files per slice once the start transaction has ended (run-reviewer.ts's default). */
const FILES_PER_SLICE_AFTER_START = 16;

/** Moves the review's fallback job to `at` (replaces it in place by its key). */
async function rescheduleJob(deps: CoreDeps, row: ReviewRow, at: Date): Promise<void> {
  await withTenant(deps.db, row.org_id, (tx) =>
    enqueueJob(tx, 'run_review', { org_id: row.org_id, review_id: row.id, ...(row.correlation_id && { correlation_id: row.correlation_id }) }, runReviewJobOptions(row, at)),
  );
}

/**
 * Runs a review that startReviewRow accepted for inline execution, in this process, without the
 * queue hop: built-in reviewers in memory, then one transaction that checkpoints them, merges,
 * and completes the review (report files and KNOWLEDGE.md written before commit). Its job stays
 * due `graceMs` later (pushed on while the run lasts):
 * if this process dies, a worker resumes the review then; the transaction that completes the
 * review removes the job. On any trouble (cancellation, an error, a worker that took
 * over) the review is handed to the worker and null is returned: the caller waits for it instead.
 */
export async function runReviewInline(
  deps: CoreDeps,
  started: StartedReview,
  opts: { owner: string; graceMs: number; spans?: Spans; speculative?: SpeculativePanel | undefined; whileCommitting?: ((review: ReviewOut) => void) | undefined },
): Promise<ReviewOut | null> {
  const { row, project } = started;
  const t0 = performance.now();
  const spans = opts.spans ?? new Spans();
  const log = deps.logger.child({ review_id: row.id, org_id: row.org_id, project_id: row.project_id, correlation_id: row.correlation_id });
  const keepalive = setInterval(() => {
    rescheduleJob(deps, row, new Date(deps.clock.now().getTime() + opts.graceMs)).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not push back the job of an inline review'));
  }, Math.max(1_000, Math.floor(opts.graceMs / 3)));
  keepalive.unref();
  const abort = new AbortController();
  let done: Completion | null;
  const panelSize = (row.panel as ReviewerSpec[]).length;
  const answerOf = (c: Completion) => reviewOut(c.row, { completed: panelSize, findingsCount: c.findings.length, findings: c.findings });
  let answer: ReviewOut | undefined;
  try {
    done = await withPreparedChange(deps, { review: row, project, owner: opts.owner }, async (change) => {
      // Reviewed already while the review was being started (same diff, no worktree), or now.
      const runs =
        opts.speculative && !change.worktreePath && change.diffText === opts.speculative.diffText
          ? await opts.speculative.runs
          : await runBuiltinPanel(deps, {
              review: row,
              panel: row.panel as ReviewerSpec[],
              diffText: change.diffText,
              worktreePath: change.headSha ? change.worktreePath : null,
              signal: abort.signal,
              log,
              onPrepared: () => spans.mark('prepare change'),
            });
      spans.mark('reviewers');
      const input: CompletionInput = {
        review: row,
        project,
        change,
        correlationId: row.correlation_id ?? undefined,
        runs,
        spans,
        // The fallback job is not needed any more: taken back with the completion, not run later for nothing.
        removeJobKey: runReviewJobOptions(row).jobKey,
      };
      const consensus = consensusOf(input);
      // This review adds knowledge: KNOWLEDGE.md is written before its commit, from this process's view of it.
      const knowledgePlan = consensusAddsKnowledge(consensus, project.settings) ? planKnowledgeDelta(deps, row.org_id, project.id, [row.developer_id]) : null;
      spans.mark('finalize: consensus');
      const out = await withCompletionTransaction(deps, row.org_id, async (tx) => {
        const similar = await similarKnowledge(tx, row, consensus);
        spans.mark('finalize: begin + knowledge match');
        // Lock, checkpoint and reviewer events in one statement; nothing is written unless the
        // review is still this run's: cancelled meanwhile, or a worker took it over (attempt 2),
        // that path finishes it.
        const locking = lockAndCheckpoint(tx, {
          review: row,
          attempts: row.attempts,
          // The project's knowledge lock too, and what the export needs (read after it).
          knowledge: knowledgePlan?.query,
          runs: runs.map((r) => ({ reviewer: r.reviewer, status: r.status, findings: r.findings as unknown[], usage: null, error: r.error, duration_ms: r.durationMs })),
          events: reviewEventRows(
            row,
            row.correlation_id,
            runs.map((r, i) => ({
              type: 'reviewer.completed' as const,
              payload: { reviewer: r.reviewer, completed: i + 1, total: runs.length, findings: (r.findings as unknown[]).length, status: r.status },
            })),
          ),
        });
        locking.catch(() => undefined); // awaited below; a failure to compose first must not leave it unhandled
        // The reports are rendered while the database runs that statement (it is sent by the next turn).
        await new Promise<void>((resolve) => setImmediate(resolve));
        const composed = composeCompletion(deps, input, consensus, similar);
        const locked = await locking;
        spans.mark('finalize: lock + checkpoint + reviewer events (reports rendered meanwhile)');
        if (!locked || locked.status !== 'running' || locked.cancel_requested || locked.attempts !== row.attempts) return null;
        // The completing statement takes the job back; a worker that claims it meanwhile waits for this row's lock.
        clearInterval(keepalive);
        const { knowledge, ...state } = locked;
        const knowledgeLocked = knowledge && knowledgePlan ? { plan: knowledgePlan, ...knowledge } : null;
        const done = await writeComposedCompletion(deps, tx, { ...input, review: { ...row, ...state }, knowledgeLocked }, composed);
        answer = answerOf(done);
        const whileCommitting = opts.whileCommitting;
        // The COMMIT is sent by the next turn; the caller works on the answer while it runs.
        if (whileCommitting) setImmediate(() => whileCommitting(answer!));
        return done;
      });
      spans.mark('finalize: commit');
      return out;
    });
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'inline review failed; handing it to a worker');
    done = null;
  } finally {
    clearInterval(keepalive);
  }
  if (!done) {
    // Due now: the worker resumes it (or records the cancellation) without waiting out the grace.
    await rescheduleJob(deps, row, deps.clock.now()).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not hand the review to a worker; its job runs at the end of the grace period'));
    return null;
  }
  // KNOWLEDGE.md holds this review's entries already (written in its transaction): the process
  // keeps what it wrote; a file that went missing is exported again before the answer.
  await afterCompletion(deps, project, done);
  spans.mark('answer: KNOWLEDGE.md (kept, or exported when missing)');
  log.debug({ spans }, 'inline review timings');
  const labels = { org: row.org_id, project: row.project_id };
  deps.metrics.reviews.inc({ ...labels, status: done.outcome });
  deps.metrics.reviewDuration.observe(labels, (performance.now() - t0) / 1000);
  // Reviews of the org waiting for a slot may start now (the completing statement looked: usually
  // none, and then no transaction for it); nobody waits on this. One marked waiting just after
  // that look is not lost: its job retries at its slot_retry_at.
  if (done.othersWaiting) promoteWaitingReviews(deps, row.org_id).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not promote waiting reviews'));
  return answer ?? answerOf(done);
}
