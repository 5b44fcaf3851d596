import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo } from '../helpers/git.js';
import { freePort, type Proc } from '../helpers/process.js';
import { smallDiff } from './diffs.js';

/**
 * Observability of real processes: a `serve` (API + worker) and a worker-only process with its own
 * metrics port. JSON logs carry the correlation id, org, project and review on the lines of a
 * request and of a job (graphile-worker's own lines included); secrets never reach a log line;
 * /metrics and /health/detailed show the cluster.
 */
type Line = Record<string, unknown> & { msg?: string };

const lines = (p: Proc): Line[] =>
  p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

describe('observability: logs, metrics, health (real processes)', () => {
  let c: Cluster;
  let serve: ApiProc;
  let worker: Proc;
  let workerMetrics: string;
  let owner: Creds;
  let repo: string;
  let reviewId: string;
  const requestId = `obs-${randomBytes(6).toString('hex')}`;
  const password = `Pw-${randomBytes(12).toString('hex')}`;
  let session: { access_token: string; refresh_token: string };

  beforeAll(async () => {
    c = await Cluster.start({ QUORUM_SIGNUP: 'open', QUORUM_WORKER_HEARTBEAT_MS: '300' });
    const port = await freePort();
    workerMetrics = `http://127.0.0.1:${port}`;
    [serve, worker] = await Promise.all([c.startApi({}, { worker: true }), c.startWorker({ QUORUM_METRICS_PORT: String(port) })]);
    owner = await c.bootstrap('owner@obs.test', 'Observed');
    repo = await makeRepo({ 'src/app.ts': 'export const app = 1;\n' });
    expect((await http(serve, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: 'proj', repo_url: repo } })).status).toBe(201);

    // A review submitted with our request id: the job and its log lines carry it.
    const r = await fetch(`${serve.url}/v1/review/async`, {
      method: 'POST',
      headers: { 'x-api-key': owner.api_key, 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ project_id: 'proj', task_id: 'observed', target: { diff: smallDiff(1) } }),
    });
    expect(r.status).toBe(202);
    reviewId = ((await r.json()) as { id: string }).id;
    await c.until('the review completed', async () => (await c.q(`select 1 from reviews where id = $1 and status = 'completed'`, [reviewId])).length === 1, 60_000);

    // Secrets travel through the API: a password (signup, login, a failed login), tokens, API keys.
    const s = await http(serve, 'POST', '/v1/auth/signup', { body: { email: 'secret@obs.test', password, name: 'Sec Ret' } });
    expect(s.status, s.text).toBe(201);
    const l = await http(serve, 'POST', '/v1/auth/login', { body: { email: 'secret@obs.test', password } });
    expect(l.status, l.text).toBe(200);
    session = l.body;
    expect((await http(serve, 'POST', '/v1/auth/login', { body: { email: 'secret@obs.test', password: `${password}-wrong` } })).status).toBe(401);
    expect((await http(serve, 'POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } })).status).toBe(200);
    expect((await http(serve, 'GET', '/v1/projects', { key: `${owner.api_key.slice(0, -4)}XXXX` })).status).toBe(401);
    expect((await http(serve, 'GET', '/v1/auth/me', { token: session.access_token })).status).toBe(200);
  }, 180_000);
  afterAll(async () => {
    await c?.close();
    if (repo) await fs.rm(repo, { recursive: true, force: true });
  });

  it('every log line of the request carries its correlation id, and the org once authenticated', () => {
    const mine = lines(serve).filter((l) => l.correlation_id === requestId);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.map((l) => l.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']));
    const done = mine.find((l) => l.msg === 'request completed')!;
    expect(done).toMatchObject({ org_id: owner.org_id, correlation_id: requestId });
  });

  it("every log line of the review's job carries org, correlation id and review id (graphile-worker's lines too)", () => {
    const all = [...lines(serve), ...lines(worker)];
    const jobId = all.find((l) => l.review_id === reviewId && l.job_id !== undefined)?.job_id;
    expect(jobId).toBeDefined();
    const jobLines = all.filter((l) => l.job_id === jobId);
    expect(jobLines.some((l) => l.component === 'graphile-worker' && /Completed task/.test(String(l.msg)))).toBe(true);
    const projectId = jobLines.find((l) => typeof l.project_id === 'string')?.project_id;
    expect(projectId).toMatch(/^[0-9a-f-]{36}$/);
    for (const l of jobLines) {
      expect(l, JSON.stringify(l)).toMatchObject({ org_id: owner.org_id, project_id: projectId, correlation_id: requestId, review_id: reviewId });
    }
  });

  it('no secret reaches a log line (password, tokens, API key, master key)', () => {
    const text = `${serve.output()}\n${worker.output()}`;
    const masterKey = c.env().QUORUM_MASTER_KEY!;
    for (const [what, secret] of [
      ['password', password],
      ['API key', owner.api_key],
      ['API key secret part', owner.api_key.slice(-20)],
      ['access token', session.access_token],
      ['refresh token', session.refresh_token],
      ['master key', masterKey],
    ] as const) {
      expect(text.includes(secret), `${what} found in the logs`).toBe(false);
    }
    expect(text).toContain('"msg":"request completed"');
  });

  it("a worker process's own /metrics port: jobs, reviews, heartbeats, singletons, queue, pools", async () => {
    const r = await fetch(`${workerMetrics}/metrics`);
    expect(r.status).toBe(200);
    const text = await r.text();
    // The review ran in one of the two worker-capable processes; the cluster-wide series are everywhere.
    expect(text).toMatch(/quorum_worker_heartbeats_total\{result="ok"\} [1-9]/);
    expect(text).toMatch(/quorum_singleton_held\{name="dead-worker-sweeper"\} [01]/);
    expect(text).toMatch(/quorum_workers\{state="live"\} 2/);
    expect(text).toMatch(/quorum_db_pool_connections\{pool="app",state="total"\} \d+/);
    expect(text).toMatch(/quorum_queue_jobs|# HELP quorum_queue_jobs/);
    expect(text).toMatch(/quorum_worker_heartbeat_age_seconds\{worker="worker-/);
    expect(text).toMatch(/quorum_worktree_disk_used_ratio 0\.\d+/);
    expect((await fetch(`${workerMetrics}/healthz`)).status).toBe(200);
    expect((await fetch(`${workerMetrics}/other`)).status).toBe(404);

    const api = await http(serve, 'GET', '/metrics', { key: owner.api_key });
    const both = `${api.text}\n${text}`;
    expect(both).toMatch(/quorum_jobs_total\{task="run_review",outcome="success"\} 1/);
    expect(both).toMatch(/quorum_reviews_total\{org="[^"]+",project="[^"]+",status="completed"\} 1/);
    expect(both).toMatch(/quorum_review_duration_seconds_count\{org="[^"]+",project="[^"]+"\} 1/);
    expect(api.text).toMatch(/quorum_http_requests_total\{method="POST",route="\/v1\/review\/async",status="202"\} 1/);
    expect(api.text).toMatch(/quorum_db_up 1/);
    // Exactly one process holds each singleton.
    const held = [api.text, text].map((t) => Number(/quorum_singleton_held\{name="dead-worker-sweeper"\} (\d)/.exec(t)?.[1] ?? 0));
    expect(held[0]! + held[1]!).toBe(1);
  });

  it('/health/detailed of a serve process: its worker and singletons, the cluster, versions', async () => {
    const h = await http(serve, 'GET', '/health/detailed', { key: owner.api_key });
    expect(h.status, h.text).toBe(200);
    expect(h.body.process).toMatchObject({ role: 'server+worker', pid: serve.child.pid, database_reachable: true });
    expect(h.body.process.worker).toMatchObject({ concurrency: expect.any(Number), running_jobs: expect.any(Number) });
    expect(h.body.process.worker.singletons.map((s: { name: string }) => s.name)).toContain('dead-worker-sweeper');
    expect(h.body.workers).toHaveLength(2);
    expect(h.body.singletons.find((s: { name: string }) => s.name === 'dead-worker-sweeper')).toMatchObject({ waiting: 1 });
    expect(h.body.versions).toMatchObject({ quorum: expect.any(String), node: process.version, postgres: expect.stringMatching(/^\d+/) });
    expect(h.body.queue).toEqual(expect.any(Array));
  });
});
