import type { DiffFile } from '../../review/diff.js';

/**
 * The new side of a changed file as text a parser can take: the whole file when its content is
 * known (read from the review's worktree), otherwise each hunk's context and added lines. Within a
 * hunk the new-side lines are consecutive, so one first-line number maps rows to file lines.
 */
export interface NewSideSource {
  text: string;
  /** New-file line number of the text's first row. */
  firstLine: number;
  /** New-file line numbers of the added lines (all of the file's, whichever source they fall in). */
  added: ReadonlySet<number>;
  /** True when `text` is the whole new file, so declarations outside the hunks are visible. */
  whole: boolean;
}

/** Changed files' new content by path; only trusted when it agrees with the diff (see contentMatches). */
export type FileContents = ReadonlyMap<string, string>;

function splitLines(text: string): string[] {
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/**
 * Whether `content` is the new side of `file`: every added line must be in it, at its line number.
 * A worktree that holds something else (a diff that did not apply, a file changed since) is not
 * used, since findings would then point at the wrong lines.
 */
export function contentMatches(file: DiffFile, content: string): boolean {
  const lines = splitLines(content);
  return file.added.every(({ line, text }) => lines[line - 1] === (text.endsWith('\r') ? text.slice(0, -1) : text));
}

const cache = new WeakMap<DiffFile, { content: string | undefined; sources: NewSideSource[] }>();

export function newSideSources(file: DiffFile, content?: string): NewSideSource[] {
  const cached = cache.get(file);
  if (cached && cached.content === content) return cached.sources;
  const added = new Set(file.added.map((l) => l.line));
  let sources: NewSideSource[];
  if (content !== undefined && contentMatches(file, content)) {
    sources = [{ text: content, firstLine: 1, added, whole: true }];
  } else {
    sources = [];
    for (const hunk of file.hunks) {
      const lines = hunk.lines.filter((l) => l.kind !== 'del');
      if (!lines.some((l) => l.kind === 'add')) continue;
      // An added file is one hunk from line 1: that is the whole file.
      const whole = file.status === 'added' && file.hunks.length === 1;
      sources.push({ text: lines.map((l) => l.text).join('\n'), firstLine: lines[0]?.newLine ?? hunk.newStart, added, whole });
    }
  }
  cache.set(file, { content, sources });
  return sources;
}

/** Per-row count of added lines up to and including that row, for "added lines in a range" queries. */
export function addedPrefix(src: NewSideSource, rows: number): Uint32Array {
  const prefix = new Uint32Array(rows + 1);
  for (let r = 0; r < rows; r++) prefix[r + 1] = (prefix[r] as number) + (src.added.has(src.firstLine + r) ? 1 : 0);
  return prefix;
}
