import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { makeRepo, newFileDiff } from '../helpers/git.js';

/**
 * An installation shared by orgs can keep them from reading each other's checkouts on the server's
 * disk: local repositories only under QUORUM_LOCAL_REPO_ROOTS (or none at all).
 */
describe('QUORUM_LOCAL_REPO_ROOTS', () => {
  let t: TestApp;
  let none: TestApp;
  let worker: WorkerHandle;
  let allowed: string;
  let outside: string;
  beforeAll(async () => {
    allowed = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-allowed-'));
    const inside = await makeRepo({ 'src/a.ts': 'export const a = 1;\n' });
    await fs.rename(inside, path.join(allowed, 'team-repo'));
    outside = await makeRepo({ 'src/b.ts': 'export const b = 1;\n' });
    t = await createTestApp({ QUORUM_LOCAL_REPO_ROOTS: `${allowed}:/nonexistent-root` });
    none = await createTestApp({ QUORUM_LOCAL_REPO_ROOTS: 'none' });
    worker = await startWorker(t.rt, { concurrency: 2 }); // reviews of refs go through the queue
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
    await none?.close();
    await fs.rm(allowed, { recursive: true, force: true });
  });

  it('accepts a repository under an allowed root, refuses one elsewhere or reached through a symlink', async () => {
    const o = await newOrg(t, 'roots@r.test', 'Roots');
    const h = auth(o.api_key);
    const ok = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'in', repo_url: path.join(allowed, 'team-repo') } });
    expect(ok.statusCode, ok.body).toBe(201);
    for (const repo_url of [outside, `file://${outside}`, path.join(allowed, '..', path.basename(outside))]) {
      const bad = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'out', repo_url } });
      expect(bad.statusCode, repo_url).toBe(400);
      expect(bad.json().error).toMatchObject({ code: 'validation_failed' });
      expect(bad.json().error.message).toContain('QUORUM_LOCAL_REPO_ROOTS');
    }
    const moved = await t.app.inject({ method: 'PATCH', url: '/v1/projects/in', headers: h, payload: { repo_url: outside } });
    expect(moved.statusCode).toBe(400);

    // A symlink inside the root that leads out of it passes the path check, not the review.
    await fs.symlink(outside, path.join(allowed, 'sneaky'));
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'sneaky', repo_url: path.join(allowed, 'sneaky'), default_branch: 'main' } })).statusCode).toBe(201);
    const review = await t.app.inject({ method: 'POST', url: '/v1/review', headers: h, payload: { project_id: 'sneaky', task_id: 't' } });
    expect(review.statusCode, review.body).toBe(422);
    expect(review.json().error.message).toContain('QUORUM_LOCAL_REPO_ROOTS');
    const good = await t.app.inject({ method: 'POST', url: '/v1/review', headers: h, payload: { project_id: 'in', task_id: 't' } });
    expect(good.statusCode, good.body).toBe(200);
    expect(good.json().status).toBe('completed');
  });

  it('"none" allows remote repositories and diffs only', async () => {
    const o = await newOrg(none, 'none@r.test', 'None');
    const h = auth(o.api_key);
    const bad = await none.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'local', repo_url: outside } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('local repositories are disabled');
    expect((await none.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'remote', repo_url: 'https://git.example.com/team/app.git', default_branch: 'main' } })).statusCode).toBe(201);
    expect((await none.app.inject({ method: 'POST', url: '/v1/projects', headers: h, payload: { slug: 'norepo' } })).statusCode).toBe(201);
    const diff = await none.app.inject({ method: 'POST', url: '/v1/review', headers: h, payload: { project_id: 'norepo', task_id: 't', target: { diff: newFileDiff('src/x.ts', 'export const x = 1;\n') } } });
    expect(diff.statusCode, diff.body).toBe(200);
  });

  it('a relative root is a configuration error', () => {
    expect(() => loadConfig({}, { QUORUM_LOCAL_REPO_ROOTS: 'repos' })).toThrow(ConfigError);
    expect(loadConfig({}, { QUORUM_LOCAL_REPO_ROOTS: '/srv/git:/home/ci/repos' }).localRepoRoots).toEqual(['/srv/git', '/home/ci/repos']);
    expect(loadConfig({}, {}).localRepoRoots).toBeNull();
  });
});
