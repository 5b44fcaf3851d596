import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { cli } from '../helpers/process.js';

/** The commands added for a complete CLI, run as real processes in local mode (same REST routes in-process). */
describe('CLI: members, knowledge, audit, org, auth, plan, health (real processes)', () => {
  let db: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-cli-cmds-'));
    env = { DATABASE_URL: db.adminUrl, QUORUM_DATA_DIR: dataDir, QUORUM_MASTER_KEY: randomBytes(32).toString('base64'), QUORUM_LOG_LEVEL: 'warn', QUORUM_URL: '', QUORUM_API_KEY: '' };
  });
  afterAll(async () => {
    await db?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  const ok = async (args: string[], e: Record<string, string>) => {
    const r = await cli(args, e);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it('a team workflow end to end, with --json and documented exit codes', { timeout: 300_000 }, async () => {
    const owner = JSON.parse(await ok(['bootstrap', '--email', 'olga@cli.test', '--org', 'CLI Team', '--json'], env)) as { api_key: string; org_id: string };
    const o = { ...env, QUORUM_API_KEY: owner.api_key };
    await ok(['projects', 'create', 'web', '--json'], o);
    const updated = JSON.parse(await ok(['projects', 'update', 'web', '--name', 'Web app', '--settings', '{"knowledge_min_severity":7}', '--json'], o)) as { name: string };
    expect(updated.name).toBe('Web app');
    expect((JSON.parse(await ok(['org', 'show', '--json'], o)) as { name: string }).name).toBe('CLI Team');
    await ok(['org', 'rename', 'CLI Team Renamed'], o);
    expect((JSON.parse(await ok(['whoami', '--json'], o)) as { org: { name: string } }).org.name).toBe('CLI Team Renamed');

    // A teammate joins by invite and gets a project role.
    const inv = JSON.parse(await ok(['users', 'invite', 'tom@cli.test', '--json'], o)) as { id: string; token: string };
    expect(await ok(['users', 'invites'], o)).toContain('tom@cli.test');
    const signup = JSON.parse(await ok(['auth', 'signup', '--email', 'tom@cli.test', '--name', 'Tom', '--invite', inv.token], { ...env, QUORUM_PASSWORD: 'correct horse battery staple' })) as { user: { id: string }; access_token: string };
    const tom = signup.user.id;
    // The token signup printed is all Tom holds: with it he creates his first API key.
    const tomKey = JSON.parse(await ok(['keys', 'create', 'laptop', '--json'], { ...env, QUORUM_API_KEY: signup.access_token })) as { api_key: string };
    expect(tomKey.api_key).toMatch(/^qk_/);
    const set = JSON.parse(await ok(['members', 'set', 'tom@cli.test', 'reviewer', '--project', 'web', '--json'], o)) as { role: string; user_id: string };
    expect(set.user_id).toBe(tom);
    expect(set.role).toBe('reviewer');
    expect(await ok(['members', 'list', '--project', 'web'], o)).toMatch(/^USER_ID\s+EMAIL.*\n.*tom@cli\.test\s+Tom\s+reviewer/m);
    expect((JSON.parse(await ok(['members', 'show', tom, '--project', 'web', '--json'], o)) as { role: string }).role).toBe('reviewer');
    const pool = new pg.Pool({ connectionString: db.adminUrl, max: 1 });
    try {
      const m = await pool.query('select role from project_members where user_id = $1', [tom]);
      expect(m.rows).toEqual([{ role: 'reviewer' }]);
      await ok(['members', 'remove', tom, '--project', 'web'], o);
      expect((await pool.query('select count(*)::int as n from project_members where user_id = $1', [tom])).rows[0].n).toBe(0);
    } finally {
      await pool.end();
    }
    const gone = await cli(['members', 'show', tom, '--project', 'web'], o);
    expect(gone.code).toBe(4);

    // Knowledge after a review with a serious finding.
    const diff = path.join(dataDir, 'sqli.diff');
    await fs.writeFile(diff, newFileDiff('src/users.ts', SQLI_TS));
    const review = await cli(['review', '--project', 'web', '--diff', diff, '--task', 'k-1', '--format', 'json'], o);
    expect(review.code, review.stderr).toBe(0);
    const found = JSON.parse(await ok(['knowledge', 'search', '--project', 'web', '--query', 'SQL', '--json'], o)) as { items: Array<{ file: string }> };
    expect(found.items[0]?.file).toBe('src/users.ts');
    const md = await ok(['knowledge', 'export', '--project', 'web'], o);
    expect(md).toMatch(/^# KNOWLEDGE — web/);
    const reviewId = (JSON.parse(await ok(['reviews', 'list', '--json'], o)) as Array<{ id: string }>)[0]!.id;
    const events = JSON.parse(await ok(['reviews', 'events', reviewId, '--json'], o)) as { items: Array<{ type: string }> };
    expect(events.items.at(-1)?.type).toBe('review.completed');

    // The audit trail shows who did what; members may not read it (exit 3).
    const audit = JSON.parse(await ok(['audit', '--project', 'web', '--json'], o)) as Array<{ action: string }>;
    expect(audit.map((x) => x.action)).toEqual(expect.arrayContaining(['project.create', 'project.update', 'review.start']));
    expect(await ok(['audit', '--action', 'org.update'], o)).toMatch(/^ID\s+CREATED_AT\s+ACTION/);

    // A plan needs an LLM provider: a clear error with its code, exit 2.
    const plan = await cli(['plan', '--project', 'web', '--requirements', 'Add password reset'], o);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toContain('provider_not_configured');
    expect((await cli(['health'], o)).stdout).toMatch(/^ready/);
    const detailed = JSON.parse(await ok(['health', '--detailed', '--json'], o)) as Record<string, unknown>;
    expect(detailed).toHaveProperty('database');
    const revoke = await cli(['users', 'revoke-invite', inv.id], o);
    expect(revoke.code).not.toBe(0);
    expect(revoke.stderr).toContain('invite_accepted');
  });
});
