import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { git, newFileDiff, SQLI_TS } from '../helpers/git.js';
import { CLI, cli } from '../helpers/process.js';
import { call, spawnMcp, textOf, type StdioMcp } from './helpers.js';

/** A checkout with one commit and uncommitted work: an edited README and a new file with a SQL injection. */
async function dirtyCheckout(): Promise<string> {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-mcp-Repo_')));
  git(dir, 'init', '-q', '-b', 'main');
  await fs.writeFile(path.join(dir, 'README.md'), '# demo\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'base');
  await fs.writeFile(path.join(dir, 'README.md'), '# demo\n\nUsers live in src/users.ts.\n');
  await fs.mkdir(path.join(dir, 'src'));
  await fs.writeFile(path.join(dir, 'src/users.ts'), SQLI_TS);
  return dir;
}

describe('quorum mcp over stdio (real process, local mode)', () => {
  let db: TestDatabase;
  let dataDir: string;
  let repo: string;
  let env: Record<string, string>;
  let mcp: StdioMcp | undefined;
  const masterKey = randomBytes(32).toString('base64');

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-mcp-data-'));
    repo = await dirtyCheckout();
    env = { DATABASE_URL: db.adminUrl, QUORUM_DATA_DIR: dataDir, QUORUM_MASTER_KEY: masterKey };
  });
  afterAll(async () => {
    await mcp?.close().catch(() => {});
    await db?.drop();
    for (const d of [dataDir, repo]) if (d) await fs.rm(d, { recursive: true, force: true });
  });

  it('registers the repository, reviews the uncommitted changes with progress, serves review:// and knowledge://', { timeout: 180_000 }, async () => {
    mcp = await spawnMcp([], env, repo);
    const c = mcp.client;
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['generate_plan', 'get_review', 'list_projects', 'list_reviews', 'review_code', 'search_knowledge']);
    const { resourceTemplates } = await c.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate).sort()).toEqual(['knowledge://{project}', 'review://{project}/{review_id}']);

    // First use: the local owner and the current repository as a project (slug from its directory name).
    const projects = await call(c, 'list_projects', {});
    expect(projects.isError, textOf(projects)).toBeFalsy();
    const items = (projects.structuredContent as { items: Array<{ slug: string; repo_url: string; role: string; default_branch: string }> }).items;
    expect(items).toHaveLength(1);
    const slug = path.basename(repo).toLowerCase();
    expect(items[0]).toMatchObject({ slug, repo_url: repo, role: 'admin', default_branch: 'main' });
    const owner = JSON.parse(await fs.readFile(path.join(dataDir, 'local-owner.json'), 'utf8')) as { org_id: string; user_id: string };
    expect((await fs.stat(path.join(dataDir, 'local-owner.json'))).mode & 0o777).toBe(0o600);

    const progress: Array<{ progress: number; total?: number }> = [];
    const r = await call(c, 'review_code', { working_tree: true, task_id: 'wip' }, (p) => progress.push(p));
    expect(r.isError, textOf(r)).toBeFalsy();
    const review = r.structuredContent as { id: string; status: string; verdict: string; org_id: string; developer_id: string; findings: Array<{ file: string; rules: string[] }> };
    expect(review).toMatchObject({ status: 'completed', verdict: 'request_changes', org_id: owner.org_id, developer_id: owner.user_id });
    expect(review.findings.some((f) => f.file === 'src/users.ts' && f.rules.includes('injection/sql-concat'))).toBe(true);
    expect(progress.at(-1)).toMatchObject({ progress: 5, total: 5 });
    // Reviewing never touched the developer's checkout: the new file is still untracked, nothing staged.
    expect(git(repo, 'status', '--porcelain').split('\n').map((l) => l.trim())).toEqual(['M README.md', '?? src/']);

    const md = await c.readResource({ uri: `review://${slug}/${review.id}` });
    expect((md.contents[0] as { text: string }).text).toContain('src/users.ts');
    const kn = await c.readResource({ uri: `knowledge://${slug}` });
    expect((kn.contents[0] as { text: string }).text).toContain('src/users.ts');
    const { resources } = await c.listResources();
    expect(resources.map((x) => x.uri)).toEqual(expect.arrayContaining([`review://${slug}/${review.id}`, `knowledge://${slug}`]));

    // A diff given as text works the same way; a plan needs an LLM provider.
    const d = await call(c, 'review_code', { diff: newFileDiff('lib/q.ts', SQLI_TS), task_id: 'diff-1' });
    expect((d.structuredContent as { verdict: string }).verdict).toBe('request_changes');
    const plan = await call(c, 'generate_plan', { requirements: 'Add a login page' });
    expect(plan.isError).toBe(true);
    expect(textOf(plan)).toMatch(/^provider_not_configured: generate_plan needs an LLM provider/);

    // Another org of the same installation: its project is invisible (404), nothing is written for it.
    const boot = await cli(['bootstrap', '--email', 'other@example.com', '--org', 'Other', '--json'], env);
    expect(boot.code, boot.stderr).toBe(0);
    const otherKey = (JSON.parse(boot.stdout) as { api_key: string }).api_key;
    expect((await cli(['projects', 'create', 'theirs', '--json'], { ...env, QUORUM_API_KEY: otherKey, QUORUM_URL: '' })).code).toBe(0);
    const foreign = await call(c, 'review_code', { project: 'theirs', diff: newFileDiff('x.ts', SQLI_TS) });
    expect(foreign.isError).toBe(true);
    expect(textOf(foreign)).toBe('not_found: project not found');
    await expect(c.readResource({ uri: 'knowledge://theirs' })).rejects.toThrow(/not_found/);
    expect(mcp.stderr()).not.toMatch(/"level":(50|60)/);
    await mcp.close();
    mcp = undefined;

    // Second start: same owner, same project (registration is idempotent).
    mcp = await spawnMcp([], env, repo);
    const again = await call(mcp.client, 'list_projects', {});
    expect((again.structuredContent as { items: Array<{ slug: string }> }).items.map((p) => p.slug)).toEqual([slug]);
    const listed = await call(mcp.client, 'list_reviews', {});
    expect((listed.structuredContent as { items: unknown[] }).items).toHaveLength(2);
    // Refs of the registered repository: Quorum mirrors it (never writes into it) and diffs them.
    git(repo, 'checkout', '-q', '-b', 'feature');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'users');
    const refs = await call(mcp.client, 'review_code', { base: 'main', head: 'feature', task_id: 'refs' });
    expect(refs.isError, textOf(refs)).toBeFalsy();
    const rr = refs.structuredContent as { verdict: string; head_sha: string; target: { kind: string }; findings: Array<{ file: string }> };
    expect(rr).toMatchObject({ verdict: 'request_changes', head_sha: git(repo, 'rev-parse', 'HEAD'), target: { kind: 'refs' } });
    expect(rr.findings.some((f) => f.file === 'src/users.ts')).toBe(true);
    await mcp.close();
    mcp = undefined;
  });

  it('zero set-up on the embedded database: stdout carries JSON-RPC only, logs go to stderr', { timeout: 180_000 }, async () => {
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-mcp-embedded-'));
    const child = spawn(process.execPath, [CLI, 'mcp'], {
      cwd: repo,
      env: { ...process.env, QUORUM_DATA_DIR: home, DATABASE_URL: '', QUORUM_URL: '', QUORUM_API_KEY: '', QUORUM_LOG_LEVEL: 'info' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const replies = new Map<number, Record<string, unknown>>();
    const waiters = new Map<number, () => void>();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n').slice(0, -1)) {
        const msg = JSON.parse(line) as { jsonrpc: string; id?: number };
        expect(msg.jsonrpc).toBe('2.0');
        if (typeof msg.id === 'number' && !replies.has(msg.id)) {
          replies.set(msg.id, msg);
          waiters.get(msg.id)?.();
        }
      }
    });
    const send = (id: number, method: string, params: unknown) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${method} in 90 s; stderr:\n${err.slice(-3000)}`)), 90_000);
        waiters.set(id, () => {
          clearTimeout(timer);
          resolve(replies.get(id)!);
        });
        child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
      });
    try {
      const init = await send(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
      expect((init.result as { serverInfo: { name: string } }).serverInfo.name).toBe('quorum');
      child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
      const listed = await send(2, 'tools/call', { name: 'list_projects', arguments: {} });
      const result = listed.result as { isError?: boolean; structuredContent: { items: Array<{ slug: string }> }; content: Array<{ text: string }> };
      expect(result.isError, result.content[0]?.text).toBeFalsy();
      expect(result.structuredContent.items.map((p) => p.slug)).toEqual([path.basename(repo).toLowerCase()]);
      // Every stdout line parsed as JSON-RPC (checked above); the logs are on stderr.
      expect(err).toContain('"role":"mcp"');
      expect(out).not.toContain('"level"');
    } finally {
      child.stdin.end();
      if (child.exitCode === null) {
        const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await new Promise((r) => child.once('exit', r));
        clearTimeout(killer);
      }
      await fs.rm(home, { recursive: true, force: true });
    }
    // Closing stdin shut the server down cleanly, embedded PostgreSQL included.
    expect(child.exitCode).toBe(0);
    await expect(fs.access(path.join(home, 'pg', 'postmaster.pid'))).rejects.toThrow();
  });
});
