import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { getWorkingTreeDiff } from '../../src/core/git/get-working-tree-diff.js';
import { describeLocalRepo } from '../../src/core/git/local-repo.js';
import { parseUnifiedDiff } from '../../src/core/review/diff.js';
import { slugFromName } from '../../src/core/tenancy/register-repository.js';
import { git } from '../helpers/git.js';

const dirs: string[] = [];
async function repo(): Promise<string> {
  const d = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-wt-')));
  dirs.push(d);
  git(d, 'init', '-q', '-b', 'trunk');
  return d;
}
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('working-tree diff (review_code working_tree: true)', () => {
  it('staged, unstaged and untracked text changes, binary files skipped, the index untouched', async () => {
    const d = await repo();
    await fs.writeFile(path.join(d, 'a.ts'), 'export const a = 1;\n');
    await fs.writeFile(path.join(d, 'b.ts'), 'export const b = 1;\n');
    git(d, 'add', '-A');
    git(d, 'commit', '-q', '-m', 'base');
    await fs.writeFile(path.join(d, 'a.ts'), 'export const a = 2;\n'); // unstaged
    await fs.writeFile(path.join(d, 'b.ts'), 'export const b = 2;\n');
    git(d, 'add', 'b.ts'); // staged
    await fs.mkdir(path.join(d, 'src'));
    await fs.writeFile(path.join(d, 'src/new.ts'), 'export const n = eval("1")'); // untracked, no final newline
    await fs.writeFile(path.join(d, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
    await fs.writeFile(path.join(d, '.gitignore'), 'ignored.txt\n');
    await fs.writeFile(path.join(d, 'ignored.txt'), 'secret\n');
    const before = git(d, 'status', '--porcelain');

    const w = await getWorkingTreeDiff(path.join(d, 'src'));
    expect(w.root).toBe(d);
    expect(w.files.sort()).toEqual(['.gitignore', 'a.ts', 'b.ts', 'src/new.ts']);
    expect(w.skipped).toEqual(['logo.png']);
    const parsed = parseUnifiedDiff(w.diff);
    expect(parsed.map((f) => f.newPath).sort()).toEqual(['.gitignore', 'a.ts', 'b.ts', 'src/new.ts']);
    expect(parsed.find((f) => f.newPath === 'src/new.ts')!.status).toBe('added');
    expect(w.diff).toContain('+export const n = eval("1")\n\\ No newline at end of file');
    expect(git(d, 'status', '--porcelain')).toBe(before);
  });

  it('a repository without commits, a clean tree, and a directory outside git', async () => {
    const d = await repo();
    await fs.writeFile(path.join(d, 'first.ts'), 'export {};\n');
    expect((await getWorkingTreeDiff(d)).files).toEqual(['first.ts']);
    expect(await describeLocalRepo(d)).toEqual({ root: d, branch: 'trunk', name: path.basename(d) });
    git(d, 'add', '-A');
    git(d, 'commit', '-q', '-m', 'one');
    await expect(getWorkingTreeDiff(d)).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('no uncommitted changes') });
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-nogit-'));
    dirs.push(outside);
    const e = await getWorkingTreeDiff(outside).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('bad_request');
  });

  it('project slugs from directory names are always valid slugs', () => {
    expect(slugFromName('My Repo!')).toBe('my-repo');
    expect(slugFromName('quorum-mcp-Repo_x1')).toBe('quorum-mcp-repo_x1');
    expect(slugFromName('..hidden..lock')).toBe('hidden');
    expect(slugFromName('___')).toBe('repo');
    expect(slugFromName('a'.repeat(100))).toHaveLength(56);
  });
});
