import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { call, spawnMcp, textOf, type StdioMcp } from './helpers.js';

/** Ids, times and commit hashes differ between two runs of the same call; everything else must not. */
function normalize(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
      .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g, '<time>')
      .replace(/\b[0-9a-f]{40}\b/g, '<sha>'),
  );
}

/**
 * Delegation: `quorum mcp` in local mode (in-process core on the database) and `quorum mcp --remote`
 * (every call sent to the REST API of a server on the same database) answer the same calls with the
 * same structured results.
 */
describe('quorum mcp: local mode and --remote delegation give the same results', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  let base: string;
  let key: string;
  let dataDir: string;
  let local: StdioMcp;
  let remote: StdioMcp;

  beforeAll(async () => {
    t = await createTestApp();
    worker = await startWorker(t.rt, { concurrency: 2 });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const a = await newOrg(t, 'dana@deleg.test', 'Delegation');
    key = a.api_key;
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(key), payload: { slug: 'web' } })).statusCode).toBe(201);
    await newOrg(t, 'eve@deleg.test', 'Elsewhere').then((b) =>
      t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(b.api_key), payload: { slug: 'hidden' } }),
    );
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-mcp-deleg-'));
    [local, remote] = await Promise.all([
      spawnMcp(['--project', 'web'], { DATABASE_URL: t.rt.db.adminUrl, QUORUM_DATA_DIR: dataDir, QUORUM_MASTER_KEY: t.rt.config.masterKey!, QUORUM_API_KEY: key }),
      spawnMcp(['--remote', base, '--project', 'web'], { QUORUM_API_KEY: key, QUORUM_DATA_DIR: dataDir }),
    ]);
  });
  afterAll(async () => {
    await local?.close().catch(() => {});
    await remote?.close().catch(() => {});
    await worker?.stop();
    await t?.close();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('review_code, get_review, list_reviews, list_projects, search_knowledge, resources and errors match', { timeout: 240_000 }, async () => {
    const diff = newFileDiff('src/users.ts', SQLI_TS);
    const progress: Record<'local' | 'remote', number[]> = { local: [], remote: [] };
    // A first review of the same change, so that both compared reviews see an earlier similar
    // finding in the org's knowledge (the second would otherwise see the first's and differ).
    const warm = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(key), payload: { project_id: 'web', task_id: 'same-change', target: { diff } } });
    expect(warm.json().status).toBe('completed');
    const l = await call(local.client, 'review_code', { diff, task_id: 'same-change' }, (p) => progress.local.push(p.progress));
    const r = await call(remote.client, 'review_code', { diff, task_id: 'same-change' }, (p) => progress.remote.push(p.progress));
    expect(l.isError, textOf(l)).toBeFalsy();
    expect(r.isError, textOf(r)).toBeFalsy();
    const lr = l.structuredContent as { id: string; status: string; findings: unknown[] };
    const rr = r.structuredContent as { id: string };
    expect(lr.status).toBe('completed');
    expect(lr.findings.length).toBeGreaterThan(0);
    expect(lr.id).not.toBe(rr.id);
    expect(normalize(r.structuredContent)).toEqual(normalize(l.structuredContent));
    expect(progress.local.at(-1)).toBe(5);
    expect(progress.remote.at(-1)).toBe(5);
    // Without a progress token local mode takes the synchronous path (inline for a small built-in
    // review) and the remote one the queue: still the same result.
    const lq = await call(local.client, 'review_code', { diff, task_id: 'same-change' });
    const rq = await call(remote.client, 'review_code', { diff, task_id: 'same-change' });
    expect(lq.isError, textOf(lq)).toBeFalsy();
    expect(normalize(rq.structuredContent)).toEqual(normalize(lq.structuredContent));
    expect(normalize(lq.structuredContent)).toEqual(normalize(l.structuredContent));

    // The same questions asked through both doors, once both reviews exist: identical answers.
    const both = async (name: string, args: Record<string, unknown>) => {
      const [x, y] = await Promise.all([call(local.client, name, args), call(remote.client, name, args)]);
      expect(x.isError ?? false, `${name}: ${textOf(x)}`).toBe(y.isError ?? false);
      return [x, y] as const;
    };
    for (const [name, args] of [
      ['get_review', { review_id: lr.id }],
      ['list_reviews', {}],
      ['get_review', { review_id: (lq.structuredContent as { id: string }).id }],
      ['list_reviews', { project: 'web', status: 'completed', limit: 1 }],
      ['list_projects', {}],
      ['search_knowledge', { query: 'SQL' }],
    ] as const) {
      const [x, y] = await both(name, args);
      expect(x.isError, `${name}: ${textOf(x)}`).toBeFalsy();
      expect(y.structuredContent, name).toEqual(x.structuredContent);
      expect(textOf(y), name).toBe(textOf(x));
    }
    for (const uri of [`review://web/${lr.id}`, `review://web/${rr.id}`, 'knowledge://web']) {
      const [x, y] = await Promise.all([local.client.readResource({ uri }), remote.client.readResource({ uri })]);
      expect(y.contents, uri).toEqual(x.contents);
    }
    const [lx, rx] = await Promise.all([local.client.listResources(), remote.client.listResources()]);
    expect(rx.resources).toEqual(lx.resources);

    // Errors: same codes, same messages.
    for (const [name, args] of [
      ['review_code', { project: 'hidden', diff }],
      ['get_review', { review_id: randomUUID() }],
      ['search_knowledge', { project: 'nope' }],
      ['generate_plan', { requirements: 'Add a login page' }],
      ['list_reviews', { status: 'bogus' }],
    ] as const) {
      const [x, y] = await both(name, args);
      expect(x.isError, name).toBe(true);
      expect(textOf(y), name).toBe(textOf(x));
      expect(y._meta, name).toEqual(x._meta);
    }
    for (const uri of ['knowledge://hidden', `review://web/${randomUUID()}`]) {
      const errs = await Promise.all([local.client.readResource({ uri }), remote.client.readResource({ uri })].map((p) => p.then(() => 'no error', (e: Error) => e.message)));
      expect(errs[0], uri).toMatch(/not_found/);
      expect(errs[1], uri).toBe(errs[0]);
    }
  });
});
