import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { cli } from '../helpers/process.js';

/** The real `quorum` binary in local mode (no server): it runs the same REST routes in-process. */
describe('CLI (real process, local mode on DATABASE_URL)', () => {
  let db: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  const masterKey = randomBytes(32).toString('base64');
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-cli-'));
    env = { DATABASE_URL: db.adminUrl, QUORUM_DATA_DIR: dataDir, QUORUM_MASTER_KEY: masterKey, QUORUM_LOG_LEVEL: 'warn', QUORUM_URL: '' };
  });
  afterAll(async () => {
    await db?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('bootstrap, projects, keys, review, doctor — with --json and documented exit codes', { timeout: 180_000 }, async () => {
    const boot = await cli(['bootstrap', '--email', 'cli@example.com', '--org', 'CLI Org', '--json'], env);
    expect(boot.code, boot.stderr).toBe(0);
    const { api_key: key, org_id: orgId } = JSON.parse(boot.stdout) as { api_key: string; org_id: string };
    const withKey = { ...env, QUORUM_API_KEY: key };

    const created = await cli(['projects', 'create', 'web', '--json'], withKey);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ slug: 'web', org_id: orgId });
    const list = await cli(['projects', 'list', '--json'], withKey);
    expect((JSON.parse(list.stdout) as Array<{ slug: string }>).map((p) => p.slug)).toEqual(['web']);
    const human = await cli(['projects', 'list'], withKey);
    expect(human.stdout).toMatch(/^SLUG\s+NAME/m);

    const missing = await cli(['projects', 'show', 'nope'], withKey);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('not_found');
    const noKey = await cli(['projects', 'list'], env);
    expect(noKey.code).toBe(3);
    const bad = await cli(['projects', 'create', '--bad--'], withKey);
    expect(bad.code).toBe(2);

    const k = await cli(['keys', 'create', 'ci', '--role', 'reviewer', '--json'], withKey);
    expect(k.code, k.stderr).toBe(0);
    const newKey = JSON.parse(k.stdout) as { id: string; api_key: string };
    const revoke = await cli(['keys', 'revoke', newKey.id, '--json'], withKey);
    expect(revoke.code, revoke.stderr).toBe(0);
    const useRevoked = await cli(['projects', 'list'], { ...env, QUORUM_API_KEY: newKey.api_key });
    expect(useRevoked.code).toBe(3);

    const diffFile = path.join(dataDir, 'change.diff');
    await fs.writeFile(diffFile, newFileDiff('src/users.ts', SQLI_TS));
    // The form: `quorum review --project P --diff FILE --format json --wait` (waiting is the default).
    const review = await cli(['review', '--project', 'web', '--diff', diffFile, '--task', 'cli-1', '--format', 'json', '--wait', '--fail-on', 'request_changes'], withKey);
    // A severity-9 SQL injection blocks the change: --fail-on request_changes exits 9.
    expect(review.code, review.stderr).toBe(9);
    const report = JSON.parse(review.stdout) as { schema_version: string; findings: Array<{ rule: string | null }> };
    expect(report.schema_version).toBe('1.0');
    expect(report.findings.some((f) => f.rule === 'injection/sql-concat')).toBe(true);
    expect(review.stderr).toContain('review.completed');
    const queued = await cli(['review', '--project', 'web', '--diff', diffFile, '--task', 'cli-2', '--no-wait', '--json'], withKey);
    expect(queued.code, queued.stderr).toBe(0);
    expect(JSON.parse(queued.stdout)).toMatchObject({ status: 'queued', task_id: 'cli-2' });

    const doctor = await cli(['doctor', '--json'], env);
    expect(doctor.code, doctor.stderr).toBe(0);
    const d = JSON.parse(doctor.stdout) as { ok: boolean; database: { reachable: boolean; runtime_role_bypasses_rls: boolean } };
    expect(d.ok).toBe(true);
    expect(d.database.runtime_role_bypasses_rls).toBe(false);
    expect(doctor.stdout).not.toContain(masterKey);
    expect(doctor.stdout).not.toContain(new URL(db.adminUrl).password || '\u0000');

    // A worker beating while no process holds the dead-worker sweeper: doctor names the problem.
    const admin = new pg.Pool({ connectionString: db.adminUrl, max: 1 });
    try {
      await admin.query(`insert into worker_heartbeats (worker_id, hostname, pid) values ('ghost', 'elsewhere', 1)`);
    } finally {
      await admin.end();
    }
    const sick = await cli(['doctor', '--json'], env);
    expect(sick.code, sick.stderr).toBe(7);
    const s = JSON.parse(sick.stdout) as { ok: boolean; workers: { live: number; problem?: string } };
    expect(s.ok).toBe(false);
    expect(s.workers.live).toBe(1);
    expect(s.workers.problem).toContain('dead-worker-sweeper');
    expect((await cli(['doctor'], env)).stdout).toContain('PROBLEM:');
  });
});
