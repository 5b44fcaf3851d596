import { AppError } from '../errors.js';

/**
 * Validation of everything user-supplied that reaches a git command line or a git ref name.
 * Git receives arguments as a vector (no shell), so the dangers are option injection (`--upload-pack=…`),
 * revision syntax that reads other things (`HEAD:path`, `@{-1}`, `:/text`), and names git would
 * reject or interpret as paths (`..`, `\`).
 */

export const MAX_REF_LENGTH = 200;

/** Full SHA-1 or SHA-256 object name, as git prints it. */
export const FULL_SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

// Ancestry suffixes only: `~`, `~3`, `^`, `^2` (not `^{…}`, `^!`, `^@`).
const SUFFIXES_RE = /(?:[~^][0-9]{0,6})*$/;

// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f~^:?*[\\]/;

/**
 * git-check-ref-format rules for a ref name (one or more `/`-separated components), plus ours:
 * no leading `-`. Returns the reason it is invalid, or undefined.
 */
export function refNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_REF_LENGTH) return `is longer than ${MAX_REF_LENGTH} characters`;
  if (name.startsWith('-')) return "must not start with '-'";
  if (FORBIDDEN_CHARS.test(name)) return 'contains a space, control character or one of ~ ^ : ? * [ \\';
  if (name.includes('..')) return "must not contain '..'";
  if (name.includes('@{')) return "must not contain '@{'";
  if (name === '@') return "must not be '@'";
  if (name.endsWith('.')) return "must not end with '.'";
  for (const part of name.split('/')) {
    if (part.length === 0) return "must not contain empty components ('//', or a leading or trailing '/')";
    if (part.startsWith('.')) return "must not have a component starting with '.'";
    if (part.endsWith('.lock')) return "must not have a component ending with '.lock'";
  }
  return undefined;
}

/**
 * A revision a caller may name: a branch or tag name, a full or abbreviated SHA, optionally
 * followed by `~N` / `^N` ancestry steps (`main~2`, `HEAD^`, `v1.2^2~1`). Returns it unchanged.
 */
export function validateRef(ref: unknown): string {
  if (typeof ref !== 'string') throw new AppError('invalid_ref', 'a ref must be a string');
  if (ref.length > MAX_REF_LENGTH) throw new AppError('invalid_ref', `ref is longer than ${MAX_REF_LENGTH} characters`);
  const suffix = SUFFIXES_RE.exec(ref)?.[0] ?? '';
  const base = ref.slice(0, ref.length - suffix.length);
  if (base.length === 0) throw new AppError('invalid_ref', `invalid ref ${JSON.stringify(ref)}: no name before '~' or '^'`);
  const problem = refNameProblem(base);
  if (problem) throw new AppError('invalid_ref', `invalid ref ${JSON.stringify(ref.slice(0, 80))}: ${problem}`);
  return ref;
}

export function isValidRef(ref: unknown): boolean {
  try {
    validateRef(ref);
    return true;
  } catch {
    return false;
  }
}

/** Same pattern as the reviews.task_id check constraint (0005). */
export const TASK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * A task id labels a review and becomes part of a directory name and a branch name, so beyond the
 * database pattern it must also be a valid ref component (no `..`, no `.lock` ending).
 */
export function taskIdProblem(taskId: unknown): string | undefined {
  if (typeof taskId !== 'string') return 'must be a string';
  if (!TASK_ID_RE.test(taskId)) return 'must be 1-100 characters of letters, digits, ".", "_" or "-", starting with a letter or digit';
  if (taskId.includes('..')) return "must not contain '..'";
  if (taskId.endsWith('.lock') || taskId.endsWith('.')) return "must not end with '.lock' or '.'";
  return undefined;
}

export function isValidTaskId(taskId: unknown): taskId is string {
  return taskIdProblem(taskId) === undefined;
}

export function validateTaskId(taskId: unknown): string {
  const problem = taskIdProblem(taskId);
  if (problem) throw new AppError('validation_failed', `invalid task_id: ${problem}`, { field: 'task_id' });
  return taskId as string;
}

/** `quorum/{projectSlug}/{taskId}/{reviewId}`: the branch a review's worktree is checked out on. */
export function worktreeBranchName(projectSlug: string, taskId: string, reviewId: string): string {
  validateTaskId(taskId);
  const branch = `quorum/${projectSlug}/${taskId}/${reviewId}`;
  const problem = refNameProblem(branch);
  if (problem) throw new AppError('validation_failed', `project slug ${JSON.stringify(projectSlug)} cannot be used in a branch name: ${problem}`);
  return branch;
}

export function validateSha(sha: string): string {
  if (!FULL_SHA_RE.test(sha)) throw new AppError('invalid_ref', 'expected a full commit id');
  return sha;
}
