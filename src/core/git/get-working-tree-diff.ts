import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import { GitError, runGit } from './git-exec.js';

/** git's well-known empty tree: the base of a repository that has no commit yet. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
/** Same bound as a submitted diff (review.schemas.ts). */
const MAX_DIFF_BYTES = 5 * 1024 * 1024;

export interface WorkingTreeDiff {
  /** Top level of the repository the directory belongs to. */
  root: string;
  /** Unified diff of every uncommitted change against HEAD: staged, unstaged and untracked files. */
  diff: string;
  files: string[];
  /** Untracked files left out because they are binary (git cannot show them as text). */
  skipped: string[];
}

/** A unified diff adding an untracked text file (what `git add -N && git diff` would print). */
function newFileDiff(file: string, content: string): string {
  const body = content.endsWith('\n') ? content.slice(0, -1) : content;
  const lines = body.split('\n');
  return [
    `diff --git a/${file} b/${file}`,
    'new file mode 100644',
    '--- /dev/null',
    `+++ b/${file}`,
    `@@ -0,0 +1,${lines.length} @@`,
    ...lines.map((l) => `+${l}`),
    ...(content.endsWith('\n') ? [] : ['\\ No newline at end of file']),
    '',
  ].join('\n');
}

/**
 * The uncommitted changes of the local repository containing `dir`, as one unified diff. Reads
 * the repository only: nothing is staged or written (untracked files are rendered here rather than
 * with `git add -N`, which would touch the developer's index).
 */
export async function getWorkingTreeDiff(dir: string): Promise<WorkingTreeDiff> {
  let root: string;
  try {
    root = (await runGit(['rev-parse', '--show-toplevel'], { cwd: dir, timeoutMs: 10_000 })).stdout.trim();
  } catch (e) {
    if (e instanceof GitError) throw new AppError('bad_request', `${dir} is not inside a git repository`);
    throw e;
  }
  const head = await runGit(['rev-parse', '--verify', '-q', 'HEAD'], { cwd: root, timeoutMs: 10_000 }).then(
    () => 'HEAD',
    () => EMPTY_TREE,
  );
  const tracked = await runGit(['diff', '--no-color', '--no-ext-diff', '--no-textconv', head, '--'], {
    cwd: root,
    maxOutputBytes: MAX_DIFF_BYTES + 1,
  }).catch((e: unknown) => {
    if (e instanceof GitError && /output/i.test(e.message)) throw new AppError('payload_too_large', `the uncommitted changes exceed ${MAX_DIFF_BYTES} bytes`);
    throw e;
  });
  const parts = [tracked.stdout];
  const files = [...tracked.stdout.matchAll(/^diff --git a\/.+? b\/(.+)$/gm)].map((m) => m[1]!);
  const skipped: string[] = [];
  const untracked = (await runGit(['ls-files', '--others', '--exclude-standard', '-z'], { cwd: root, timeoutMs: 30_000 })).stdout
    .split('\0')
    .filter(Boolean)
    .sort();
  let bytes = tracked.stdout.length;
  for (const file of untracked) {
    const buf = await fs.readFile(path.join(root, file)).catch(() => undefined);
    if (!buf) continue;
    if (buf.includes(0)) {
      skipped.push(file);
      continue;
    }
    const d = newFileDiff(file, buf.toString('utf8'));
    bytes += d.length;
    if (bytes > MAX_DIFF_BYTES) throw new AppError('payload_too_large', `the uncommitted changes exceed ${MAX_DIFF_BYTES} bytes`);
    parts.push(d);
    files.push(file);
  }
  // git's diff and ours both end every file's section with a newline.
  const diff = parts.join('');
  if (!diff.trim()) throw new AppError('bad_request', 'the working tree has no uncommitted changes to review', { root });
  return { root, diff, files, skipped };
}
