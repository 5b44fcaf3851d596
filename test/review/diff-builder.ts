import { parseUnifiedDiff, type DiffFile } from '../../src/core/review/diff.js';

/** Builds unified-diff text for a new file, so rule tests go through the real parser. */
export function newFileDiff(path: string, lines: readonly string[]): string {
  return [
    `diff --git a/${path} b/${path}`,
    'new file mode 100644',
    '--- /dev/null',
    `+++ b/${path}`,
    `@@ -0,0 +1,${lines.length} @@`,
    ...lines.map((l) => `+${l}`),
    '',
  ].join('\n');
}

/** A modification: `context` unchanged lines starting at `start`, then `added` lines appended after them. */
export function changedFileDiff(path: string, start: number, context: readonly string[], added: readonly string[]): string {
  return [
    `diff --git a/${path} b/${path}`,
    'index 1111111..2222222 100644',
    `--- a/${path}`,
    `+++ b/${path}`,
    `@@ -${start},${context.length} +${start},${context.length + added.length} @@`,
    ...context.map((l) => ` ${l}`),
    ...added.map((l) => `+${l}`),
    '',
  ].join('\n');
}

export function newFile(path: string, lines: readonly string[]): DiffFile {
  const [file] = parseUnifiedDiff(newFileDiff(path, lines));
  if (!file) throw new Error('builder produced no file');
  return file;
}

export function changedFile(path: string, start: number, context: readonly string[], added: readonly string[]): DiffFile {
  const [file] = parseUnifiedDiff(changedFileDiff(path, start, context, added));
  if (!file) throw new Error('builder produced no file');
  return file;
}
