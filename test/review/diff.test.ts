import { describe, expect, it } from 'vitest';
import { estimateTokensByChars, parseUnifiedDiff, renderFileDiff, splitForBudget } from '../../src/core/review/diff.js';
import { changedFileDiff, newFileDiff } from './diff-builder.js';

const GIT_DIFF = `commit 0123456789abcdef
Author: Ada <ada@example.com>

    tweak

diff --git a/src/app.ts b/src/app.ts
index 83db48f..bf269f4 100644
--- a/src/app.ts
+++ b/src/app.ts
@@ -1,5 +1,6 @@ export function main() {
 const a = 1;
-const b = 2;
+const b = 3;
+const c = 4;
 
 -- not a header, a context line starting with two dashes
 end();
@@ -20,2 +21,2 @@
--- removed line that looks like a header
+++ added line that looks like a header
 tail();
\\ No newline at end of file
diff --git a/docs/old name.md b/docs/new name.md
similarity index 90%
rename from docs/old name.md
rename to docs/new name.md
index 1111111..2222222 100644
--- a/docs/old name.md
+++ b/docs/new name.md
@@ -1 +1 @@
-old
+new
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 3333333..0000000
--- a/gone.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-bye
-now
diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000..4444444
Binary files /dev/null and b/logo.png differ
diff --git "a/src/caf\\303\\251.ts" "b/src/caf\\303\\251.ts"
new file mode 100755
--- /dev/null
+++ "b/src/caf\\303\\251.ts"
@@ -0,0 +1 @@
+export const x = 1;
diff --git a/bin/run b/bin/run
old mode 100644
new mode 100755
`;

describe('parseUnifiedDiff', () => {
  const files = parseUnifiedDiff(GIT_DIFF);

  it('finds every file with its status', () => {
    expect(files.map((f) => [f.path, f.status])).toEqual([
      ['src/app.ts', 'modified'],
      ['docs/new name.md', 'renamed'],
      ['gone.txt', 'deleted'],
      ['logo.png', 'added'],
      ['src/café.ts', 'added'],
      ['bin/run', 'modified'],
    ]);
  });

  it('numbers added lines by the new file and removed lines by the old file', () => {
    const app = files[0];
    expect(app?.added).toEqual([
      { line: 2, text: 'const b = 3;' },
      { line: 3, text: 'const c = 4;' },
      { line: 21, text: '++ added line that looks like a header' },
    ]);
    expect(app?.removed).toEqual([
      { line: 2, text: 'const b = 2;' },
      { line: 20, text: '-- removed line that looks like a header' },
    ]);
    expect(app?.hunks).toHaveLength(2);
    expect(app?.hunks[0]?.section).toBe('export function main() {');
    expect(app?.hunks[0]?.lines.find((l) => l.text.startsWith('-- not a header'))?.kind).toBe('context');
  });

  it('reads renames, deletions, binaries, quoted paths and mode changes', () => {
    const [, renamed, deleted, binary, quoted, mode] = files;
    expect([renamed?.oldPath, renamed?.newPath]).toEqual(['docs/old name.md', 'docs/new name.md']);
    expect([deleted?.oldPath, deleted?.newPath, deleted?.removed.length]).toEqual(['gone.txt', null, 2]);
    expect([binary?.binary, binary?.oldPath]).toEqual([true, null]);
    expect([quoted?.newMode, quoted?.added[0]?.line]).toEqual(['100755', 1]);
    expect([mode?.oldMode, mode?.newMode, mode?.hunks.length]).toEqual(['100644', '100755', 0]);
  });

  it('parses plain diff -u output with timestamps, and CRLF line ends', () => {
    const plain = '--- a.txt\t2024-01-01 00:00:00\r\n+++ a.txt\t2024-01-02 00:00:00\r\n@@ -1,2 +1,2 @@\r\n-x\r\n+y\r\n z\r\n--- b.txt\n+++ b.txt\n@@ -1 +1,2 @@\n b\n+c\n';
    const parsed = parseUnifiedDiff(plain);
    expect(parsed.map((f) => [f.path, f.status, f.added.map((a) => a.text)])).toEqual([
      ['a.txt', 'modified', ['y']],
      ['b.txt', 'modified', ['c']],
    ]);
  });

  it('round-trips through renderFileDiff', () => {
    const text = changedFileDiff('src/x.ts', 10, ['a', 'b'], ['c', 'd']);
    const [file] = parseUnifiedDiff(text);
    expect(file).toBeDefined();
    expect(parseUnifiedDiff(renderFileDiff(file!))).toEqual([file]);
  });

  it('returns nothing for empty or unrelated text', () => {
    expect(parseUnifiedDiff('')).toEqual([]);
    expect(parseUnifiedDiff('hello\nworld\n')).toEqual([]);
  });
});

describe('splitForBudget', () => {
  const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `const ${tag}${i} = ${i};`);
  const small = parseUnifiedDiff(newFileDiff('src/small.ts', lines(5, 's')))[0]!;
  const small2 = parseUnifiedDiff(newFileDiff('src/small2.ts', lines(5, 't')))[0]!;
  const big = parseUnifiedDiff(newFileDiff('src/big.ts', lines(400, 'b')))[0]!;
  const binary = parseUnifiedDiff('diff --git a/a.png b/a.png\nBinary files a/a.png and b/a.png differ\n')[0]!;

  it('packs whole files under the budget and covers them all', () => {
    const budget = estimateTokensByChars(renderFileDiff(small)) * 2 + 5;
    const split = splitForBudget([small, small2, small], budget);
    expect(split.coverage.filesClipped).toEqual([]);
    expect(split.coverage.filesCovered).toEqual(['src/small.ts', 'src/small2.ts', 'src/small.ts']);
    expect(split.chunks.map((c) => c.files.length)).toEqual([2, 1]);
    for (const c of split.chunks) expect(c.tokens).toBeLessThanOrEqual(budget);
  });

  it('clips a file larger than the budget and says why', () => {
    const split = splitForBudget([small, big, binary], 500);
    expect(split.coverage.filesCovered).toEqual(['src/small.ts']);
    expect(split.coverage.filesClipped.map((c) => c.file)).toEqual(['src/big.ts', 'a.png']);
    expect(split.coverage.filesClipped[0]?.reason).toMatch(/too large: ~\d+ tokens, budget 500; reviewed \d+ of 400 changed lines/);
    expect(split.coverage.filesClipped[1]?.reason).toMatch(/binary/);
    const clipped = split.chunks.flatMap((c) => c.files).find((f) => f.path === 'src/big.ts')!;
    expect(clipped.added.length).toBeGreaterThan(0);
    expect(clipped.added.length).toBeLessThan(400);
    expect(clipped.hunks[0]?.newLines).toBe(clipped.added.length);
    for (const c of split.chunks) expect(c.tokens).toBeLessThanOrEqual(500);
    // The clipped text is still a valid diff.
    expect(parseUnifiedDiff(split.chunks.map((c) => c.text).join(''))[1]?.added).toEqual(clipped.added);
  });

  it('reports files that do not fit when the chunk count is capped', () => {
    const budget = estimateTokensByChars(renderFileDiff(small)) + 1;
    const split = splitForBudget([small, small2], budget, estimateTokensByChars, { maxChunks: 1 });
    expect(split.coverage.filesCovered).toEqual(['src/small.ts']);
    expect(split.coverage.filesClipped).toEqual([{ file: 'src/small2.ts', reason: 'review budget exhausted: all 1 chunks are full' }]);
  });

  it('clips a file entirely when not even its header fits', () => {
    const split = splitForBudget([small], 5);
    expect(split.chunks).toEqual([]);
    expect(split.coverage.filesClipped[0]?.reason).toMatch(/nothing fits/);
  });

  it('rejects a non-positive budget', () => {
    expect(() => splitForBudget([small], 0)).toThrow(RangeError);
  });
});
