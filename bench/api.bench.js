// Authenticated GET /v1/projects/{id} (API-key lookup + RLS transaction + response) against a bare
// Fastify route running the same single-row query without auth or RLS, same process, same run.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../dist/config.js';
import { startEmbeddedPostgres } from '../dist/db/embedded.js';
import { migrate } from '../dist/db/migrate.js';
import { openRuntime } from '../dist/main/runtime.js';
import { buildApp } from '../dist/adapters/http/app.js';
import { allRoutes } from '../dist/adapters/http/all-routes.js';
import { bootstrapOwner } from '../dist/core/tenancy/bootstrap.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);

async function startTimes() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-bench-start-'));
  let t = Date.now();
  let h = await startEmbeddedPostgres({ dataDir: dir });
  await migrate(h.url, 'quorum_app');
  const cold = Date.now() - t;
  await h.stop();
  t = Date.now();
  h = await startEmbeddedPostgres({ dataDir: dir });
  await migrate(h.url, 'quorum_app');
  const warm = Date.now() - t;
  await h.stop();
  await fs.rm(dir, { recursive: true, force: true });
  return { cold, warm };
}

async function load(url, headers) {
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p99: r.latency.p99, p50: r.latency.p50 };
}

export default async function run() {
  const times = await startTimes();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-bench-api-'));
  const config = loadConfig({}, { QUORUM_DATA_DIR: dataDir, QUORUM_LOG_LEVEL: 'silent', QUORUM_DB_POOL_SIZE: String(CONNECTIONS) });
  const rt = await openRuntime(config, { logger: pino({ level: 'silent' }), migrate: true });
  const owner = await bootstrapOwner(rt.deps, { email: 'bench@example.com', org: 'Bench' });
  const app = await buildApp(rt.deps, { version: 'bench', extraRoutes: allRoutes });
  const created = await app.inject({ method: 'POST', url: '/v1/projects', headers: { 'x-api-key': owner.api_key }, payload: { slug: 'bench' } });
  const projectId = created.json().id;
  await app.listen({ port: 0, host: '127.0.0.1' });
  const quorumUrl = `http://127.0.0.1:${app.server.address().port}/v1/projects/${projectId}`;

  const bare = Fastify({ logger: false });
  const barePool = new pg.Pool({ connectionString: rt.adminUrl, max: CONNECTIONS });
  bare.get('/bare/:id', async (req) => (await barePool.query('select * from projects where id = $1', [req.params.id])).rows[0]);
  await bare.listen({ port: 0, host: '127.0.0.1' });
  const bareUrl = `http://127.0.0.1:${bare.server.address().port}/bare/${projectId}`;

  // Warm both, then measure alternately so machine noise hits both.
  await load(bareUrl, {});
  await load(quorumUrl, { 'x-api-key': owner.api_key });
  const b = await load(bareUrl, {});
  const q = await load(quorumUrl, { 'x-api-key': owner.api_key });

  console.log('\nbench api — GET /v1/projects/{id}');
  console.log(`  ${'route'.padEnd(44)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`);
  console.log(`  ${'bare Fastify + single-row query (baseline)'.padEnd(44)} ${b.rps.toFixed(0).padStart(8)} ${String(b.p50).padStart(7)} ${String(b.p99).padStart(7)}`);
  console.log(`  ${'Quorum: API key + RLS transaction'.padEnd(44)} ${q.rps.toFixed(0).padStart(8)} ${String(q.p50).padStart(7)} ${String(q.p99).padStart(7)}`);
  console.log(`  ratio (Quorum / baseline req/s): ${(q.rps / b.rps).toFixed(2)}   (target ≥ 0.60)`);
  console.log(`  embedded PostgreSQL start + migrations: cold (empty dir) ${times.cold} ms, warm ${times.warm} ms\n`);

  await bare.close();
  await barePool.end();
  await app.close();
  await rt.close();
  await fs.rm(dataDir, { recursive: true, force: true });
}
