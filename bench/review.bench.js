// Reviews with the built-in panel on a fixed ~500-line diff: throughput at concurrency 1 and 10,
// and orchestration overhead of sync POST /v1/review (request → completed, minus the time spent
// inside reviewers, from reviewer_runs.duration_ms: for inline reviews each built-in reviewer's busy
// time — reading and analysing, not the event loop's turns between its slices; they share one
// thread, so their durations add up).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../dist/config.js';
import { openRuntime } from '../dist/main/runtime.js';
import { buildApp } from '../dist/adapters/http/app.js';
import { allRoutes } from '../dist/adapters/http/all-routes.js';
import { bootstrapOwner } from '../dist/core/tenancy/bootstrap.js';
import { startWorker } from '../dist/adapters/worker/runner.js';
import { StartReviewInput } from '../dist/core/review/review.schemas.js';
import { runSyncReview } from '../dist/core/review/run-sync-review.js';
import { startReview } from '../dist/core/review/start-review.js';
import { waitForReview } from '../dist/core/review/wait-for-review.js';

const SEQ = Number(process.env.BENCH_SEQUENTIAL ?? 100);
// A server runs warm: the first reviews of a process compile its hot code and prepare its
// statements on each pooled connection; they are measured apart ("cold") and not in the p50.
const WARM = Number(process.env.BENCH_WARMUP ?? 20);
const PAR = Number(process.env.BENCH_PARALLEL_TOTAL ?? 60);
const AB = Number(process.env.BENCH_AB ?? 20);

export function fixtureDiff() {
  const parts = [];
  for (let f = 0; f < 10; f++) {
    const lines = [];
    for (let i = 0; i < 49; i++) {
      if (i % 12 === 3) lines.push(`  const rows = await db.query("SELECT * FROM t${f} WHERE id = '" + req.params.id${i} + "'");`);
      else if (i % 12 === 7) lines.push(`  if (value${i} == null) { return compute${i}(value${i}); }`);
      else lines.push(`  const value${i} = transform(input.field${i}, ${i}); // step ${i}`);
    }
    const body = [`export async function handler${f}(req, db, input) {`, ...lines.slice(0, 48), '}'];
    parts.push(`diff --git a/src/mod${f}.ts b/src/mod${f}.ts`, 'new file mode 100644', '--- /dev/null', `+++ b/src/mod${f}.ts`, `@@ -0,0 +1,${body.length} @@`, ...body.map((l) => `+${l}`));
  }
  return parts.join('\n') + '\n';
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export default async function run() {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-bench-review-'));
  const config = loadConfig({}, { QUORUM_DATA_DIR: dataDir, QUORUM_LOG_LEVEL: 'silent', QUORUM_DB_POOL_SIZE: '30', QUORUM_WORKER_CONCURRENCY: '10' });
  // Logs are dropped, except the inline path's phase timings in the last pass (debug level).
  const timings = [];
  const capture = {
    write(line) {
      if (line.includes('"inline review timings"')) timings.push(JSON.parse(line).spans);
    },
  };
  const logger = pino({ level: 'silent' }, capture);
  const rt = await openRuntime(config, { logger, migrate: true });
  const owner = await bootstrapOwner(rt.deps, { email: 'bench@example.com', org: 'Bench' });
  const app = await buildApp(rt.deps, { version: 'bench', extraRoutes: allRoutes });
  await app.ready();
  const worker = await startWorker(rt, { concurrency: 10 });
  const headers = { 'x-api-key': owner.api_key };
  await app.inject({ method: 'POST', url: '/v1/projects', headers, payload: { slug: 'bench' } });
  const diff = fixtureDiff();
  const diffLines = diff.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++')).length;

  const one = async (i) => {
    const wall0 = Date.now();
    const t0 = performance.now();
    const res = await app.inject({ method: 'POST', url: '/v1/review', headers, payload: { project_id: 'bench', task_id: `b${i}`, target: { diff } } });
    const ms = performance.now() - t0;
    const wall1 = Date.now();
    const body = res.json();
    if (res.statusCode !== 200 || body.status !== 'completed') throw new Error(`review ${i}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    const { rows } = await rt.appPool.query('select 1'); // keep the pool warm symmetrical
    void rows;
    return { id: body.id, ms, wall0, wall1 };
  };
  const inside = async (ids) => {
    const c = await import('pg');
    const pool = new c.default.Pool({ connectionString: rt.adminUrl, max: 1 });
    const { rows } = await pool.query('select review_id, sum(duration_ms)::int as ms from reviewer_runs where review_id = any($1) group by review_id', [ids]);
    await pool.end();
    return new Map(rows.map((r) => [r.review_id, r.ms]));
  };
  // Where the time of a sync review goes, from the outbox: each event's created_at is the start of
  // the transaction that wrote it (now()), so consecutive events bound the phases between them.
  const phases = async (reviews) => {
    const c = await import('pg');
    const pool = new c.default.Pool({ connectionString: rt.adminUrl, max: 1 });
    const { rows } = await pool.query(
      `select review_id, type, (extract(epoch from created_at) * 1000)::float8 as at from events where review_id = any($1) order by id`,
      [reviews.map((r) => r.id)],
    );
    await pool.end();
    const by = new Map();
    for (const r of rows) (by.get(r.review_id) ?? by.set(r.review_id, []).get(r.review_id)).push(r);
    const spans = {};
    const add = (k, v) => (spans[k] ??= []).push(v);
    for (const rv of reviews) {
      const ev = by.get(rv.id) ?? [];
      const first = (t) => ev.find((e) => e.type === t)?.at;
      const last = (t) => ev.filter((e) => e.type === t).at(-1)?.at;
      const q = first('review.queued'), s = first('review.started'), rs = first('reviewer.started'), rc = last('reviewer.completed'), done = first('review.completed');
      if ([q, s, rs, rc, done].some((x) => x === undefined)) continue;
      add('request → queued tx', q - rv.wall0);
      add('queued → started (queue hop, claim)', s - q);
      add('started → reviewers', rs - s);
      add('reviewers + checkpoints', rc - rs);
      add('last checkpoint → finalize tx', done - rc);
      add('finalize tx → answer (files, knowledge, wait, re-read)', rv.wall1 - done);
    }
    return spans;
  };

  const warm = [];
  for (let i = 0; i < WARM; i++) warm.push(await one(`warm${i}`));
  const inWarm = await inside(warm.map((w) => w.id));
  const coldOverhead = warm.map((w) => w.ms - (inWarm.get(w.id) ?? 0));

  const seq = [];
  const t1 = performance.now();
  for (let i = 0; i < SEQ; i++) seq.push(await one(`s${i}`));
  const seqWall = performance.now() - t1;
  const inSeq = await inside(seq.map((s) => s.id));
  const overhead = seq.map((s) => s.ms - (inSeq.get(s.id) ?? 0));
  const reviewerMs = seq.map((s) => inSeq.get(s.id) ?? 0);

  let next = 0;
  const t2 = performance.now();
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < PAR) await one(`p${next++}`);
    }),
  );
  const parWall = performance.now() - t2;

  console.log(`\nbench review — built-in panel (5 reviewers) on a ${diffLines}-line diff, in-process API + worker, embedded PostgreSQL`);
  console.log(`  concurrency  1: ${((SEQ / seqWall) * 60_000).toFixed(0).padStart(5)} reviews/min  (${SEQ} reviews)`);
  console.log(`  concurrency 10: ${((PAR / parWall) * 60_000).toFixed(0).padStart(5)} reviews/min  (${PAR} reviews)   scaling ×${((PAR / parWall) / (SEQ / seqWall)).toFixed(2)} on ${os.cpus().length} cores`);
  console.log(`  sync POST /v1/review latency      p50 ${pct(seq.map((s) => s.ms), 50).toFixed(1)} ms   p99 ${pct(seq.map((s) => s.ms), 99).toFixed(1)} ms`);
  console.log(`  time inside reviewers             p50 ${pct(reviewerMs, 50).toFixed(1)} ms   p99 ${pct(reviewerMs, 99).toFixed(1)} ms`);
  console.log(`  orchestration overhead            p50 ${pct(overhead, 50).toFixed(1)} ms   p99 ${pct(overhead, 99).toFixed(1)} ms   (target p50 < 20 ms, p99 < 100 ms; ${SEQ} reviews)`);
  if (coldOverhead.length) console.log(`    cold: the process's first ${WARM} reviews   p50 ${pct(coldOverhead, 50).toFixed(1)} ms   max ${Math.max(...coldOverhead).toFixed(1)} ms   (not in the line above)`);
  console.log('  where a sync review spends its time (concurrency 1, from the outbox; ms, p50 / p99):');
  for (const [k, v] of Object.entries(await phases(seq))) console.log(`    ${k.padEnd(58)} ${pct(v, 50).toFixed(1).padStart(6)} / ${pct(v, 99).toFixed(1).padStart(6)}`);

  // Same-run baseline: the queued path (job → worker → waiter re-reads) against the inline path,
  // alternating, so that load from other processes on the machine weighs on both alike.
  const ctx = () => ({
    actor: { userId: owner.user_id, orgId: owner.org_id, orgRole: 'owner', apiKeyId: null, keyProjectIds: null, keyMaxRole: null },
    ip: null,
    userAgent: null,
    correlationId: `bench-${Math.random().toString(36).slice(2)}`,
  });
  const core = { queued: [], inline: [] };
  for (let i = 0; i < AB; i++) {
    for (const mode of i % 2 ? ['inline', 'queued'] : ['queued', 'inline']) {
      const input = StartReviewInput.parse({ project_id: 'bench', task_id: `ab${i}`, target: { diff } });
      const t0 = performance.now();
      let review;
      if (mode === 'inline') review = (await runSyncReview(rt.deps, ctx(), input)).review;
      else review = (await waitForReview(rt.deps, ctx().actor, (await startReview(rt.deps, ctx(), input)).id, 60_000)).review;
      if (review.status !== 'completed') throw new Error(`${mode} review ${review.id}: ${review.status}`);
      core[mode].push({ id: review.id, ms: performance.now() - t0 });
    }
  }
  const inAb = await inside([...core.queued, ...core.inline].map((r) => r.id));
  const ov = (rs) => rs.map((r) => r.ms - (inAb.get(r.id) ?? 0));
  const [q50, q99, i50, i99] = [pct(ov(core.queued), 50), pct(ov(core.queued), 99), pct(ov(core.inline), 50), pct(ov(core.inline), 99)];
  console.log(`  same-run baseline, core use cases alternated (${AB} each): orchestration overhead p50 / p99`);
  console.log(`    queued path (job, worker, waiter re-reads)   ${q50.toFixed(1).padStart(6)} / ${q99.toFixed(1).padStart(6)} ms`);
  console.log(`    inline path (POST /v1/review today)          ${i50.toFixed(1).padStart(6)} / ${i99.toFixed(1).padStart(6)} ms   ratio p50 ×${(i50 / q50).toFixed(2)}, p99 ×${(i99 / q99).toFixed(2)}`);

  // Phases of the inline path as the process measured them (debug log), 20 more sequential reviews.
  logger.level = 'debug';
  for (let i = 0; i < 20; i++) await one(`t${i}`);
  logger.level = 'silent';
  if (timings.length) {
    console.log(`  inline path phases (${timings.length} sequential reviews, debug timings; ms, p50 / p99):`);
    const keys = [...new Set(timings.flatMap((t) => Object.keys(t)))];
    for (const k of keys) {
      const v = timings.map((t) => t[k] ?? 0);
      console.log(`    ${k.padEnd(58)} ${pct(v, 50).toFixed(1).padStart(6)} / ${pct(v, 99).toFixed(1).padStart(6)}`);
    }
  }
  console.log('');

  await worker.stop();
  await app.close();
  await rt.close();
  await fs.rm(dataDir, { recursive: true, force: true });
}
