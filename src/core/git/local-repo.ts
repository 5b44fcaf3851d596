import path from 'node:path';
import { AppError } from '../errors.js';
import { GitError, runGit } from './git-exec.js';

export interface LocalRepo {
  /** Absolute top level of the repository. */
  root: string;
  /** The checked-out branch, or undefined on a detached HEAD / unborn branch without a name. */
  branch: string | undefined;
  /** basename of the root: the natural project slug. */
  name: string;
}

/** Describes the git repository that contains `dir` (a developer's checkout, read-only). */
export async function describeLocalRepo(dir: string): Promise<LocalRepo> {
  let root: string;
  try {
    root = (await runGit(['rev-parse', '--show-toplevel'], { cwd: dir, timeoutMs: 10_000 })).stdout.trim();
  } catch (e) {
    if (e instanceof GitError) throw new AppError('bad_request', `${dir} is not inside a git repository`);
    throw e;
  }
  const branch = await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: root, timeoutMs: 10_000 }).then(
    (r) => r.stdout.trim() || undefined,
    () => undefined,
  );
  return { root, branch, name: path.basename(root) };
}
