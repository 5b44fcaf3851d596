/** Diff handling for reviews: parsing unified diffs and fitting them into reviewer token budgets. */
export { parseUnifiedDiff } from './diff-parse.js';
export type { DiffFile, DiffFileStatus, DiffHunk, DiffLine, NumberedLine } from './diff-parse.js';
export { estimateTokensByChars, renderFileDiff, splitForBudget } from './diff-budget.js';
export type { BudgetSplit, DiffChunk, SplitOptions, TokenEstimator } from './diff-budget.js';
