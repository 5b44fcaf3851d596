import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import pg from 'pg';
import { run, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Runtime } from '../../main/runtime.js';
import { graphileLogger } from './graphile-logger.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { startSweeper, type SweepResult } from './sweeper.js';
import { buildTaskList, CRONTAB } from './task-list.js';
import { buildReviewerRunners } from './reviewer-runners.js';
import { startWorktreeSweeper } from './worktree-sweeper.js';

export interface StartWorkerOptions {
  /** Jobs run at once by this process (default config.worker.concurrency). */
  concurrency?: number;
  /** Prefix of this process's worker id (default "worker"). */
  workerName?: string;
  /** Added to the production task list; tests register test-only tasks here. */
  extraTasks?: TaskList;
  /** Called after each sweep that removed a lapsed worker or unlocked a job. */
  onSweep?: (r: SweepResult) => void;
  /** graphile-worker's event emitter, when the caller must listen from the very start (tests). */
  events?: WorkerEvents;
}

export interface WorkerHandle {
  /** This process's id in worker_heartbeats. */
  workerId: string;
  /** Graceful: finishes running jobs, then removes this process's heartbeat. Idempotent. */
  stop(): Promise<void>;
  runner: Runner;
}

/**
 * Starts graphile-worker in this process with a heartbeat and a lapsed-worker sweeper.
 * The queue is reached with the owner URL (job claiming is one of the named cross-org paths);
 * handlers touch tenant data only through withTenant(deps.db, payload.org_id, …).
 * Signals are the composition root's business (noHandleSignals).
 */
export async function startWorker(runtime: Runtime, opts: StartWorkerOptions = {}): Promise<WorkerHandle> {
  const { deps, adminUrl } = runtime;
  const cfg = deps.config.worker;
  const concurrency = opts.concurrency ?? cfg.concurrency;
  const hostname = os.hostname();
  const workerId = `${opts.workerName ?? 'worker'}-${hostname}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const log = deps.logger.child({ worker_id: workerId });

  // graphile-worker: one connection per concurrent job, one LISTEN, one for completions; +1 sweeper.
  const pool = new pg.Pool({
    connectionString: adminUrl,
    max: concurrency + 4,
    statement_timeout: deps.config.database.statementTimeoutMs || undefined,
    idleTimeoutMillis: deps.config.database.idleTimeoutMs,
    connectionTimeoutMillis: deps.config.database.connectTimeoutMs,
    application_name: 'quorum-worker',
    keepAlive: true,
  });
  // A broken connection (idle or checked out) must not crash the process: pg replaces it and the
  // next query on it fails, which graphile-worker retries.
  const onConnError = (e: Error) => log.warn({ err: { message: e.message } }, 'worker database connection error');
  pool.on('error', onConnError);
  pool.on('connect', (client) => client.on('error', onConnError));

  const graphileIds = new Set<string>();
  let heartbeat: Heartbeat;
  try {
    heartbeat = await startHeartbeat(deps.db, {
      workerId,
      hostname,
      pid: process.pid,
      graphileWorkerIds: () => [...graphileIds],
      intervalMs: cfg.heartbeatMs,
      logger: log,
    });
  } catch (e) {
    await pool.end();
    throw e;
  }
  const hb = heartbeat;

  // Our own emitter, so the ids of workers created during run() are seen before it returns.
  const events = opts.events ?? (new EventEmitter() as WorkerEvents);
  events.on('pool:create', ({ workerPool }) => {
    graphileIds.add(workerPool.id);
    void hb.beat();
  });
  events.on('worker:create', ({ worker }) => {
    graphileIds.add(worker.workerId);
    void hb.beat();
  });

  let runner: Runner;
  try {
    runner = await run({
      pgPool: pool,
      concurrency,
      noHandleSignals: true,
      taskList: { ...buildTaskList(deps, { owner: workerId, runners: buildReviewerRunners(deps) }), ...opts.extraTasks },
      crontab: CRONTAB,
      logger: graphileLogger(log),
      events,
    });
  } catch (e) {
    await hb.stop().catch(() => {});
    await pool.end();
    throw e;
  }
  // The beat that names the graphile workers is committed before we report ready.
  await hb.beat();

  const sweeper = startSweeper({
    pool,
    intervalMs: cfg.sweepIntervalMs,
    lapseMs: cfg.lapseMs,
    selfWorkerId: workerId,
    logger: log,
    onSweep: opts.onSweep,
  });

  const worktreeSweeper = startWorktreeSweeper(deps, { intervalMs: Math.max(cfg.sweepIntervalMs, 5_000), lapseMs: cfg.lapseMs, selfOwner: workerId, logger: log });

  runner.promise.catch((e: unknown) => log.error({ err: { message: (e as Error).message } }, 'job runner stopped with an error'));
  log.info({ concurrency, graphile_worker_ids: [...graphileIds] }, 'worker started');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await sweeper.stop();
      await worktreeSweeper.stop();
      // Keep beating while running jobs finish, or a long job's process would look dead.
      await runner.stop().catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'runner stop failed'));
      await hb.stop();
      await pool.end();
      log.info('worker stopped');
    })());

  return { workerId, stop, runner };
}
