import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { ensureMirror, mirrorDefaultBranch } from '../../src/core/git/mirror.js';
import { validateRepoUrl } from '../../src/core/git/repo-url.js';
import { diffBetween, resolveTarget } from '../../src/core/git/resolve-target.js';
import { commitFiles, git, makeUpstream, repoSnapshot, tempDir } from './git-fixture.js';

const rejects = async (p: Promise<unknown>, code: string) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AppError);
  expect((e as AppError).code).toBe(code);
  return e as AppError;
};

describe('project mirrors, targets and diffs', () => {
  let root: string;
  let dataDir: string;
  let upstream: string;
  let shas: string[];
  const org = randomUUID();
  const project = randomUUID();

  beforeAll(async () => {
    root = await tempDir('mirror');
    dataDir = path.join(root, 'data');
    upstream = path.join(root, 'user-repo');
    shas = await makeUpstream(upstream, [{ 'README.md': 'hello\n' }, { 'src/a.ts': 'export const a = 1;\n' }, { 'src/a.ts': 'export const a = 2;\n', 'src/b.ts': 'b\n' }]);
    await git(upstream, 'tag', 'v1', shas[1]!);
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('clones once under concurrency, into $DATA/repos/{org}/{project}.git, and never writes into the user repository', async () => {
    const before = await repoSnapshot(upstream);
    const results = await Promise.all(Array.from({ length: 8 }, () => ensureMirror(dataDir, org, project, upstream)));
    const mirror = path.join(dataDir, 'repos', org, `${project}.git`);
    expect(new Set(results.map((r) => r.path))).toEqual(new Set([mirror]));
    expect(results.filter((r) => r.cloned)).toHaveLength(1);
    expect(await git(mirror, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(await git(mirror, 'rev-parse', 'main')).toBe(shas[2]);
    expect(await git(mirror, 'rev-parse', 'v1^{commit}')).toBe(shas[1]);
    expect(await mirrorDefaultBranch(mirror)).toBe('main');
    // No temporary clone left behind.
    expect((await fs.readdir(path.dirname(mirror))).sort()).toEqual([`${project}.git`]);
    expect(await repoSnapshot(upstream)).toBe(before);
  });

  it('two processes cloning the same mirror at once: one clone wins the rename, the other uses it', async () => {
    // Two spellings of one data directory get two in-process locks, as two processes would.
    const alias = path.join(root, 'data-alias');
    await fs.symlink(dataDir, alias);
    const p2 = randomUUID();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => ensureMirror(i % 2 ? alias : dataDir, org, p2, upstream)));
    expect(results.filter((r) => r.cloned)).toHaveLength(1); // rename() succeeds exactly once
    const mirror = path.join(dataDir, 'repos', org, `${p2}.git`);
    expect(await git(mirror, 'rev-parse', 'main')).toBe(shas[2]);
    expect((await fs.readdir(path.dirname(mirror))).filter((n) => n.startsWith(p2))).toEqual([`${p2}.git`]);
    await fs.rm(mirror, { recursive: true });
  });

  it('fetches new commits, prunes deleted branches, and keeps Quorum review branches', async () => {
    const mirror = path.join(dataDir, 'repos', org, `${project}.git`);
    await git(upstream, 'branch', 'doomed');
    await ensureMirror(dataDir, org, project, upstream);
    expect(await git(mirror, 'branch', '--list', 'doomed')).toContain('doomed');
    await git(mirror, 'branch', 'quorum/p/t/r', 'main');

    await git(upstream, 'branch', '-D', 'doomed');
    const next = await commitFiles(upstream, { 'src/c.ts': 'c\n' }, 'commit 4');
    await ensureMirror(dataDir, org, project, upstream);
    expect(await git(mirror, 'rev-parse', 'main')).toBe(next);
    expect(await git(mirror, 'branch', '--list', 'doomed')).toBe('');
    expect(await git(mirror, 'branch', '--list', 'quorum/p/t/r')).toContain('quorum/p/t/r');
    shas.push(next);
  });

  it('refuses dangerous transports and paths into the data directory', async () => {
    await rejects(ensureMirror(dataDir, org, randomUUID(), 'ext::sh -c touch% /tmp/pwned'), 'unprocessable');
    await rejects(ensureMirror(dataDir, org, randomUUID(), path.join(dataDir, 'repos', org, `${project}.git`)), 'unprocessable');
    // A symlink that leads into the data directory is caught after resolving it.
    const link = path.join(root, 'sneaky');
    await fs.symlink(path.join(dataDir, 'repos'), link);
    await rejects(ensureMirror(dataDir, org, randomUUID(), path.join(link, org, `${project}.git`)), 'unprocessable');
    const missing = await rejects(ensureMirror(dataDir, org, randomUUID(), path.join(root, 'nope')), 'unprocessable');
    expect(missing.message).not.toContain(root);
    expect(await fs.readdir(path.join(dataDir, 'repos', org))).toEqual([`${project}.git`]);
  });

  it('validates repository URLs: allowed forms only', () => {
    const ok = ['/srv/git/app', 'file:///srv/git/app', 'https://github.com/acme/app.git', 'ssh://git@github.com/acme/app.git', 'ssh://git@host:2222/app', 'git@github.com:acme/app.git'];
    for (const u of ok) expect(validateRepoUrl(u, { dataDir: '/var/lib/quorum' }).url).toBe(u);
    const bad = [
      'ext::sh -c id', 'fd::0', 'http://example.com/app.git', 'git://example.com/app.git', 'ftp://x/y', '-uhttps://x', 'relative/path', './x', '../x',
      'https://user:token@github.com/a.git', 'ssh://-oProxyCommand=id/x', 'git@-oProxyCommand=id:x', 'git@host:-x', 'file://remotehost/x',
      '/var/lib/quorum/repos/o/p.git', 'file:///var/lib/quorum', 'https://x/\n', '',
    ];
    for (const u of bad) {
      let code: string | undefined;
      try {
        validateRepoUrl(u, { dataDir: '/var/lib/quorum' });
      } catch (e) {
        code = (e as AppError).code;
      }
      expect(code, u).toBe('validation_failed');
    }
  });

  it('resolves ref ranges and the last commit (root commit against the empty tree)', async () => {
    const mirror = path.join(dataDir, 'repos', org, `${project}.git`);
    expect(await resolveTarget(mirror, { kind: 'refs', base: 'v1', head: 'main~1' })).toEqual({ baseSha: shas[1], headSha: shas[2], baseIsEmptyTree: false });
    expect(await resolveTarget(mirror, { kind: 'refs', base: shas[0]!.slice(0, 10), head: 'HEAD' })).toMatchObject({ baseSha: shas[0], headSha: shas[3] });
    expect(await resolveTarget(mirror, { kind: 'last_commit', branch: 'main' })).toEqual({ baseSha: shas[2], headSha: shas[3], baseIsEmptyTree: false });

    const rootOnly = await resolveTarget(mirror, { kind: 'last_commit', branch: `${shas[0]}` });
    expect(rootOnly.baseIsEmptyTree).toBe(true);
    const d = await diffBetween(mirror, rootOnly.baseSha, rootOnly.headSha);
    expect(d.files).toEqual(['README.md']);
    expect(d.text).toContain('+hello');
  });

  it('bad or unknown refs are 422 invalid_ref, before or after reaching git', async () => {
    const mirror = path.join(dataDir, 'repos', org, `${project}.git`);
    for (const ref of ['--upload-pack=id', '../x', 'main@{1}', 'HEAD:README.md']) {
      await rejects(resolveTarget(mirror, { kind: 'refs', base: ref, head: 'main' }), 'invalid_ref');
    }
    const e = await rejects(resolveTarget(mirror, { kind: 'last_commit', branch: 'no-such-branch' }), 'invalid_ref');
    expect(e.status).toBe(422);
    expect(e.message).not.toContain(dataDir);
  });

  it('diffs with rename detection and reports truncation at a file boundary instead of cutting silently', async () => {
    const mirror = path.join(dataDir, 'repos', org, `${project}.git`);
    const full = await diffBetween(mirror, shas[1]!, shas[3]!);
    expect(full.truncated).toBe(false);
    expect(full.files).toEqual(['src/a.ts', 'src/b.ts', 'src/c.ts']);
    expect(full.text).toMatch(/^diff --git a\/src\/a.ts b\/src\/a.ts$/m);

    const firstFile = full.text.slice(0, full.text.indexOf('\ndiff --git', 1) + 1);
    const clipped = await diffBetween(mirror, shas[1]!, shas[3]!, { maxBytes: Buffer.byteLength(firstFile) + 10 });
    expect(clipped).toEqual({ text: firstFile, truncated: true, files: full.files, omittedFiles: ['src/b.ts', 'src/c.ts'] });

    const tiny = await diffBetween(mirror, shas[1]!, shas[3]!, { maxBytes: 5 });
    expect(tiny).toMatchObject({ text: '', truncated: true, omittedFiles: full.files });

    await git(upstream, 'mv', 'src/c.ts', 'src/renamed.ts');
    await git(upstream, 'commit', '-q', '-m', 'rename');
    await ensureMirror(dataDir, org, project, upstream);
    const t = await resolveTarget(mirror, { kind: 'last_commit', branch: 'main' });
    const renamed = await diffBetween(mirror, t.baseSha, t.headSha);
    expect(renamed.text).toContain('rename from src/c.ts');
    expect(renamed.files).toEqual(['src/renamed.ts']);
  });
});
