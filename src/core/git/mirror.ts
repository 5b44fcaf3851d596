import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import { GitError, retryOnLock, runGit, scrubPaths } from './git-exec.js';
import { fetchCoalescer, repoLocks } from './keyed-mutex.js';
import { mirrorPathFor } from './paths.js';
import { isValidRef } from './refs.js';
import { assertLocalAllowed, isInside, validateRepoUrl, type RepoPolicy } from './repo-url.js';

/**
 * A bare mirror of each project's repository under the data directory. Quorum reads the user's
 * repository only by cloning and fetching it; worktrees, branches and commits live in the mirror.
 *
 * Concurrency, chosen to need no lock files of our own (which need stale-lock detection after a
 * crash):
 *  - creation: clone into a unique temporary directory, then rename() it into place. rename is
 *    atomic; a process that loses the race discards its clone and uses the winner's.
 *  - fetch: git locks each ref and packed-refs with create-exclusive lock files; concurrent
 *    fetches from other processes fail fast on them, and we retry with backoff. In-process,
 *    concurrent requests coalesce into one fetch that started after they asked.
 */

export const NETWORK_TIMEOUT_MS = 600_000;

// Upstream branches and tags, pruned; our own review branches (quorum/*) are excluded from both
// the fetch and the prune by the negative refspec (git >= 2.29), or --prune would delete them.
const FETCH_REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*', '^refs/heads/quorum/*'];

export interface Mirror {
  path: string;
  cloned: boolean;
}

export interface EnsureMirrorOptions {
  /** Fetch an existing mirror (default true: every review sees the repository's current state). */
  fetch?: boolean;
  timeoutMs?: number;
  /** QUORUM_LOCAL_REPO_ROOTS (null or absent: any local path). */
  localRoots?: readonly string[] | null | undefined;
}

export async function ensureMirror(
  dataDir: string,
  orgId: string,
  projectId: string,
  repoUrl: string,
  opts: EnsureMirrorOptions = {},
): Promise<Mirror> {
  const mirror = mirrorPathFor(dataDir, orgId, projectId);
  const source = await sourceUrl({ dataDir, localRoots: opts.localRoots }, repoUrl);
  const timeoutMs = opts.timeoutMs ?? NETWORK_TIMEOUT_MS;
  const scrub = (e: unknown) => scrubPaths(e instanceof GitError ? e.message : String(e), [path.resolve(dataDir)]);

  let cloned = false;
  if (!(await isRepo(mirror))) {
    cloned = await repoLocks.run(`clone:${mirror}`, async () => {
      if (await isRepo(mirror)) return false;
      try {
        return await cloneInto(mirror, source, timeoutMs);
      } catch (e) {
        throw new AppError('unprocessable', `could not clone the project repository: ${scrub(e)}`);
      }
    });
  }
  if (cloned || opts.fetch === false) return { path: mirror, cloned };

  try {
    await fetchCoalescer.run(mirror, async () => {
      await setOriginUrl(mirror, source);
      await retryOnLock(() => runGit([`--git-dir=${mirror}`, 'fetch', '--prune', '--quiet', 'origin'], { timeoutMs }));
    });
  } catch (e) {
    throw new AppError('unprocessable', `could not fetch the project repository: ${scrub(e)}`);
  }
  return { path: mirror, cloned };
}

/** The URL handed to git: validated, and for local repositories the real path (symlinks resolved) re-checked. */
async function sourceUrl(policy: RepoPolicy, repoUrl: string): Promise<string> {
  try {
    return await checkedSource(policy, repoUrl);
  } catch (e) {
    // Stored earlier (or reached through a symlink): the request is fine, the project's repository is not.
    if (e instanceof AppError && e.code === 'validation_failed') throw new AppError('unprocessable', `the project repository cannot be used: ${e.message}`);
    throw e;
  }
}

async function checkedSource(policy: RepoPolicy, repoUrl: string): Promise<string> {
  const v = validateRepoUrl(repoUrl, policy);
  if (v.localPath === undefined) return v.url;
  const real = await fs.realpath(v.localPath).catch(() => {
    throw new AppError('unprocessable', 'the project repository path does not exist');
  });
  const realData = await fs.realpath(policy.dataDir).catch(() => path.resolve(policy.dataDir));
  if (isInside(realData, real)) throw new AppError('validation_failed', "invalid repo_url: must not point into Quorum's data directory");
  // A symlink under an allowed root must not lead out of it.
  if (policy.localRoots != null) {
    const realRoots = await Promise.all(policy.localRoots.map((r) => fs.realpath(r).catch(() => r)));
    assertLocalAllowed(real, realRoots);
  }
  return real;
}

async function isRepo(dir: string): Promise<boolean> {
  try {
    await fs.access(path.join(dir, 'HEAD'));
    return true;
  } catch {
    return false;
  }
}

async function cloneInto(mirror: string, source: string, timeoutMs: number): Promise<boolean> {
  await fs.mkdir(path.dirname(mirror), { recursive: true });
  const tmp = `${mirror}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    // --no-hardlinks: a local source shares no files with our copy (we never write into it anyway).
    await runGit(['clone', '--bare', '--no-hardlinks', '--quiet', '--', source, tmp], { timeoutMs });
    const git = (args: string[]) => runGit([`--git-dir=${tmp}`, ...args]);
    await git(['config', '--replace-all', 'remote.origin.fetch', FETCH_REFSPECS[0]!]);
    for (const spec of FETCH_REFSPECS.slice(1)) await git(['config', '--add', 'remote.origin.fetch', spec]);
    // Reviews create and delete many branches; keep ref lookups cheap and reflogs out of the way.
    await git(['config', 'core.logAllRefUpdates', 'false']);
    try {
      await fs.rename(tmp, mirror);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return false; // another process won the race
      throw e;
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function setOriginUrl(mirror: string, source: string): Promise<void> {
  const current = await runGit([`--git-dir=${mirror}`, 'config', '--get', 'remote.origin.url']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  if (current !== source) await retryOnLock(() => runGit([`--git-dir=${mirror}`, 'remote', 'set-url', 'origin', source]));
}

/** The branch the mirror's HEAD names (the repository's default branch when it was cloned). */
export async function mirrorDefaultBranch(mirror: string): Promise<string | undefined> {
  const r = await runGit([`--git-dir=${mirror}`, 'symbolic-ref', '--short', '-q', 'HEAD']).catch(() => undefined);
  return r?.stdout.trim() || undefined;
}

/**
 * The branch a repository's HEAD names, asked of the repository itself (`git ls-remote --symref`):
 * a new project follows its repository's default branch (`master`, `trunk`, …) instead of assuming
 * `main`. Undefined when the repository cannot be reached in time or does not say (the caller keeps
 * its default); a short timeout, since a project is being created in a request.
 */
export async function remoteDefaultBranch(url: string, timeoutMs = 10_000): Promise<string | undefined> {
  const r = await runGit(['ls-remote', '--symref', '--', url, 'HEAD'], { timeoutMs, maxOutputBytes: 64 * 1024 }).catch(() => undefined);
  const branch = r?.stdout.match(/^ref: refs\/heads\/(\S+)\tHEAD$/m)?.[1];
  return branch && isValidRef(branch) ? branch : undefined;
}
