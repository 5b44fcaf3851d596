import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emitEvent } from '../../src/core/events/emit.js';
import { withTenant } from '../../src/db/client.js';
import { buildEventsApp, createCluster, emit, newReview, setupReview, SseClient, type Cluster, type Proc, type ReviewFixture } from './helpers.js';

// `ws` ships without type declarations (it is @fastify/websocket's dependency); this is all we use.
interface WsClient {
  on(ev: 'message', fn: (data: Buffer) => void): void;
  on(ev: 'close', fn: (code: number, reason: Buffer) => void): void;
  on(ev: 'unexpected-response', fn: (req: unknown, res: { statusCode: number }) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  on(ev: 'open', fn: () => void): void;
  close(): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string, opts?: { headers?: Record<string, string> }) => WsClient;

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

describe('GET /v1/reviews/:id/events across processes (SSE, WebSocket, JSON)', () => {
  let c: Cluster;
  let a: Proc; // the API process the client is connected to
  let b: Proc; // another process (a worker) making progress
  let app: FastifyInstance;
  let base: string;
  let f: ReviewFixture;
  let h: Record<string, string>;
  const url = (review: string, q = '') => `${base}/v1/reviews/${review}/events${q}`;
  const fresh = async () => ({ ...f, reviewId: await newReview(c.admin, f.owner, f.projectId) });

  beforeAll(async () => {
    c = await createCluster(2);
    [a, b] = [c.procs[0]!, c.procs[1]!];
    ({ app, base } = await buildEventsApp(a));
    f = await setupReview(a, app, c.admin, 'stream@a.test');
    h = { 'x-api-key': f.owner.api_key };
  });
  afterAll(async () => {
    await app?.close();
    await c?.close();
  });

  it('(b) an SSE client on process A gets, in order and with no gap, events written concurrently by process B; then the stream ends', async () => {
    const r = await fresh();
    const sse = new SseClient(url(r.reviewId), h);
    await sse.until((s) => s.status !== 0, 'headers');
    expect(sse.status).toBe(200);
    expect(sse.headers?.['content-type']).toMatch(/^text\/event-stream/);
    await emit(b, r, 'review.started', { attempt: 1 });
    // Five reviewers finishing at the same time, each in its own transaction, as a worker does.
    await Promise.all(
      ['security', 'correctness', 'performance', 'maintainability', 'tests'].map((reviewer, i) =>
        emit(b, r, 'reviewer.completed', { reviewer, completed: i + 1, total: 5, findings: i, status: 'completed' }),
      ),
    );
    await emit(b, r, 'review.completed', { score: 3.5, verdict: 'comment', findings: 10 });
    await sse.finished;
    const rows = (await c.admin.query('select id::text as id, type from events where review_id = $1 order by events.id', [r.reviewId])).rows;
    expect(rows).toHaveLength(7);
    expect(sse.events.map((e) => e.id)).toEqual(rows.map((x) => x.id));
    expect(sse.events.map((e) => e.event)).toEqual(rows.map((x) => x.type));
    expect(sse.events[6]!.data).toMatchObject({ type: 'review.completed', version: 1, org_id: f.owner.org_id, project_id: f.projectId, review_id: r.reviewId, correlation_id: 'corr-test', payload: { score: 3.5, verdict: 'comment', findings: 10 } });
    expect(sse.ended).toBe(true);
  });

  it('(c) replays what happened before the client connected, then streams live; Last-Event-ID and ?after resume after that id', async () => {
    const r = await fresh();
    const before = [await emit(b, r, 'review.queued', { task_id: 'test', priority: 'normal' }), await emit(b, r, 'review.started', {})];
    const sse = new SseClient(url(r.reviewId), h);
    await sse.count(2);
    expect(sse.events.map((e) => e.id)).toEqual(before.map((e) => e.id));
    const live = await emit(b, r, 'reviewer.started', { reviewer: 'security', completed: 0, total: 5 });
    await sse.count(3);
    expect(sse.events[2]!.id).toBe(live.id);
    sse.close();
    await sse.finished;

    const resumed = new SseClient(url(r.reviewId), { ...h, 'last-event-id': before[1]!.id });
    const viaQuery = new SseClient(url(r.reviewId, `?after=${before[0]!.id}`), h);
    await resumed.count(1);
    await viaQuery.count(2);
    const end = await emit(b, r, 'review.failed', { error: { code: 'provider_error', message: 'upstream 500' } });
    await Promise.all([resumed.finished, viaQuery.finished]);
    expect(resumed.events.map((e) => e.id)).toEqual([live.id, end.id]);
    expect(viaQuery.events.map((e) => e.id)).toEqual([before[1]!.id, live.id, end.id]);

    // A finished review: the whole history, then the stream closes by itself.
    const late = new SseClient(url(r.reviewId), h);
    await late.finished;
    expect(late.events.map((e) => e.event)).toEqual(['review.queued', 'review.started', 'reviewer.started', 'review.failed']);

    const json = await app.inject({ url: `/v1/reviews/${r.reviewId}/events?format=json&after=${before[0]!.id}&limit=2`, headers: h });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({ last_id: live.id, has_more: true });
    expect(json.json().items.map((e: { id: string }) => e.id)).toEqual([before[1]!.id, live.id]);
  });

  it('(d) a WebSocket on the same path receives the same sequence, replay included, and is closed with 1000 after the terminal event', async () => {
    const r = await fresh();
    const first = await emit(b, r, 'review.started', {});
    const got: Array<{ id: string; type: string }> = [];
    let onMsg = () => {};
    const ws = new WebSocket(url(r.reviewId).replace(/^http/, 'ws'), { headers: h });
    ws.on('message', (d) => {
      got.push(JSON.parse(d.toString()));
      onMsg();
    });
    const closed = new Promise<number>((res) => ws.on('close', (code) => res(code)));
    await new Promise<void>((res) => (onMsg = res));
    expect(got.map((e) => e.id)).toEqual([first.id]);
    await Promise.all([1, 2, 3].map((i) => emit(b, r, 'reviewer.completed', { reviewer: `r${i}`, completed: i, total: 3, findings: 0, status: 'completed' })));
    await emit(b, r, 'review.cancelled', { reason: 'user asked' });
    expect(await closed).toBe(1000);
    const rows = (await c.admin.query('select id::text as id from events where review_id = $1 order by events.id', [r.reviewId])).rows;
    expect(got.map((e) => e.id)).toEqual(rows.map((x) => x.id));
    expect(got.at(-1)).toMatchObject({ type: 'review.cancelled', payload: { reason: 'user asked' } });
  });

  it("(e) another org's review is a 404 and no credentials a 401, for SSE, WebSocket and JSON; a bad cursor is a 400", async () => {
    const other = await setupReview(a, app, c.admin, 'stream-other@b.test');
    await emit(b, other, 'review.started', {});
    for (const q of ['', '?format=json']) {
      const res = await fetch(url(other.reviewId, q), { headers: { ...h, accept: 'text/event-stream' } });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
      expect((await fetch(url(other.reviewId, q))).status).toBe(401);
    }
    expect((await app.inject({ url: '/v1/reviews/not-a-uuid/events', headers: h })).statusCode).toBe(404);
    const wsStatus = (headers: Record<string, string>) =>
      new Promise<number>((res) => {
        const ws = new WebSocket(url(other.reviewId).replace(/^http/, 'ws'), { headers });
        ws.on('unexpected-response', (_req, resp) => res(resp.statusCode));
        ws.on('open', () => res(101));
        ws.on('error', () => {});
      });
    expect(await wsStatus(h)).toBe(404);
    expect(await wsStatus({})).toBe(401);
    const bad = await app.inject({ url: `/v1/reviews/${f.reviewId}/events`, headers: { ...h, 'last-event-id': 'abc' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');
    const huge = await app.inject({ url: `/v1/reviews/${f.reviewId}/events?format=json&after=99999999999999999999`, headers: h });
    expect(huge.statusCode).toBe(400);
  });

  it('(f) when the LISTEN connection is killed the hub reconnects, and the subscriber still gets every event', async () => {
    const r = await fresh();
    const sse = new SseClient(url(r.reviewId), h);
    const e1 = await emit(b, r, 'review.started', {});
    await sse.count(1);
    const oldPid = a.hub.backendPid!;
    const disconnected = new Promise<void>((res) => a.hub.once('disconnected', () => res()));
    const reconnected = new Promise<number>((res) => a.hub.once('connected', (pid: number) => res(pid)));
    const killed = await c.admin.query('select pg_terminate_backend($1) as ok', [oldPid]);
    expect(killed.rows[0].ok).toBe(true);
    await disconnected;
    // Written while process A listens to nothing: their NOTIFYs are lost. Only the re-read that the
    // hub triggers on reconnect can deliver them before the 15 s heartbeat re-read would.
    const during = await withTenant(b.deps.db, r.owner.org_id, async (tx) => {
      const ids = [];
      for (let i = 1; i <= 5; i++) {
        ids.push(await emitEvent(tx, { orgId: r.owner.org_id }, { type: 'reviewer.completed', payload: { reviewer: `d${i}`, completed: i, total: 10, findings: 0, status: 'completed' }, projectId: r.projectId, reviewId: r.reviewId }));
      }
      return ids;
    });
    const committedAt = performance.now();
    const newPid = await reconnected;
    const reconnectedAt = performance.now();
    expect(committedAt).toBeLessThan(reconnectedAt);
    expect(newPid).not.toBe(oldPid);
    await sse.count(6);
    expect(sse.events.at(-1)!.at - reconnectedAt).toBeLessThan(5_000);
    const after = [];
    for (let i = 6; i <= 10; i++) after.push(await emit(b, r, 'reviewer.completed', { reviewer: `d${i}`, completed: i, total: 10, findings: 0, status: 'completed' }));
    const end = await emit(b, r, 'review.completed', { score: 0, verdict: 'pass', findings: 0 });
    await sse.finished;
    expect(sse.events.map((e) => e.id)).toEqual([e1, ...during, ...after, end].map((e) => e.id));
    // Process A listens on its new connection (the killed backend may still be exiting; under load a
    // second test runtime's hub can share the application name, so this checks membership only).
    const listeners = await c.admin.query(`select pid from pg_stat_activity where application_name = 'quorum-events-0' and pid <> $1`, [oldPid]);
    expect(listeners.rows.map((x) => x.pid)).toContain(newPid);
  });

  it('(g) a burst of 1000 events from another process is delivered completely and in order', async () => {
    const r = await fresh();
    const sse = new SseClient(url(r.reviewId), h);
    await sse.until((s) => s.status === 200, 'headers');
    const n = 1000;
    let next = 0;
    // Four concurrent writers, ten events per transaction, as parallel reviewers would write them.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < n) {
          const from = next;
          next += 10;
          await withTenant(b.deps.db, r.owner.org_id, async (tx) => {
            for (let i = from; i < from + 10; i++) {
              await emitEvent(tx, { orgId: r.owner.org_id }, { type: 'reviewer.started', payload: { reviewer: `r${i}`, completed: 0, total: n }, projectId: r.projectId, reviewId: r.reviewId });
            }
          });
        }
      }),
    );
    await emit(b, r, 'review.completed', { score: 1, verdict: 'pass', findings: 0 });
    await sse.finished;
    const rows = (await c.admin.query('select id::text as id from events where review_id = $1 order by events.id', [r.reviewId])).rows;
    expect(rows).toHaveLength(n + 1);
    expect(sse.events.map((e) => e.id)).toEqual(rows.map((x) => x.id));
  });

  it('latency from commit (process B) to SSE receipt (process A) over 200 events; heartbeat comments', async () => {
    const r = await fresh();
    const sse = new SseClient(url(r.reviewId), h);
    await sse.until((s) => s.status === 200, 'headers');
    const fromCommit: number[] = [];
    const fromEmit: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const e = await emit(b, r, 'reviewer.started', { reviewer: `r${i}`, completed: 0, total: 200 });
      await sse.count(i + 1);
      const got = sse.events[i]!;
      expect(got.id).toBe(e.id);
      fromEmit.push(got.at - t0);
      fromCommit.push(Math.max(0, got.at - e.committedAt));
    }
    const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
    console.log(`[events latency] commit→SSE receipt: ${fmt(fromCommit)}; emit call→receipt: ${fmt(fromEmit)}`);
    expect(percentile(fromCommit, 50)).toBeLessThan(100);
    // A client going away releases its subscription on the server.
    expect(a.hub.subscriberCount).toBe(1);
    sse.close();
    await sse.finished;
    await vi.waitFor(() => expect(a.hub.subscriberCount).toBe(0), { timeout: 5_000 });

    const quick = await buildEventsApp(a, { heartbeatMs: 50 });
    try {
      const s2 = new SseClient(`${quick.base}/v1/reviews/${r.reviewId}/events?after=${sse.events.at(-1)!.id}`, h);
      await s2.until((s) => s.comments.includes('ping'), 'a heartbeat');
      s2.close();
      await s2.finished;
    } finally {
      await quick.app.close();
    }
  });
});
