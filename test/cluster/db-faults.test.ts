import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo } from '../helpers/git.js';
import type { Proc } from '../helpers/process.js';
import { RestartablePg } from '../helpers/restartable-pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { smallDiff } from './diffs.js';

/**
 * Database faults with real processes on a PostgreSQL server of the test's own (never the machine's
 * shared one): it is stopped while reviews run, and an API process's route to it is black-holed.
 * The API answers 503 with retry-after (never a 500, never a hang), workers pause and reconnect,
 * every review accepted before the fault completes, and everything resumes without a restart.
 */
const ENV = {
  QUORUM_WORKER_HEARTBEAT_MS: '200',
  QUORUM_WORKER_LAPSE_MS: '1500',
  QUORUM_SWEEP_INTERVAL_MS: '300',
  QUORUM_DB_CONNECT_TIMEOUT_MS: '1000',
  QUORUM_DB_STATEMENT_TIMEOUT_MS: '2000',
  QUORUM_API_KEY_CACHE_MS: '0',
};

describe('database faults: restart and black hole (real processes, own PostgreSQL)', () => {
  let pg: RestartablePg;
  let proxy: TcpProxy;
  let c: Cluster;
  let api: ApiProc;
  let viaProxy: ApiProc;
  let worker: Proc;
  let owner: Creds;
  let repo: string;

  beforeAll(async () => {
    pg = await RestartablePg.start();
    const database = await pg.createDatabase();
    c = await Cluster.start(ENV, { database });
    api = await c.startApi(); // migrates the empty database
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: pg.port });
    [viaProxy, worker] = await Promise.all([c.startApi({ DATABASE_URL: proxy.urlFor(database.adminUrl) }), c.startWorker()]);
    owner = await c.bootstrap('owner@faults.test', 'Faults');
    repo = await makeRepo({ 'src/app.ts': 'export const app = 1;\n' });
    const p = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: 'proj', repo_url: repo } });
    expect(p.status, p.text).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await c?.close();
    await proxy?.close();
    await pg?.close();
    if (repo) await fs.rm(repo, { recursive: true, force: true });
  });

  const submit = (a: ApiProc, n: number) => http(a, 'POST', '/v1/review/async', { key: owner.api_key, body: { project_id: 'proj', task_id: `fault-${n}`, target: { diff: smallDiff(n) } } });
  const timed = async <T>(f: () => Promise<T>) => {
    const t0 = performance.now();
    const r = await f();
    return { r, ms: performance.now() - t0 };
  };

  it('PostgreSQL restarts mid-run: 503 + retry-after while down, nothing accepted is lost, everything resumes', async () => {
    const accepted: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await submit(api, i);
      expect(r.status, r.text).toBe(202);
      accepted.push(r.body.id);
    }
    // Stop while (some of) those run.
    await c.until('a review running', async () => (await c.q(`select 1 from reviews where status = 'running'`)).length > 0, 30_000);
    const tDown = Date.now();
    await pg.stop();

    const during: Array<{ status: number; code: string; retryAfter: string | null; ms: number }> = [];
    for (let i = 0; i < 5; i++) {
      const { r, ms } = await timed(() => fetch(`${api.url}/v1/projects`, { headers: { 'x-api-key': owner.api_key } }));
      const body = (await r.json()) as { error?: { code: string } };
      during.push({ status: r.status, code: body.error?.code ?? '', retryAfter: r.headers.get('retry-after'), ms });
    }
    const refused = await submit(api, 100);
    const live = await fetch(`${api.url}/healthz`);
    const ready = await fetch(`${api.url}/readyz`);
    await new Promise((r) => setTimeout(r, 2_000)); // stay down a while: workers see it too
    await pg.start();
    const downMs = Date.now() - tDown;

    console.log(`[measure] API while PostgreSQL was down: ${during.map((d) => `${d.status} ${d.code} in ${d.ms.toFixed(0)} ms`).join('; ')}`);
    for (const d of during) {
      expect(d.status).toBe(503);
      expect(d.code).toBe('database_unavailable');
      expect(Number(d.retryAfter)).toBeGreaterThan(0);
      expect(d.ms).toBeLessThan(3_000); // bounded by the connect timeout, then the breaker answers at once
    }
    expect(during.slice(1).every((d) => d.ms < 500)).toBe(true);
    expect(refused.status).toBe(503); // not accepted, so nothing to lose
    expect(live.status).toBe(200);
    expect(ready.status).toBe(503);

    // Resumes by itself: the API answers again, and new work is accepted.
    const back = await c.until('the API to answer again', async () => {
      const r = await fetch(`${api.url}/v1/projects`, { headers: { 'x-api-key': owner.api_key } });
      return r.status === 200 ? Date.now() : undefined;
    }, 30_000);
    console.log(`[measure] PostgreSQL down ${downMs} ms; API answering again ${back - tDown - downMs} ms after it was back`);
    const after = await submit(api, 200);
    expect(after.status, after.text).toBe(202);
    accepted.push(after.body.id);

    // Every accepted review completes; the worker process never exited.
    const rows = await c
      .until('every accepted review completed', async () => {
        const r = await c.q(`select id, status, attempts, error from reviews where id = any($1::uuid[])`, [accepted]);
        return r.length === accepted.length && r.every((x) => ['completed', 'failed', 'cancelled'].includes(x.status)) ? r : undefined;
      }, 120_000)
      .catch(async (e: Error) => {
        const jobs = await c.q(`select id, attempts, max_attempts, run_at, locked_by, last_error from graphile_worker.jobs`);
        const revs = await c.q(`select id, status, attempts from reviews where id = any($1::uuid[])`, [accepted]);
        throw new Error(`${e.message}\nreviews: ${JSON.stringify(revs)}\njobs: ${JSON.stringify(jobs)}\nworker:\n${worker.output().split('\n').filter((l) => l.includes('"level":') && !l.includes('worker database connection error')).slice(-70).join('\n')}`);
      });
    expect(rows.filter((r) => r.status !== 'completed').map((r) => r.error)).toEqual([]);
    expect(worker.child.exitCode).toBeNull();
    expect(api.child.exitCode).toBeNull();
    const counts = await c.q(`select review_id, count(*)::int as n from findings where review_id = any($1::uuid[]) group by 1`, [accepted]);
    expect(new Set(counts.map((x) => x.n)).size).toBe(1); // same diff shape → same findings, none duplicated or lost
    await c.until('no lease, no queued job', async () => (await c.q('select 1 from worktree_leases')).length === 0 && (await c.q(`select 1 from graphile_worker.jobs`)).length === 0, 30_000);
    expect(await c.worktreeDirs()).toEqual([]);
    const retried = rows.filter((r) => r.attempts > 1).length;
    console.log(`[measure] ${accepted.length} reviews accepted around the restart: all completed (${retried} needed a second attempt)`);

    // The 503s are counted.
    const m = await http(api, 'GET', '/metrics', { key: owner.api_key });
    expect(m.text).toMatch(/quorum_db_unavailable_total\{code="database_unavailable"\} [1-9]/);
    expect(m.text).toMatch(/quorum_db_up 1/);
  }, 240_000);

  it('the route to PostgreSQL becomes a black hole: bounded 503s, then fast ones; back to 200 when it clears', async () => {
    expect((await http(viaProxy, 'GET', '/v1/projects', { key: owner.api_key })).status).toBe(200);
    proxy.setMode('blackhole');
    const during: Array<{ status: number; code: string; ms: number }> = [];
    for (let i = 0; i < 4; i++) {
      const { r, ms } = await timed(() => fetch(`${viaProxy.url}/v1/projects`, { headers: { 'x-api-key': owner.api_key } }));
      const body = (await r.json()) as { error?: { code: string } };
      during.push({ status: r.status, code: body.error?.code ?? '', ms });
    }
    proxy.setMode('pass');
    console.log(`[measure] API with a black-holed database: ${during.map((d) => `${d.status} ${d.code} in ${d.ms.toFixed(0)} ms`).join('; ')}`);
    for (const d of during) {
      expect(d.status).toBe(503);
      expect(d.code).toBe('database_unavailable');
      // statement_timeout (2 s) + 5 s read timeout is the worst case for a query already sent.
      expect(d.ms).toBeLessThan(9_000);
    }
    expect(during.at(-1)!.ms).toBeLessThan(500); // the breaker is open by then
    await c.until('the API behind the proxy to answer again', async () => (await http(viaProxy, 'GET', '/v1/projects', { key: owner.api_key })).status === 200, 30_000);
    expect(viaProxy.child.exitCode).toBeNull();
  }, 120_000);
});
