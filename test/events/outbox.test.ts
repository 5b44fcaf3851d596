import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOut } from '../../src/core/events/catalogue.js';
import { emitEvent, InvalidEventError } from '../../src/core/events/emit.js';
import { followEvents } from '../../src/core/events/follow.js';
import { readEvents } from '../../src/core/events/read.js';
import { waitForEvent } from '../../src/core/events/wait-for.js';
import { withTenant } from '../../src/db/client.js';
import { buildEventsApp, createCluster, emit, newReview, setupReview, type Cluster, type Proc, type ReviewFixture } from './helpers.js';

/** Collects what a follower delivers; resolves `reached(n)` once n events arrived. */
function collector() {
  const got: EventOut[] = [];
  let waiters: Array<() => void> = [];
  return {
    got,
    sink: (events: EventOut[]) => {
      got.push(...events);
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    },
    async reached(n: number) {
      while (got.length < n) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

describe('event outbox, catalogue and hub', () => {
  let c: Cluster;
  let p: Proc;
  let app: FastifyInstance;
  let f: ReviewFixture;
  beforeAll(async () => {
    c = await createCluster(1);
    p = c.procs[0]!;
    app = (await buildEventsApp(p)).app;
    f = await setupReview(p, app, c.admin, 'outbox@a.test');
  });
  afterAll(async () => {
    await app.close();
    await c.close();
  });

  it('validates payloads against the catalogue and writes the envelope (version, correlation id) in the caller transaction', async () => {
    const ctx = { orgId: f.owner.org_id, correlationId: 'corr-1' };
    const bad = [
      { type: 'reviewer.completed', payload: { reviewer: 'security', completed: 1, total: 5, findings: 2 } }, // no status
      { type: 'review.completed', payload: { score: 1, verdict: 'maybe', findings: 0 } },
      { type: 'review.started', payload: { surprise: true } }, // unknown field
      { type: 'review.exploded', payload: {} },
    ];
    for (const b of bad) {
      await expect(
        withTenant(p.deps.db, f.owner.org_id, (tx) => emitEvent(tx, ctx, { ...(b as { type: 'review.started'; payload: { attempt?: number } }), projectId: f.projectId, reviewId: f.reviewId })),
      ).rejects.toBeInstanceOf(InvalidEventError);
    }
    await expect(
      withTenant(p.deps.db, f.owner.org_id, (tx) => emitEvent(tx, ctx, { type: 'review.started', payload: {}, projectId: f.projectId })),
    ).rejects.toThrow(/needs a review id/);
    expect((await c.admin.query('select count(*)::int as n from events')).rows[0].n).toBe(0);

    const ok = await withTenant(p.deps.db, f.owner.org_id, (tx) =>
      emitEvent(tx, ctx, { type: 'reviewer.completed', payload: { reviewer: 'security', completed: 3, total: 5, findings: 2, status: 'completed' }, projectId: f.projectId, reviewId: f.reviewId }),
    );
    const row = (await c.admin.query('select * from events where id = $1', [ok.id])).rows[0];
    expect(row).toMatchObject({ org_id: f.owner.org_id, project_id: f.projectId, review_id: f.reviewId, type: 'reviewer.completed', version: 1, correlation_id: 'corr-1' });
    expect(row.payload).toEqual({ reviewer: 'security', completed: 3, total: 5, findings: 2, status: 'completed' });
    const read = await readEvents(p.deps, f.owner.org_id, { reviewId: f.reviewId, afterId: '0' });
    expect(read.map((e) => e.id)).toEqual([ok.id]);
    expect(read[0]).toMatchObject({ type: 'reviewer.completed', version: 1, correlation_id: 'corr-1', payload: row.payload });
  });

  it('another tenant cannot write or read an org’s events (RLS)', async () => {
    const other = await setupReview(p, app, c.admin, 'outbox-other@b.test');
    // Writing org A's event inside org B's transaction is refused by the policy's WITH CHECK.
    await expect(
      withTenant(p.deps.db, other.owner.org_id, (tx) =>
        emitEvent(tx, { orgId: f.owner.org_id }, { type: 'review.queued', payload: {}, projectId: f.projectId, reviewId: f.reviewId }),
      ),
    ).rejects.toThrow(/row-level security/);
    expect(await readEvents(p.deps, other.owner.org_id, { reviewId: f.reviewId, afterId: '0' })).toEqual([]);
  });

  it('(a) an event emitted in a rolled-back transaction is never stored nor delivered', async () => {
    const review = await newReview(c.admin, f.owner, f.projectId);
    const r = { ...f, reviewId: review };
    const col = collector();
    const fl = followEvents(p.deps, p.hub, { orgId: f.owner.org_id, reviewId: review, afterId: '0', untilTerminal: true }, col.sink);
    await expect(
      withTenant(p.deps.db, f.owner.org_id, async (tx) => {
        await emitEvent(tx, { orgId: f.owner.org_id }, { type: 'review.started', payload: { attempt: 99 }, projectId: f.projectId, reviewId: review });
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    const kept = await emit(p, r, 'review.started', { attempt: 1 });
    const done = await emit(p, r, 'review.completed', { score: 0, verdict: 'pass', findings: 0 });
    expect(await fl.done).toBe('terminal');
    expect(col.got.map((e) => e.id)).toEqual([kept.id, done.id]);
    expect(col.got.some((e) => e.payload.attempt === 99)).toBe(false);
    const rows = await c.admin.query('select type, payload from events where review_id = $1 order by id', [review]);
    expect(rows.rows.map((x) => x.payload.attempt ?? x.type)).toEqual([1, 'review.completed']);
  });

  it('a slow writer cannot be overtaken: ids of one review become visible in order (stream lock)', async () => {
    const review = await newReview(c.admin, f.owner, f.projectId);
    const r = { ...f, reviewId: review };
    const col = collector();
    const fl = followEvents(p.deps, p.hub, { orgId: f.owner.org_id, reviewId: review, afterId: '0', untilTerminal: true }, col.sink);
    // T1 takes the lower id and holds its transaction open; T2 inserts after it and commits first.
    let t1Inserted!: () => void;
    const inserted = new Promise<void>((res) => (t1Inserted = res));
    const t1 = withTenant(p.deps.db, f.owner.org_id, async (tx) => {
      const e = await emitEvent(tx, { orgId: f.owner.org_id }, { type: 'reviewer.started', payload: { reviewer: 'slow', completed: 0, total: 2 }, projectId: f.projectId, reviewId: review });
      t1Inserted();
      await sql`select pg_sleep(0.3)`.execute(tx);
      return e;
    });
    await inserted;
    const t2 = emit(p, r, 'reviewer.started', { reviewer: 'fast', completed: 0, total: 2 });
    const [e1, e2] = await Promise.all([t1, t2]);
    expect(BigInt(e1.id)).toBeLessThan(BigInt(e2.id));
    await emit(p, r, 'review.cancelled', {});
    expect(await fl.done).toBe('terminal');
    expect(col.got.map((e) => e.payload.reviewer ?? e.type)).toEqual(['slow', 'fast', 'review.cancelled']);
  });

  it('waitFor finds an event already in the table, waits for a future one, and times out with null', async () => {
    const review = await newReview(c.admin, f.owner, f.projectId);
    const r = { ...f, reviewId: review };
    const started = await emit(p, r, 'review.started', {});
    const deps = { ...p.deps, events: p.hub };
    const existing = await waitForEvent(deps, f.owner.org_id, review, (e) => e.type === 'review.started', 5_000);
    expect(existing?.id).toBe(started.id);

    const pending = waitForEvent(deps, f.owner.org_id, review, (e) => e.type === 'review.completed', 10_000);
    const t0 = Date.now();
    const done = await emit(p, r, 'review.completed', { score: 4.2, verdict: 'comment', findings: 3 });
    const got = await pending;
    expect(got).toMatchObject({ id: done.id, type: 'review.completed', payload: { score: 4.2, verdict: 'comment', findings: 3 } });
    // Woken by NOTIFY, not found by the 2 s safety re-read.
    expect(Date.now() - t0).toBeLessThan(1_500);

    const none = await p.hub.waitFor(f.owner.org_id, review, (e) => e.type === 'review.failed', 200);
    expect(none).toBeNull();
    expect(p.hub.subscriberCount).toBe(0);
  });
});
