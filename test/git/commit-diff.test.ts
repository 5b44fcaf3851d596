import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { commitDiff } from '../../src/core/git/commit-diff.js';
import { ensureMirror } from '../../src/core/git/mirror.js';
import { createWorktree, removeWorktree, type Worktree } from '../../src/core/git/worktrees.js';
import { git, makeUpstream, tempDir } from './git-fixture.js';

const DIFF = `diff --git a/src/a.ts b/src/a.ts
--- a/src/a.ts
+++ b/src/a.ts
@@ -1 +1,2 @@
 export const a = 1;
+export const b = 2;
`;

/** The global and XDG git config files (their content, or absence), to prove nothing was written there. */
async function globalConfigState(): Promise<string> {
  const files = [path.join(os.homedir(), '.gitconfig'), path.join(process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'git', 'config')];
  const parts = await Promise.all(files.map((f) => fs.readFile(f).then((b) => `${f}:${createHash('sha256').update(b).digest('hex')}`, () => `${f}:absent`)));
  return parts.join('\n');
}

describe('developer-attributed commits', () => {
  let root: string;
  let dataDir: string;
  let mirror: string;
  const org = randomUUID();
  const project = randomUUID();
  const fresh = (taskId: string): Promise<Worktree> =>
    createWorktree({ dataDir, orgId: org, projectId: project, projectSlug: 'proj1', taskId, reviewId: randomUUID(), mirrorPath: mirror, commitish: 'main' });

  beforeAll(async () => {
    root = await tempDir('commit');
    dataDir = path.join(root, 'data');
    await makeUpstream(path.join(root, 'user-repo'), [{ 'src/a.ts': 'export const a = 1;\n' }]);
    mirror = (await ensureMirror(dataDir, org, project, path.join(root, 'user-repo'))).path;
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('commits as the developer (author and committer), touching no git config', async () => {
    const globalBefore = await globalConfigState();
    const localBefore = await fs.readFile(path.join(mirror, 'config'), 'utf8');
    const alice = await fresh('feature');
    const bob = await fresh('feature');

    const [shaA, shaB] = await Promise.all([
      commitDiff(alice.path, DIFF, { name: 'Alice Liddell', email: 'alice@example.test' }, 'Review of feature'),
      commitDiff(bob.path, DIFF, { name: 'Bob Builder', email: 'bob@example.test' }, 'Review of feature'),
    ]);
    const fmt = '--format=%an <%ae>|%cn <%ce>|%s';
    expect(await git(mirror, 'log', '-1', fmt, shaA)).toBe('Alice Liddell <alice@example.test>|Alice Liddell <alice@example.test>|Review of feature');
    expect(await git(mirror, 'log', '-1', fmt, shaB)).toBe('Bob Builder <bob@example.test>|Bob Builder <bob@example.test>|Review of feature');
    expect(await git(mirror, 'rev-parse', alice.branch)).toBe(shaA);
    expect(await git(mirror, 'rev-parse', `${shaA}^`)).toBe(alice.headSha);
    expect(await fs.readFile(path.join(alice.path, 'src/a.ts'), 'utf8')).toBe('export const a = 1;\nexport const b = 2;\n');
    expect(await git(alice.path, 'status', '--porcelain')).toBe('');

    expect(await globalConfigState()).toBe(globalBefore);
    expect(await fs.readFile(path.join(mirror, 'config'), 'utf8')).toBe(localBefore);
    for (const w of [alice, bob]) {
      const cfg = await fs.readFile(path.join(mirror, 'worktrees', path.basename(w.path), 'config.worktree'), 'utf8').catch(() => '');
      expect(cfg).not.toMatch(/user|name|email/i);
    }
    // keepBranch: the commit stays reachable after the worktree is gone.
    await removeWorktree({ dataDir, mirrorPath: mirror, path: alice.path, branch: alice.branch, keepBranch: true });
    expect(await git(mirror, 'rev-parse', alice.branch)).toBe(shaA);
    await removeWorktree({ dataDir, mirrorPath: mirror, path: bob.path, branch: bob.branch });
  });

  it("never uses the server's identity or a redirected git directory from the process environment", async () => {
    const w = await fresh('env');
    const saved = { ...process.env };
    Object.assign(process.env, { GIT_AUTHOR_NAME: 'Server', GIT_AUTHOR_EMAIL: 'server@host', GIT_COMMITTER_NAME: 'Server', GIT_COMMITTER_EMAIL: 'server@host', GIT_DIR: path.join(root, 'nowhere') });
    let sha: string;
    try {
      sha = await commitDiff(w.path, DIFF, { name: 'Carol', email: 'carol@example.test' }, 'env test');
    } finally {
      for (const k of ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GIT_DIR']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    expect(await git(mirror, 'log', '-1', '--format=%an <%ae>|%cn <%ce>', sha)).toBe('Carol <carol@example.test>|Carol <carol@example.test>');
    await removeWorktree({ dataDir, mirrorPath: mirror, path: w.path, branch: w.branch });
  });

  it('a diff that does not apply is 422 unprocessable with git\'s reason and no server paths', async () => {
    const w = await fresh('bad');
    const stale = DIFF.replace(' export const a = 1;', ' export const a = 999;');
    const e = (await commitDiff(w.path, stale, { name: 'Alice', email: 'alice@example.test' }, 'x').catch((x: unknown) => x)) as AppError;
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe('unprocessable');
    expect(e.message).toMatch(/does not apply/);
    expect(e.message).toContain('src/a.ts');
    expect(e.message).not.toContain(root);
    expect(e.message).not.toContain(os.tmpdir() + '/');
    expect(await git(w.path, 'rev-parse', 'HEAD')).toBe(w.headSha); // nothing committed
    expect(await git(w.path, 'status', '--porcelain')).toBe('');
    await removeWorktree({ dataDir, mirrorPath: mirror, path: w.path, branch: w.branch });
  });

  it('refuses diffs that escape the worktree, empty diffs and unusable identities', async () => {
    const w = await fresh('escape');
    const escape = `diff --git a/../../outside.txt b/../../outside.txt
new file mode 100644
--- /dev/null
+++ b/../../outside.txt
@@ -0,0 +1 @@
+pwned
`;
    const dotgit = `diff --git a/.git/hooks/post-commit b/.git/hooks/post-commit
new file mode 100755
--- /dev/null
+++ b/.git/hooks/post-commit
@@ -0,0 +1 @@
+touch pwned
`;
    const dev = { name: 'Alice', email: 'alice@example.test' };
    for (const d of [escape, dotgit, '', '   \n']) {
      const e = (await commitDiff(w.path, d, dev, 'x').catch((x: unknown) => x)) as AppError;
      expect(e.code, d.slice(0, 40)).toBe('unprocessable');
    }
    await expect(fs.access(path.join(w.path, '..', '..', 'outside.txt'))).rejects.toThrow();
    for (const bad of [{ name: 'Eve <evil@x>', email: 'e@x.test' }, { name: 'Eve\nX', email: 'e@x.test' }, { name: 'Eve', email: 'not-an-email' }, { name: ' ', email: 'e@x.test' }]) {
      const e = (await commitDiff(w.path, DIFF, bad, 'x').catch((x: unknown) => x)) as AppError;
      expect(e.code).toBe('validation_failed');
    }
    expect(await git(w.path, 'rev-parse', 'HEAD')).toBe(w.headSha);
    await removeWorktree({ dataDir, mirrorPath: mirror, path: w.path, branch: w.branch });
  });
});
