import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/adapters/worker/runner.js';
import { sweepOnce, type SweepResult } from '../../src/adapters/worker/sweeper.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { nextEvent, until, within } from './wait.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/blocking-worker.mjs');
const WORKER_ENV = { QUORUM_WORKER_HEARTBEAT_MS: '200', QUORUM_WORKER_LAPSE_MS: '1000', QUORUM_SWEEP_INTERVAL_MS: '200' };

describe('worker heartbeats and the lapsed-worker sweeper', () => {
  let rt: TestRuntime;
  let ownerPool: pg.Pool;
  beforeAll(async () => {
    rt = await createTestRuntime(WORKER_ENV);
    ownerPool = new pg.Pool({ connectionString: rt.adminUrl, max: 4 });
    ownerPool.on('error', () => {});
  });
  afterAll(async () => {
    await ownerPool.end();
    await rt.close();
  });

  const silent = () => rt.deps.logger;
  const addJob = async (task: string) =>
    (await rt.admin.query<{ id: string }>(`select id from graphile_worker.add_job($1, '{}'::json)`, [task])).rows[0]!.id;
  const lockJob = (id: string, by: string, agoSeconds: number) =>
    rt.admin.query(
      `update graphile_worker._private_jobs set locked_by = $2, locked_at = now() - make_interval(secs => $3), attempts = 1 where id = $1`,
      [id, by, agoSeconds],
    );
  const jobRow = async (id: string) =>
    (await rt.admin.query<{ locked_by: string | null; attempts: number }>(`select locked_by, attempts from graphile_worker._private_jobs where id = $1`, [id])).rows[0];

  it('unlocks the jobs of lapsed workers (by database clock), once across concurrent sweepers; spares live ones', async () => {
    await rt.admin.query(
      `insert into worker_heartbeats (worker_id, hostname, pid, graphile_worker_ids, last_seen) values
         ('dead', 'h1', 1, '{gw-dead-1,gw-dead-2}', now() - interval '1 hour'),
         ('alive', 'h2', 2, '{gw-alive}', now())`,
    );
    const j1 = await addJob('unit_task');
    const j2 = await addJob('unit_task');
    const j3 = await addJob('unit_task');
    const j4 = await addJob('unit_task');
    await lockJob(j1, 'gw-dead-1', 3600);
    await lockJob(j2, 'gw-dead-2', 3600);
    await lockJob(j3, 'gw-alive', 3600); // a long job of a live worker: not touched
    await lockJob(j4, 'gw-orphan', 3600); // locked by a worker no heartbeat names (killed before its first beat)

    const opts = { pool: ownerPool, lapseMs: 10_000, logger: silent() };
    const results: SweepResult[] = await Promise.all([sweepOnce(opts), sweepOnce(opts), sweepOnce(opts)]);
    const lapsed = results.flatMap((r) => r.lapsed.map((w) => w.worker_id));
    expect(lapsed).toEqual(['dead']); // exactly one sweeper handled the lapsed row
    const winner = results.find((r) => r.lapsed.length === 1)!;
    expect(winner.unlockedJobs.map((j) => j.id).sort()).toEqual([j1, j2, j4].sort());
    expect(winner.orphanWorkerIds).toEqual(['gw-orphan']);

    expect((await jobRow(j1))!.locked_by).toBeNull();
    expect((await jobRow(j2))!.locked_by).toBeNull();
    expect((await jobRow(j4))!.locked_by).toBeNull();
    expect((await jobRow(j3))!.locked_by).toBe('gw-alive');
    const hb = await rt.admin.query(`select worker_id from worker_heartbeats order by worker_id`);
    expect(hb.rows.map((r) => r.worker_id)).toEqual(['alive']);

    // A fresh orphan lock (younger than the lapse) is left alone: its worker may not have beaten yet.
    const j5 = await addJob('unit_task');
    await lockJob(j5, 'gw-new', 1);
    expect((await sweepOnce(opts)).unlockedJobs).toEqual([]);
    expect((await jobRow(j5))!.locked_by).toBe('gw-new');

    await rt.admin.query(`delete from worker_heartbeats`);
    await rt.admin.query(`delete from graphile_worker._private_jobs where id = any($1::bigint[])`, [[j1, j2, j3, j4, j5]]);
  });

  it('a SIGKILLed worker process: its job is unlocked by a surviving worker and completed there', async () => {
    const jobId = await addJob('test_block');
    const child = spawnFixture();
    const lines = jsonLines(child);
    let recoveredBy: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const ready = await within(lines.next('ready'), 20_000, 'the worker child to be ready');
      const started = await within(lines.next('job_started'), 15_000, 'the child to start the blocking job');
      expect(started.job_id).toBe(jobId);
      // Wait until the database shows the job locked by a worker that the child's heartbeat names.
      await until(
        async () => {
          const r = await rt.admin.query(
            `select 1 from graphile_worker._private_jobs j join worker_heartbeats h on j.locked_by = any (h.graphile_worker_ids)
              where j.id = $1 and h.worker_id = $2`,
            [jobId, ready.worker_id],
          );
          return r.rowCount === 1;
        },
        10_000,
        'the job to be locked by the child',
      );

      const sweeps: SweepResult[] = [];
      const events = new EventEmitter() as WorkerEvents;
      const completed = nextEvent(events, 'job:complete', (e) => e.job.id === jobId, 30_000);
      recoveredBy = await startWorker(rt, {
        concurrency: 1,
        workerName: 'survivor',
        events,
        onSweep: (r) => sweeps.push(r),
        extraTasks: { test_block: async () => {} },
      });

      const exited = new Promise((r) => child.once('exit', r));
      const t0 = performance.now();
      child.kill('SIGKILL');
      await within(exited, 5_000, 'the child to die');
      const done = await completed;
      const recoveryMs = performance.now() - t0;
      expect(done.error).toBeNull();
      expect(done.job.attempts).toBe(2); // the killed attempt counted, the second one succeeded
      console.log(
        `[measure] SIGKILL → job completed by another worker: ${recoveryMs.toFixed(0)} ms ` +
          `(heartbeat ${WORKER_ENV.QUORUM_WORKER_HEARTBEAT_MS} ms, lapse ${WORKER_ENV.QUORUM_WORKER_LAPSE_MS} ms, sweep every ${WORKER_ENV.QUORUM_SWEEP_INTERVAL_MS} ms)`,
      );
      expect(recoveryMs).toBeLessThan(10_000);

      const sweep = sweeps.find((s) => s.lapsed.some((w) => w.worker_id === ready.worker_id));
      expect(sweep, 'a sweep that removed the killed worker').toBeDefined();
      expect(sweep!.unlockedJobs.map((j) => j.id)).toContain(jobId);
      expect((await rt.admin.query(`select 1 from worker_heartbeats where worker_id = $1`, [ready.worker_id])).rowCount).toBe(0);
      // job:complete is emitted as the completion is written; completed jobs are deleted.
      await until(async () => (await jobRow(jobId)) === undefined, 5_000, 'the completed job row to be deleted');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await recoveredBy?.stop();
    }
  });

  function spawnFixture(): ChildProcess {
    const child = spawn(process.execPath, [FIXTURE], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: rt.adminUrl,
        QUORUM_DATA_DIR: rt.dataDir,
        QUORUM_MASTER_KEY: rt.config.masterKey!,
        QUORUM_LOG_LEVEL: 'silent',
        ...WORKER_ENV,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.once('exit', (code) => {
      if (code !== null && code !== 0) console.error(`fixture exited ${code}: ${stderr}`);
    });
    return child;
  }
});

/** Reads the fixture's JSON-lines protocol; next(event) resolves with the first such line not yet consumed. */
function jsonLines(child: ChildProcess) {
  const seen: Array<Record<string, string>> = [];
  const waiters: Array<{ event: string; resolve: (v: Record<string, string>) => void }> = [];
  const rl = readline.createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    let msg: Record<string, string>;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    const i = waiters.findIndex((w) => w.event === msg.event);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(msg);
    else seen.push(msg);
  });
  return {
    next(event: string): Promise<Record<string, string>> {
      const i = seen.findIndex((m) => m.event === event);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      return new Promise((resolve) => waiters.push({ event, resolve }));
    },
  };
}
