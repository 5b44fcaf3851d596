import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, followSse, http, mirrorGit, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo } from '../helpers/git.js';
import type { Proc } from '../helpers/process.js';
import { generatedDiff } from './diffs.js';

/**
 * SIGTERM with real processes, mid-review:
 *  - a worker with a long enough grace period finishes the review itself, takes no new job while
 *    stopping, and exits 0;
 *  - a worker whose grace period runs out hands the review back: another worker completes it from
 *    the checkpoints (no reviewer re-run, no duplicated finding), and the first still exits 0;
 *  - an API process stops accepting, ends its event streams (the client resumes on another API
 *    with Last-Event-ID, without a gap) and exits 0.
 * Every case ends with no worktree lease, no checkout on disk, no job left in the queue.
 */
const FAST = { QUORUM_WORKER_HEARTBEAT_MS: '200', QUORUM_WORKER_LAPSE_MS: '1500', QUORUM_SWEEP_INTERVAL_MS: '300' };
const PANEL = ['correctness', 'maintainability', 'performance', 'security', 'tests'];

describe('graceful shutdown (SIGTERM) with real processes', () => {
  let c: Cluster;
  let api: ApiProc;
  let api2: ApiProc;
  let owner: Creds;
  let projectId: string;
  let repo: string;
  // Large enough that the panel outlasts a 300 ms grace after its first checkpoint (grown below if not).
  let files = 400;
  const reference = new Map<number, number>();

  beforeAll(async () => {
    c = await Cluster.start(FAST);
    [api, api2] = await Promise.all([c.startApi(), c.startApi()]);
    owner = await c.bootstrap('owner@sigterm.test', 'Sigterm');
    repo = await makeRepo({ 'src/app.ts': 'export const app = 1;\n' });
    const p = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: 'proj', repo_url: repo } });
    expect(p.status, p.text).toBe(201);
    projectId = p.body.id;
  });
  afterAll(async () => {
    await c?.close();
    if (repo) await fs.rm(repo, { recursive: true, force: true });
  });

  const start = async (n: number): Promise<string> => {
    const r = await http(api, 'POST', '/v1/review/async', { key: owner.api_key, body: { project_id: 'proj', task_id: `sigterm-${n}`, target: { diff: generatedDiff(n) } } });
    expect(r.status, r.text).toBe(202);
    return r.body.id as string;
  };
  const terminal = (id: string, timeoutMs = 90_000) =>
    c.until(`review ${id} terminal`, async () => {
      const [r] = await c.q(`select status, attempts, error from reviews where id = $1`, [id]);
      return r && ['completed', 'failed', 'cancelled'].includes(r.status) ? r : undefined;
    }, timeoutMs);
  const firstCheckpoint = (id: string) =>
    c.until(`a reviewer.completed of ${id}`, async () => (await c.q(`select 1 from events where review_id = $1 and type in ('reviewer.completed', 'review.completed') limit 1`, [id])).length > 0, 60_000);
  const events = (id: string) => c.q(`select id, type, payload from events where review_id = $1 order by id`, [id]);
  const findings = async (id: string) => (await c.q(`select count(*)::int as n from findings where review_id = $1`, [id]))[0].n as number;
  const clean = async () => {
    await c.until('no worktree lease', async () => (await c.q('select 1 from worktree_leases')).length === 0, 30_000);
    expect(await c.worktreeDirs()).toEqual([]);
    expect(mirrorGit(c.mirrorPath(owner.org_id, projectId), 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
    await c.until('the queue empty', async () => (await c.q(`select 1 from graphile_worker.jobs where task_identifier = 'run_review'`)).length === 0, 30_000);
  };
  const calibrate = async (n: number, worker: Proc) => {
    if (reference.has(n)) return reference.get(n)!;
    void worker;
    const t0 = Date.now();
    const id = await start(n);
    expect((await terminal(id)).status).toBe('completed');
    reference.set(n, await findings(id));
    console.log(`sigterm: uncrashed review of ${n} files: ${Date.now() - t0} ms, ${reference.get(n)} findings`);
    return reference.get(n)!;
  };
  const ownerOf = async (id: string) => {
    const [l] = await c.q(`select owner from worktree_leases where review_id = $1`, [id]);
    return l?.owner as string | undefined;
  };

  it('long enough grace: the worker finishes its review, takes no new job while stopping, exits 0', async () => {
    const w1 = await c.startWorker({ QUORUM_SHUTDOWN_GRACE_MS: '120000' });
    const ref = await calibrate(files, w1);
    const id = await start(files);
    await firstCheckpoint(id);
    const [{ worker_id: w1Id }] = await c.q(`select worker_id from worker_heartbeats where pid = $1`, [w1.child.pid]);
    expect(await ownerOf(id)).toBe(w1Id);
    const stopping = c.stop(w1, 'SIGTERM', 120_000);
    await w1.waitFor(/"msg":"shutting down gracefully"/, 10_000);
    // Submitted while w1 stops: w1 must not take it.
    const later = await start(1);
    const code = await stopping;
    expect(code).toBe(0);
    const r = await terminal(id);
    expect(r.status, JSON.stringify(r.error)).toBe('completed');
    expect(r.attempts).toBe(1); // finished by w1, not handed back
    expect(await findings(id)).toBe(ref);
    expect((await c.q(`select status from reviews where id = $1`, [later]))[0].status).toBe('queued');
    expect(w1.output()).not.toContain('handed back on shutdown');

    // The queued review waits for the next worker, which completes it.
    const w2 = await c.startWorker();
    expect((await terminal(later)).status).toBe('completed');
    await c.stop(w2, 'SIGTERM');
    await clean();
  }, 300_000);

  it('grace runs out: the review is handed back, another worker completes it from its checkpoints; exit 0', async () => {
    for (let grown = 0; ; grown++) {
      const w3 = await c.startWorker({ QUORUM_SHUTDOWN_GRACE_MS: '300' });
      const ref = await calibrate(files, w3);
      const id = await start(files);
      await firstCheckpoint(id);
      const [{ worker_id: w3Id }] = await c.q(`select worker_id from worker_heartbeats where pid = $1`, [w3.child.pid]);
      expect(await ownerOf(id)).toBe(w3Id);
      const code = await c.stop(w3, 'SIGTERM', 60_000);
      expect(code).toBe(0);
      const atStop = await c.q<{ reviewer: string }>(`select reviewer from reviewer_runs where review_id = $1`, [id]);
      const finishedEarly = (await c.q(`select 1 from events where review_id = $1 and type = 'review.completed'`, [id])).length > 0;
      const w4 = await c.startWorker();
      const r = await terminal(id);
      expect(r.status, JSON.stringify(r.error)).toBe('completed');
      await c.stop(w4, 'SIGTERM');
      if (finishedEarly || atStop.length === PANEL.length) {
        expect(grown, `a review of ${files} files still finished within 300 ms of SIGTERM`).toBeLessThan(3);
        files *= 2;
        continue;
      }
      expect(w3.output()).toContain('handed back on shutdown');
      expect(r.attempts).toBe(2);
      const ev = await events(id);
      const started = ev.filter((e) => e.type === 'review.started');
      expect(started).toHaveLength(2);
      expect(started[1]!.payload).toMatchObject({ resumed: atStop.length > 0, completed: atStop.length });
      const second = ev.filter((e) => Number(e.id) > Number(started[1]!.id));
      const done = new Set(atStop.map((x) => x.reviewer));
      // Only the reviewers that had not checkpointed ran again; each completed exactly once.
      expect(second.filter((e) => e.type === 'reviewer.started').map((e) => e.payload.reviewer).sort()).toEqual(PANEL.filter((p) => !done.has(p)));
      for (const p of PANEL) expect(ev.filter((e) => e.type === 'reviewer.completed' && e.payload.reviewer === p)).toHaveLength(1);
      expect(ev.filter((e) => e.type === 'review.completed')).toHaveLength(1);
      expect(await c.q(`select fingerprint, line_start from findings where review_id = $1 group by 1, 2 having count(*) > 1`, [id])).toEqual([]);
      expect(await findings(id)).toBe(ref);
      console.log(`sigterm: handed back after ${atStop.length}/5 reviewers; completed by another worker (attempt 2), ${ref} findings, none duplicated`);
      break;
    }
    await clean();
  }, 300_000);

  it('an API process stops accepting and ends its streams; the client resumes on another API without a gap; exit 0', async () => {
    const w = await c.startWorker();
    const id = await start(Math.round(files / 2));
    // The client follows the stream on `api`, then on api2 after api goes away.
    const sse = followSse([api, api2], id, owner.api_key, { timeoutMs: 120_000 });
    await c.until('the stream to deliver an event', async () => sse.events.length > 0, 30_000);
    const code = await c.stop(api, 'SIGTERM', 30_000);
    expect(code).toBe(0);
    expect(api.output()).toContain('"msg":"shutdown complete"');
    // The port is closed: no new request is accepted.
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
    const got = await sse.done;
    expect(sse.reconnects()).toBeGreaterThanOrEqual(1);
    const rows = await events(id);
    expect(got.map((e) => e.id)).toEqual(rows.map((e) => String(e.id)));
    expect(got.at(-1)!.type).toBe('review.completed');
    await c.stop(w, 'SIGTERM');
    await clean();
  }, 300_000);
});
