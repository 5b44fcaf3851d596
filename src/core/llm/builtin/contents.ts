import fs from 'node:fs/promises';
import path from 'node:path';
import type { DiffFile } from '../../review/diff.js';
import { grammarFor } from './engines/tree-sitter.js';
import { contentMatches } from './new-side.js';
import { isJsLike, languageOf, reviewable } from './source.js';

/**
 * Larger files are analysed from their hunks: whole-file parsing is for ordinary source files, and
 * one parse cannot be interrupted to let the event loop run.
 */
const MAX_BYTES = 256 * 1024;
const PARALLEL_READS = 8;

/** Files whose parsers gain from the whole text (declarations and imports outside the hunks). */
function wantsContent(file: DiffFile): boolean {
  return reviewable(file) && file.added.length > 0 && (isJsLike(languageOf(file.path)) || grammarFor(file.path) !== null);
}

async function readInside(rootReal: string, relPath: string): Promise<string | null> {
  const abs = path.resolve(rootReal, relPath);
  if (!abs.startsWith(rootReal + path.sep)) return null;
  try {
    // The change itself may add a symlink that points out of the worktree: never follow it.
    const real = await fs.realpath(abs);
    if (!real.startsWith(rootReal + path.sep)) return null;
    const stat = await fs.stat(real);
    if (!stat.isFile() || stat.size > MAX_BYTES) return null;
    return await fs.readFile(real, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Reads the new content of the changed JS/TS and tree-sitter-language files from a worktree that
 * has the change checked out. A file that is missing, too large, outside the worktree, or whose
 * text does not hold the diff's added lines where the diff says is left out (analysed from hunks).
 */
export async function readChangedContents(worktree: string, files: readonly DiffFile[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted = files.filter(wantsContent);
  if (wanted.length === 0) return out;
  const rootReal = await fs.realpath(worktree);
  for (let i = 0; i < wanted.length; i += PARALLEL_READS) {
    await Promise.all(
      wanted.slice(i, i + PARALLEL_READS).map(async (file) => {
        const text = await readInside(rootReal, file.path);
        if (text !== null && contentMatches(file, text)) out.set(file.path, text);
      }),
    );
  }
  return out;
}
