import type { CoreDeps } from '../deps.js';
import { readChangedContents, runBuiltinReviewer, type FileContents } from '../llm/builtin/index.js';
import type { DiffFile } from './diff.js';
import type { ReviewerSpec } from './review.schemas.js';
import type { RawFinding } from './types.js';

export interface ReviewerContext {
  orgId: string;
  projectId: string;
  userId: string;
  apiKeyId: string | null;
  reviewId: string;
  priority: 'low' | 'normal' | 'high';
  files: DiffFile[];
  diffText: string;
  signal: AbortSignal;
  /** A worktree with the change checked out (new side), when there is one: parsers read whole files from it. */
  worktreePath?: string | null;
  /**
   * Files analysed between two turns of the event loop (built-in reviewers; default 16). Smaller
   * while the caller has I/O of its own under way that must not wait for the whole panel.
   */
  filesPerSlice?: () => number;
}

export interface ReviewerResult {
  findings: RawFinding[];
  usage: Record<string, number> | null;
  coverage: { filesCovered: string[]; filesClipped: Array<{ file: string; reason: string }> } | null;
  /** Built-in reviewers: the time spent analysing, without the event loop's turns in between. */
  busyMs?: number;
}

/** Runs one reviewer of the panel. Built-in reviewers are local; the others go through the gate. */
export type ReviewerRunner = (deps: CoreDeps, spec: ReviewerSpec, ctx: ReviewerContext) => Promise<ReviewerResult>;

const FILES_PER_SLICE = 16;

/** The panel's built-in reviewers share one read of the changed files (keyed by the review's parsed diff). */
const contentsByDiff = new WeakMap<DiffFile[], Promise<FileContents | undefined>>();

function changedContents(ctx: ReviewerContext): Promise<FileContents | undefined> {
  if (!ctx.worktreePath) return Promise.resolve(undefined);
  let p = contentsByDiff.get(ctx.files);
  if (!p) {
    p = readChangedContents(ctx.worktreePath, ctx.files);
    contentsByDiff.set(ctx.files, p);
  }
  return p;
}

/**
 * Built-in analysis is CPU-bound and synchronous. On a large diff it is run a slice of files at a
 * time, yielding to the event loop in between, so the worker's heartbeat (and every other job in
 * the process) keeps running: a blocked loop would look like a dead worker to the sweeper.
 * The `tests` persona relates files to each other (source ↔ test), so it sees the whole diff.
 */
export const runBuiltin: ReviewerRunner = async (_deps, spec, ctx) => {
  ctx.signal.throwIfAborted();
  const t0 = performance.now();
  const contents = await changedContents(ctx);
  let busyMs = performance.now() - t0;
  const findings: Awaited<ReturnType<typeof runBuiltinReviewer>> = [];
  const slice = () => Math.max(1, ctx.filesPerSlice?.() ?? FILES_PER_SLICE);
  const analyse = async (files: DiffFile[]) => {
    const t = performance.now();
    findings.push(...(await runBuiltinReviewer(spec.persona, files, contents)));
    busyMs += performance.now() - t;
  };
  if (spec.persona === 'tests' || ctx.files.length <= slice()) {
    await analyse(ctx.files);
  } else {
    for (let i = 0; i < ctx.files.length; ) {
      const n = slice();
      await analyse(ctx.files.slice(i, i + n));
      i += n;
      await new Promise<void>((r) => setImmediate(r));
      ctx.signal.throwIfAborted();
    }
  }
  return { findings: findings.map((f) => ({ ...f, reviewer: spec.persona })), usage: null, coverage: null, busyMs };
};
