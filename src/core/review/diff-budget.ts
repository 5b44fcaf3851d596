import type { DiffFile, DiffHunk } from './diff-parse.js';
import type { ClippedFile, ReviewCoverage } from './types.js';

export type TokenEstimator = (text: string) => number;

/** A cheap, model-agnostic estimate (≈4 characters per token for code); callers may pass a real tokenizer. */
export const estimateTokensByChars: TokenEstimator = (text) => Math.ceil(text.length / 4);

/** Renders one file back to unified-diff text, as a reviewer will see it. */
export function renderFileDiff(file: DiffFile, hunks: readonly DiffHunk[] = file.hunks): string {
  const out = [`diff --git a/${file.oldPath ?? file.path} b/${file.newPath ?? file.path}`];
  if (file.status === 'renamed') out.push(`rename from ${file.oldPath}`, `rename to ${file.newPath}`);
  out.push(`--- ${file.oldPath === null ? '/dev/null' : `a/${file.oldPath}`}`);
  out.push(`+++ ${file.newPath === null ? '/dev/null' : `b/${file.newPath}`}`);
  for (const h of hunks) {
    out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@${h.section ? ` ${h.section}` : ''}`);
    for (const l of h.lines) out.push(`${l.kind === 'add' ? '+' : l.kind === 'del' ? '-' : ' '}${l.text}`);
  }
  return `${out.join('\n')}\n`;
}

export interface DiffChunk {
  files: DiffFile[];
  /** Estimated tokens of `text`. */
  tokens: number;
  /** The chunk as unified-diff text, ready to put in a prompt. */
  text: string;
}

export interface BudgetSplit {
  chunks: DiffChunk[];
  coverage: ReviewCoverage;
}

export interface SplitOptions {
  /** Files that do not fit in this many chunks are clipped ("review budget exhausted"). */
  maxChunks?: number;
}

/** Cuts a hunk to its first `keep` lines and recounts its header so the result is still valid. */
function truncateHunk(hunk: DiffHunk, keep: number): DiffHunk {
  const lines = hunk.lines.slice(0, keep);
  return {
    ...hunk,
    lines,
    oldLines: lines.filter((l) => l.kind !== 'add').length,
    newLines: lines.filter((l) => l.kind !== 'del').length,
  };
}

/**
 * Keeps whole hunks while they fit in `budget` tokens; the first hunk that does not fit is cut
 * by lines (binary search on the line count), and the rest are dropped. Returns null when not
 * even one line fits.
 */
function clipFile(file: DiffFile, budget: number, estimate: TokenEstimator): DiffFile | null {
  const kept: DiffHunk[] = [];
  for (const hunk of file.hunks) {
    if (estimate(renderFileDiff(file, [...kept, hunk])) <= budget) {
      kept.push(hunk);
      continue;
    }
    let lo = 0;
    let hi = hunk.lines.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (estimate(renderFileDiff(file, [...kept, truncateHunk(hunk, mid)])) <= budget) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) kept.push(truncateHunk(hunk, lo));
    break;
  }
  if (kept.length === 0) return null;
  return {
    ...file,
    hunks: kept,
    added: kept.flatMap((h) => h.lines.filter((l) => l.kind === 'add').map((l) => ({ line: l.newLine as number, text: l.text }))),
    removed: kept.flatMap((h) => h.lines.filter((l) => l.kind === 'del').map((l) => ({ line: l.oldLine as number, text: l.text }))),
  };
}

function changedLines(file: DiffFile): number {
  return file.added.length + file.removed.length;
}

/**
 * Packs files into chunks of at most `tokenBudget` estimated tokens each, so every reviewer call
 * fits its context window. Whole files are preferred: a file is never split across chunks, since
 * a reviewer that sees half a file reports the other half as missing. A file larger than the
 * budget on its own is clipped to what fits and reported in coverage.filesClipped with the reason.
 *
 * Packing is first-fit in input order (deterministic, few chunks, files stay near their
 * neighbours). Binary files carry no reviewable text and are reported as clipped.
 */
export function splitForBudget(
  files: readonly DiffFile[],
  tokenBudget: number,
  estimateTokens: TokenEstimator = estimateTokensByChars,
  options: SplitOptions = {},
): BudgetSplit {
  if (!Number.isFinite(tokenBudget) || tokenBudget <= 0) throw new RangeError('tokenBudget must be a positive number');
  const maxChunks = options.maxChunks ?? Number.POSITIVE_INFINITY;
  const chunks: { files: DiffFile[]; texts: string[]; tokens: number }[] = [];
  const filesCovered: string[] = [];
  const filesClipped: ClippedFile[] = [];

  for (const file of files) {
    if (file.binary) {
      filesClipped.push({ file: file.path, reason: 'binary file: no text to review' });
      continue;
    }
    if (file.hunks.length === 0) {
      // Pure renames and mode changes: nothing to review, but nothing was skipped either.
      filesCovered.push(file.path);
      continue;
    }
    let piece = file;
    let text = renderFileDiff(file);
    let tokens = estimateTokens(text);
    let clippedReason: string | null = null;
    if (tokens > tokenBudget) {
      const clipped = clipFile(file, tokenBudget, estimateTokens);
      if (clipped === null) {
        filesClipped.push({ file: file.path, reason: `too large: ~${tokens} tokens, budget ${tokenBudget}; nothing fits` });
        continue;
      }
      clippedReason = `too large: ~${tokens} tokens, budget ${tokenBudget}; reviewed ${changedLines(clipped)} of ${changedLines(file)} changed lines`;
      piece = clipped;
      text = renderFileDiff(clipped);
      tokens = estimateTokens(text);
    }
    let target = chunks.find((c) => c.tokens + tokens <= tokenBudget);
    if (!target) {
      if (chunks.length >= maxChunks) {
        filesClipped.push({ file: file.path, reason: `review budget exhausted: all ${maxChunks} chunks are full` });
        continue;
      }
      target = { files: [], texts: [], tokens: 0 };
      chunks.push(target);
    }
    target.files.push(piece);
    target.texts.push(text);
    target.tokens += tokens;
    if (clippedReason === null) filesCovered.push(file.path);
    else filesClipped.push({ file: file.path, reason: clippedReason });
  }
  return {
    chunks: chunks.map((c) => {
      const text = c.texts.join('');
      return { files: c.files, text, tokens: estimateTokens(text) };
    }),
    coverage: { filesCovered, filesClipped },
  };
}
