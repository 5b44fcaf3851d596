import fs from 'node:fs/promises';
import { expect } from 'vitest';
import { Cluster, followSse, http, percentile, type ApiProc, type Creds, type SseFollower } from '../helpers/cluster.js';
import { makeRepo } from '../helpers/git.js';
import type { Proc } from '../helpers/process.js';
import { smallDiff } from '../cluster/diffs.js';

export interface LoadOptions {
  apis: number;
  workers: number;
  /** Jobs each worker process runs at once. */
  concurrency: number;
  reviews: number;
  projects: number;
  /** Label for the printed report. */
  label: string;
}

export interface LoadResult {
  wallMs: number;
  perMinute: number;
  latency: { p50: number; p99: number; max: number };
  queueWait: { p50: number; p99: number };
  run: { p50: number; p99: number };
}

/**
 * The seed's NFR load test with real processes: `apis` API processes and `workers` worker
 * processes on one PostgreSQL; `reviews` reviews submitted at once (async, round-robin over the
 * APIs, spread over `projects` projects with a repository each, so every review makes a worktree);
 * an SSE client follows each review. Asserts 100 % accepted and completed, identical findings for
 * identical diffs, no worktree left; prints throughput and latency percentiles.
 */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const c = await Cluster.start({ QUORUM_WORKER_CONCURRENCY: String(o.concurrency), QUORUM_DB_POOL_SIZE: '20' });
  const repos: string[] = [];
  try {
    const apis: ApiProc[] = [await c.startApi()]; // the first one migrates
    apis.push(...(await Promise.all(Array.from({ length: o.apis - 1 }, () => c.startApi()))));
    const workers: Proc[] = await Promise.all(Array.from({ length: o.workers }, () => c.startWorker()));
    const owner: Creds = await c.bootstrap('load@quorum.test', 'Load');
    for (let p = 0; p < o.projects; p++) {
      const repo = await makeRepo({ 'src/app.ts': `export const app = ${p};\n` });
      repos.push(repo);
      const r = await http(apis[p % apis.length]!, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: `p${p}`, repo_url: repo } });
      expect(r.status, r.text).toBe(201);
    }

    const t0 = performance.now();
    const submitted = await Promise.all(
      Array.from({ length: o.reviews }, async (_, i) => {
        const api = apis[i % apis.length]!;
        const start = performance.now();
        const r = await http(api, 'POST', '/v1/review/async', {
          key: owner.api_key,
          body: { project_id: `p${i % o.projects}`, task_id: `load-${i}`, target: { diff: smallDiff(i) } },
        });
        expect(r.status, r.text).toBe(202);
        const sse: SseFollower = followSse([api, ...apis.filter((a) => a !== api)], r.body.id, owner.api_key, { timeoutMs: 600_000 });
        return { id: r.body.id as string, start, sse };
      }),
    );
    const finished = await Promise.all(
      submitted.map(async (s) => {
        const events = await s.sse.done;
        return { ...s, ms: performance.now() - s.start, last: events.at(-1)!.type, events };
      }),
    );
    const wallMs = performance.now() - t0;

    expect(finished.filter((f) => f.last !== 'review.completed').map((f) => `${f.id}: ${f.last}`)).toEqual([]);
    const rows = await c.q(
      `select id, status, (extract(epoch from started_at - created_at) * 1000)::int as wait_ms,
              (extract(epoch from completed_at - started_at) * 1000)::int as run_ms
         from reviews where id = any($1::uuid[])`,
      [finished.map((f) => f.id)],
    );
    expect(rows).toHaveLength(o.reviews);
    expect(rows.filter((r) => r.status !== 'completed')).toEqual([]);
    // Same-shaped diffs give the same findings: none lost, none duplicated.
    const counts = await c.q(`select count(*)::int as n from findings where review_id = any($1::uuid[]) group by review_id`, [finished.map((f) => f.id)]);
    expect(new Set(counts.map((x) => x.n)).size, JSON.stringify(counts)).toBe(1);
    // Every event reached its SSE client, in order, exactly once.
    for (const f of finished) {
      const ev = await c.q(`select id from events where review_id = $1 order by id`, [f.id]);
      expect(f.events.map((e) => e.id)).toEqual(ev.map((e) => String(e.id)));
    }
    await c.until('no lease left', async () => (await c.q('select 1 from worktree_leases')).length === 0, 30_000);
    expect(await c.worktreeDirs()).toEqual([]);
    expect(await c.q(`select 1 from graphile_worker.jobs where task_identifier = 'run_review'`)).toEqual([]);
    for (const w of workers) expect(w.child.exitCode).toBeNull();

    const lat = finished.map((f) => f.ms);
    const result: LoadResult = {
      wallMs,
      perMinute: (o.reviews / wallMs) * 60_000,
      latency: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat) },
      queueWait: { p50: percentile(rows.map((r) => r.wait_ms), 50), p99: percentile(rows.map((r) => r.wait_ms), 99) },
      run: { p50: percentile(rows.map((r) => r.run_ms), 50), p99: percentile(rows.map((r) => r.run_ms), 99) },
    };
    console.log(
      [
        '',
        `load (${o.label}): ${o.apis} API + ${o.workers} worker processes (concurrency ${o.concurrency} each), ${o.reviews} concurrent reviews over ${o.projects} projects, built-in panel, worktree per review`,
        `  success            ${o.reviews}/${o.reviews} accepted (202), ${rows.length}/${o.reviews} completed, every SSE stream complete and in order`,
        `  throughput         ${result.perMinute.toFixed(1)} reviews/min (${(wallMs / 1000).toFixed(1)} s wall)`,
        `  latency (submit → review.completed on the SSE stream)   p50 ${result.latency.p50.toFixed(0)} ms   p99 ${result.latency.p99.toFixed(0)} ms   max ${result.latency.max.toFixed(0)} ms`,
        `  queue wait (created → started)                          p50 ${result.queueWait.p50} ms   p99 ${result.queueWait.p99} ms`,
        `  run time (started → completed)                           p50 ${result.run.p50} ms   p99 ${result.run.p99} ms`,
        '',
      ].join('\n'),
    );
    return result;
  } finally {
    await c.close();
    for (const r of repos) await fs.rm(r, { recursive: true, force: true });
  }
}
