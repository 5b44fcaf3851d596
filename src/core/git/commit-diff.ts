import path from 'node:path';
import { AppError } from '../errors.js';
import { GitError, runGit, scrubPaths } from './git-exec.js';
import { validateSha } from './refs.js';
import { ceiling } from './worktrees.js';

/**
 * Applies a unified diff in a review worktree and commits it as the developer who asked for the
 * review. The identity travels only in the child process's environment (GIT_AUTHOR_* and
 * GIT_COMMITTER_*): no git config is written, and the server's own identity is never used.
 */

export interface Developer {
  name: string;
  email: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function validateDeveloper(d: Developer): void {
  // git strips or rejects these; refusing them keeps the recorded identity exactly what we pass.
  if (!d.name.trim() || CONTROL.test(d.name) || /[<>]/.test(d.name) || d.name.length > 200) {
    throw new AppError('validation_failed', 'developer name is not usable as a git identity');
  }
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(d.email) || d.email.length > 320) {
    throw new AppError('validation_failed', 'developer email is not usable as a git identity');
  }
}

export async function commitDiff(worktreePath: string, diffText: string, developer: Developer, message: string): Promise<string> {
  validateDeveloper(developer);
  if (!message.trim()) throw new AppError('validation_failed', 'a commit message is required');
  if (!diffText.trim()) throw new AppError('unprocessable', 'the diff is empty');
  const cwd = path.resolve(worktreePath);
  const base = { cwd, env: ceiling(cwd) };
  const scrub = (e: GitError) => scrubPaths(e.stderr.trim() || e.message, [cwd]);

  try {
    // No --3way: a diff that does not apply cleanly to the reviewed commit is the caller's error.
    // git apply refuses paths with '..' or '.git' components and paths behind symlinks.
    await runGit(['apply', '--index', '--whitespace=nowarn', '--recount', '-'], { ...base, input: diffText });
  } catch (e) {
    if (e instanceof GitError) throw new AppError('unprocessable', `the diff does not apply: ${scrub(e)}`);
    throw e;
  }

  const identity = {
    GIT_AUTHOR_NAME: developer.name,
    GIT_AUTHOR_EMAIL: developer.email,
    GIT_COMMITTER_NAME: developer.name,
    GIT_COMMITTER_EMAIL: developer.email,
  };
  try {
    await runGit(['-c', 'gc.auto=0', '-c', 'maintenance.auto=false', 'commit', '--quiet', '--no-verify', '--no-edit', '--cleanup=strip', '-F', '-'], {
      ...base,
      env: { ...base.env, ...identity },
      input: message,
    });
  } catch (e) {
    if (e instanceof GitError) throw new AppError('unprocessable', `could not commit the diff: ${scrub(e)}`);
    throw e;
  }
  const r = await runGit(['rev-parse', '--verify', 'HEAD^{commit}'], base);
  return validateSha(r.stdout.trim());
}
