import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readChangedContents, runBuiltinReviewer } from '../../src/core/llm/builtin/index.js';
import { parseUnifiedDiff } from '../../src/core/review/diff.js';
import { git, makeRepo } from '../helpers/git.js';

const BASE = ["import { exec } from 'node:child_process';", '', 'export function run(cmd: string) {', '  log(cmd);', '}', ''].join('\n');
const HEAD = ["import { exec } from 'node:child_process';", '', 'export function run(cmd: string) {', '  log(cmd);', '  exec(cmd);', '}', ''].join('\n');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function repo(files: Record<string, string>, base: Record<string, string>) {
  const dir = await makeRepo(files, base);
  dirs.push(dir);
  return { dir, files: parseUnifiedDiff(git(dir, 'diff', 'HEAD~1', 'HEAD') + '\n') };
}

describe('reading the new side of changed files from a worktree', () => {
  it('reads the changed source files and lets the reviewers see outside the hunks', async () => {
    // The hunk holds only `exec(cmd);` and its context; the import is four lines above it.
    const { dir, files } = await repo({ 'src/run.ts': HEAD, 'docs/a.md': '# a\n' }, { 'src/run.ts': BASE, 'docs/a.md': '' });
    const contents = await readChangedContents(dir, files);
    expect([...contents.keys()]).toEqual(['src/run.ts']); // docs are not parsed, so not read
    expect(contents.get('src/run.ts')).toBe(HEAD);
    expect((await runBuiltinReviewer('security', files)).map((f) => f.rule)).toEqual([]);
    expect((await runBuiltinReviewer('security', files, contents)).map((f) => [f.rule, f.lineStart])).toEqual([['eslint:security/detect-child-process', 5]]);
  });

  it('does not use a worktree that holds something else than the diff', async () => {
    const { dir, files } = await repo({ 'src/run.ts': HEAD }, { 'src/run.ts': BASE });
    await fs.writeFile(path.join(dir, 'src/run.ts'), BASE); // e.g. the base, when a diff did not apply
    expect((await readChangedContents(dir, files)).size).toBe(0);
  });

  it('never follows a symlink out of the worktree', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-outside-'));
    dirs.push(outside);
    await fs.writeFile(path.join(outside, 'secret.py'), 'def f():\n    return 1\n');
    const { dir } = await repo({ 'app/ok.py': 'def f():\n    return 1\n' }, { 'README.md': '# demo\n' });
    await fs.symlink(path.join(outside, 'secret.py'), path.join(dir, 'app/link.py'));
    const diff = ['diff --git a/app/link.py b/app/link.py', 'new file mode 100644', '--- /dev/null', '+++ b/app/link.py', '@@ -0,0 +1,2 @@', '+def f():', '+    return 1', ''].join('\n');
    expect((await readChangedContents(dir, parseUnifiedDiff(diff))).size).toBe(0);
    const escape = diff.replaceAll('app/link.py', '../' + path.basename(outside) + '/secret.py');
    expect((await readChangedContents(dir, parseUnifiedDiff(escape))).size).toBe(0);
  });
});
