import { AppError } from '../errors.js';
import { GitError, runGit } from './git-exec.js';
import { validateRef, validateSha } from './refs.js';

/**
 * What a review looks at, resolved to commit ids in the project's mirror, and the diff between
 * them. Refs are validated before they reach git, and passed after --end-of-options.
 */

export type RefTarget = { kind: 'refs'; base: string; head: string } | { kind: 'last_commit'; branch: string };

export interface ResolvedTarget {
  /** The base commit, or the empty tree's id when head is a root commit. */
  baseSha: string;
  headSha: string;
  /** True when base is the empty tree (the whole root commit is the change). */
  baseIsEmptyTree: boolean;
}

export async function resolveCommit(mirror: string, ref: string): Promise<string> {
  validateRef(ref);
  try {
    const r = await runGit([`--git-dir=${mirror}`, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
    return validateSha(r.stdout.trim());
  } catch (e) {
    if (e instanceof GitError) throw new AppError('invalid_ref', `ref ${JSON.stringify(ref)} does not name a commit in the project repository`, { ref });
    throw e;
  }
}

export async function resolveTarget(mirror: string, target: RefTarget): Promise<ResolvedTarget> {
  if (target.kind === 'refs') {
    const [baseSha, headSha] = await Promise.all([resolveCommit(mirror, target.base), resolveCommit(mirror, target.head)]);
    return { baseSha, headSha, baseIsEmptyTree: false };
  }
  const headSha = await resolveCommit(mirror, target.branch);
  const parent = await runGit([`--git-dir=${mirror}`, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${headSha}^1^{commit}`]).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  if (parent) return { baseSha: validateSha(parent), headSha, baseIsEmptyTree: false };
  return { baseSha: await emptyTree(mirror), headSha, baseIsEmptyTree: true };
}

/** The empty tree's id in this repository's hash algorithm (SHA-1 or SHA-256), written so diff can read it. */
async function emptyTree(mirror: string): Promise<string> {
  const r = await runGit([`--git-dir=${mirror}`, 'hash-object', '-w', '-t', 'tree', '--stdin'], { input: '' });
  return validateSha(r.stdout.trim());
}

export const DEFAULT_MAX_DIFF_BYTES = 2 * 1024 * 1024;

export interface DiffResult {
  /** Unified diff text; when truncated, it ends at a file boundary. */
  text: string;
  truncated: boolean;
  /** Every file the full diff touches (new path for renames), in diff order. */
  files: string[];
  /** Files of `files` that are absent from `text` because of the size cap. */
  omittedFiles: string[];
}

/**
 * `git diff base head` with rename detection, capped at `maxBytes`. A diff over the cap is cut
 * at the last whole file that fits and the result says so and names the files left out: a
 * review must never silently look at less than it claims.
 */
export async function diffBetween(mirror: string, baseSha: string, headSha: string, opts: { maxBytes?: number } = {}): Promise<DiffResult> {
  validateSha(baseSha);
  validateSha(headSha);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_DIFF_BYTES;
  const common = [`--git-dir=${mirror}`, 'diff', '--no-color', '--no-ext-diff', '--no-textconv', '-M'];
  const [diff, names] = await Promise.all([
    // A little past the cap, so a file header starting right at the cap is still recognised.
    runGit([...common, baseSha, headSha, '--'], { maxOutputBytes: maxBytes + 64, allowTruncation: true }),
    runGit([...common, '--name-only', '-z', baseSha, headSha, '--']),
  ]);
  const files = names.stdout.split('\0').filter(Boolean);
  const over = diff.truncated || Buffer.byteLength(diff.stdout) > maxBytes;
  if (!over) return { text: diff.stdout, truncated: false, files, omittedFiles: [] };

  const clipped = clipAtFileBoundary(diff.stdout, maxBytes);
  const included = new Set(filesIn(clipped));
  return { text: clipped, truncated: true, files, omittedFiles: files.filter((f) => !included.has(f)) };
}

/** The longest prefix of whole files (ending just before a `diff --git` header) within maxBytes. */
function clipAtFileBoundary(text: string, maxBytes: number): string {
  const buf = Buffer.from(text);
  const marker = Buffer.from('\ndiff --git ');
  let cut = 0;
  for (let i = buf.indexOf(marker); i >= 0 && i + 1 <= maxBytes; i = buf.indexOf(marker, i + 1)) cut = i + 1;
  return buf.subarray(0, cut).toString('utf8');
}

/** New-side paths named by the `diff --git a/… b/…` headers (covers binary and mode-only changes too). */
function filesIn(diff: string): string[] {
  return [...diff.matchAll(/^diff --git a\/.+ b\/(.+)$/gm)].map((m) => m[1]!);
}
