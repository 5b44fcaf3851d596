// Seed acceptance test 5 (MCP local speed): review_code through the real `quorum mcp` over stdio
// (JSON-RPC, the SDK's Client) vs the same review through the core use case the tool calls,
// in-process, on the same diff, in the same run, on the same embedded PostgreSQL:
//   - without a progress token the tool runs runSyncReview (REST's synchronous path);
//   - with one it runs startReview + waitForReview and follows the review's events for k/n.
// Calls alternate so that load drift hits every variant alike.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { loadConfig } from '../dist/config.js';
import { openRuntime } from '../dist/main/runtime.js';
import { bootstrapOwner } from '../dist/core/tenancy/bootstrap.js';
import { authenticate } from '../dist/core/tenancy/authenticate.js';
import { createProject } from '../dist/core/tenancy/create-project.js';
import { StartReviewInput } from '../dist/core/review/review.schemas.js';
import { startReview } from '../dist/core/review/start-review.js';
import { waitForReview } from '../dist/core/review/wait-for-review.js';
import { runSyncReview } from '../dist/core/review/run-sync-review.js';
import { startWorker } from '../dist/adapters/worker/runner.js';

const N = Number(process.env.BENCH_MCP_CALLS ?? 40);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const SQLI_TS = `import { db } from './db';

export async function findUser(req: { query: { name: string } }) {
  return db.query("SELECT * FROM users WHERE name = '" + req.query.name + "'");
}
`;
const DIFF = ['diff --git a/src/users.ts b/src/users.ts', 'new file mode 100644', '--- /dev/null', '+++ b/src/users.ts', '@@ -0,0 +1,5 @@', ...SQLI_TS.trimEnd().split('\n').map((l) => `+${l}`), ''].join('\n');

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export default async function run() {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-bench-mcp-'));
  const config = loadConfig({}, { QUORUM_DATA_DIR: dataDir, QUORUM_LOG_LEVEL: 'silent' });
  const rt = await openRuntime(config, { logger: pino({ level: 'silent' }), migrate: true });
  const owner = await bootstrapOwner(rt.deps, { email: 'bench@example.com', org: 'Bench' });
  const actor = await authenticate(rt.deps, { apiKey: owner.api_key });
  const ctx = () => ({ actor, ip: null, userAgent: 'bench', correlationId: randomUUID() });
  await createProject(rt.deps, ctx(), { slug: 'bench' });
  const worker = await startWorker(rt, { concurrency: 2, workerName: 'bench' });

  // The real CLI on the same data directory: it adopts the running embedded cluster.
  const t0 = performance.now();
  const transport = new StdioClientTransport({
    command: path.join(ROOT, 'node_modules/.bin/node'),
    args: [path.join(ROOT, 'dist/main/cli.js'), 'mcp', '--project', 'bench'],
    env: { ...process.env, QUORUM_DATA_DIR: dataDir, QUORUM_API_KEY: owner.api_key, QUORUM_URL: '', DATABASE_URL: '', QUORUM_LOG_LEVEL: 'warn' },
    stderr: 'inherit',
  });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  const initMs = performance.now() - t0;
  await client.listTools();
  const firstT = performance.now();
  await client.callTool({ name: 'list_projects', arguments: {} });
  const readyMs = performance.now() - firstT;

  const inProcess = async (task, progress = true) => {
    const s = performance.now();
    const input = StartReviewInput.parse({ project_id: 'bench', task_id: task, target: { diff: DIFF } });
    let review;
    if (progress) {
      const started = await startReview(rt.deps, ctx(), input);
      ({ review } = await waitForReview(rt.deps, actor, started.id, 60_000));
    } else ({ review } = await runSyncReview(rt.deps, ctx(), input));
    if (review.status !== 'completed') throw new Error(`in-process review ${review.status}`);
    return performance.now() - s;
  };
  let notes = 0;
  const viaMcp = async (task, progress = true) => {
    const s = performance.now();
    const opts = { timeout: 60_000, ...(progress && { onprogress: () => notes++ }) };
    const r = await client.callTool({ name: 'review_code', arguments: { diff: DIFF, task_id: task } }, undefined, opts);
    if (r.isError || r.structuredContent?.status !== 'completed') throw new Error(`MCP review: ${JSON.stringify(r.content).slice(0, 300)}`);
    return performance.now() - s;
  };

  for (let i = 0; i < 5; i++) {
    await inProcess(`warm-core-${i}`);
    await inProcess(`warm-sync-${i}`, false);
    await viaMcp(`warm-mcp-${i}`);
    await viaMcp(`warm-quiet-${i}`, false);
  }
  notes = 0;
  const core = [];
  const sync = [];
  const mcp = [];
  const quiet = [];
  for (let i = 0; i < N; i++) {
    sync.push(await inProcess(`sync-${i}`, false));
    quiet.push(await viaMcp(`quiet-${i}`, false));
    core.push(await inProcess(`core-${i}`));
    mcp.push(await viaMcp(`mcp-${i}`));
  }
  const c50 = pct(core, 50), c99 = pct(core, 99), m50 = pct(mcp, 50), m99 = pct(mcp, 99), q50 = pct(quiet, 50), q99 = pct(quiet, 99);
  const s50 = pct(sync, 50), s99 = pct(sync, 99);
  const row = (label, p50, p99, extra = '') => console.log(`  ${label.padEnd(52)} p50 ${p50.toFixed(1).padStart(7)} ms   p99 ${p99.toFixed(1).padStart(7)} ms${extra}`);
  console.log(`\nbench mcp — review_code on a ${SQLI_TS.split('\n').length - 1}-line diff (built-in panel, 5 reviewers), ${N} calls each, alternating, embedded PostgreSQL`);
  console.log('  without progress token:');
  row('in-process runSyncReview (baseline)', s50, s99);
  row('quorum mcp over stdio (SDK Client)', q50, q99);
  row('MCP overhead', q50 - s50, q99 - s99, `   ratio ×${(q50 / s50).toFixed(2)}   (target p50 < 20 ms; seed allows 500 ms)`);
  console.log('  with a progress token (k/n notifications):');
  row('in-process startReview + waitForReview (baseline)', c50, c99);
  row('quorum mcp over stdio (SDK Client, progress)', m50, m99, `   (${(notes / N).toFixed(1)} notifications per call)`);
  row('MCP overhead', m50 - c50, m99 - c99, `   ratio ×${(m50 / c50).toFixed(2)}   (target p50 < 20 ms)`);
  console.log(`  quorum mcp start: initialize answered in ${initMs.toFixed(0)} ms (process spawn included), first tool call ready after ${readyMs.toFixed(0)} ms more`);
  console.log('');

  await client.close();
  await worker.stop();
  await rt.close();
  await fs.rm(dataDir, { recursive: true, force: true });
}
