import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The identity test repositories are committed with: passed by environment, never written to config. */
export const FIXTURE_IDENTITY = {
  GIT_AUTHOR_NAME: 'Fixture Author',
  GIT_AUTHOR_EMAIL: 'fixture@example.test',
  GIT_COMMITTER_NAME: 'Fixture Author',
  GIT_COMMITTER_EMAIL: 'fixture@example.test',
};

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) e[k] = v;
  return { ...e, ...FIXTURE_IDENTITY, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
}

/** Runs git in `cwd` for test setup and assertions; returns trimmed stdout. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await exec('git', ['-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgSign=false', ...args], { cwd, env: env(), maxBuffer: 64 * 1024 * 1024 });
  return r.stdout.trim();
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), `quorum-git-${prefix}-`)));
}

/** A user repository on branch main with `files` committed per commit (in order). */
export async function makeUpstream(dir: string, commits: Array<Record<string, string>>): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  await git(dir, 'init', '-q', '-b', 'main');
  const shas: string[] = [];
  for (const [i, files] of commits.entries()) shas.push(await commitFiles(dir, files, `commit ${i + 1}`));
  return shas;
}

export async function commitFiles(dir: string, files: Record<string, string>, message: string): Promise<string> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** A snapshot of a repository's refs and git directory listing, to prove nobody wrote into it. */
export async function repoSnapshot(dir: string): Promise<string> {
  const refs = await git(dir, 'for-each-ref', '--format=%(refname) %(objectname)');
  const status = await git(dir, '--no-optional-locks', 'status', '--porcelain', '--ignored');
  const walk = async (d: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p);
      out.push(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs}`);
      if (e.isDirectory()) out.push(...(await walk(p)));
    }
    return out;
  };
  return [refs, status, ...(await walk(path.join(dir, '.git'))).sort()].join('\n');
}
