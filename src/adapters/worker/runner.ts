import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import pg from 'pg';
import { run, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Runtime } from '../../main/runtime.js';
import { poolTimeouts } from '../../db/client.js';
import { graphileLogger } from './graphile-logger.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { runSingleton, type SingletonHandle, type SingletonSpec, type SingletonStatus } from './singleton.js';
import { buildSingletons } from './singleton-list.js';
import type { SweepResult } from './sweeper.js';
import { buildTaskList, CRONTAB } from './task-list.js';
import { buildReviewerRunners } from './reviewer-runners.js';
import { handedBack, jobLogBindings } from './tenant-task.js';
import { jobsLockedBy, unlockJobs, unlockOwnWorkers } from './worker-heartbeats.repo.js';

export interface StartWorkerOptions {
  /** Jobs run at once by this process (default config.worker.concurrency). */
  concurrency?: number;
  /** Prefix of this process's worker id (default "worker"). */
  workerName?: string;
  /** Added to the production task list; tests register test-only tasks here. */
  extraTasks?: TaskList;
  /** Called after each sweep (by this process, as the sweeper's holder) that removed a lapsed worker or unlocked a job. */
  onSweep?: (r: SweepResult) => void;
  /** graphile-worker's event emitter, when the caller must listen from the very start (tests). */
  events?: WorkerEvents;
  /** Added to the production singletons (singleton-list.ts). */
  extraSingletons?: SingletonSpec[];
}

export interface WorkerHealth {
  worker_id: string;
  concurrency: number;
  running_jobs: number;
  pool: { total: number; idle: number; waiting: number; max: number };
  singletons: Array<{ name: string; state: SingletonStatus['state']; held_since: string | null; acquisitions: number }>;
}

export interface WorkerHandle {
  /** This process's id in worker_heartbeats. */
  workerId: string;
  /**
   * Graceful: hands its singletons over, stops taking jobs, gives running jobs
   * config.shutdownGraceMs to finish, then aborts them (they hand themselves back to the queue),
   * releases its heartbeat and closes its pool. Idempotent.
   */
  stop(): Promise<void>;
  /** The current job runner (replaced if one stops unexpectedly). */
  readonly runner: Runner;
  health(): WorkerHealth;
}

/** After the grace period, jobs that ignore their abort signal get this long before a forced stop. */
const FORCE_AFTER_GRACE_MS = 10_000;

/**
 * Starts graphile-worker in this process with a heartbeat and the cluster singletons (lapsed-worker
 * sweeper, this data directory's worktree sweeper). The queue is reached with the owner URL (job
 * claiming is one of the named cross-org paths); handlers touch tenant data only through
 * withTenant(deps.db, payload.org_id, …). Signals are the composition root's business.
 *
 * Database faults: every pool wait is bounded (poolTimeouts); graphile-worker re-polls and
 * re-LISTENs with backoff; heartbeats and singletons retry. graphile-worker 0.17 gives up a whole
 * job runner when it cannot write a job's completion (PostgreSQL restarting at that moment): the
 * runner is then replaced here, with backoff, after unlocking the jobs the old one held.
 */
export async function startWorker(runtime: Runtime, opts: StartWorkerOptions = {}): Promise<WorkerHandle> {
  const { deps, adminUrl } = runtime;
  const cfg = deps.config.worker;
  const concurrency = opts.concurrency ?? cfg.concurrency;
  const hostname = os.hostname();
  const workerId = `${opts.workerName ?? 'worker'}-${hostname}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const log = deps.logger.child({ worker_id: workerId });
  const metrics = deps.metrics;

  // graphile-worker: one connection per concurrent job, one LISTEN, one for completions; +1 sweeper.
  const poolMax = concurrency + 4;
  const pool = new pg.Pool({
    connectionString: adminUrl,
    max: poolMax,
    ...poolTimeouts(deps.config.database),
    idleTimeoutMillis: deps.config.database.idleTimeoutMs,
    application_name: 'quorum-worker',
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
      onBeat: (ok) => metrics.heartbeats.inc({ result: ok ? 'ok' : 'failed' }),
    });
  } catch (e) {
    await pool.end();
    throw e;
  }
  const hb = heartbeat;

  // Our own emitter, so the ids of workers created during run() are seen before it returns; it
  // outlives a replaced runner.
  const events = opts.events ?? (new EventEmitter() as WorkerEvents);
  let currentIds = new Set<string>();
  events.on('pool:create', ({ workerPool }) => {
    graphileIds.add(workerPool.id);
    currentIds.add(workerPool.id);
    void hb.beat();
  });
  events.on('worker:create', ({ worker }) => {
    graphileIds.add(worker.workerId);
    currentIds.add(worker.workerId);
    void hb.beat();
  });
  const started = new Map<string, number>();
  /** Jobs whose run ended here, by when: their lock should be gone within moments. */
  const endedAt = new Map<string, number>();
  /** Reviews whose job runs in this process now (job id → review id). */
  const runningReviews = new Map<string, string>();
  events.on('job:start', ({ job }) => {
    started.set(job.id, performance.now());
    endedAt.delete(job.id);
    const reviewId = (job.payload as { review_id?: unknown } | null)?.review_id;
    if (typeof reviewId === 'string') runningReviews.set(job.id, reviewId);
  });
  events.on('job:complete', ({ job }) => {
    endedAt.set(job.id, Date.now());
    runningReviews.delete(job.id);
    jobLogBindings.delete(job.id);
  });
  const ended = (task: string, id: string, outcome: string) => {
    const t0 = started.get(id);
    started.delete(id);
    metrics.jobs.inc({ task, outcome });
    if (t0 !== undefined) metrics.jobDuration.observe({ task }, (performance.now() - t0) / 1000);
  };
  events.on('job:success', ({ job }) => ended(job.task_identifier, job.id, handedBack.has(job) ? 'handed_back' : 'success'));
  events.on('job:error', ({ job }) => ended(job.task_identifier, job.id, job.attempts < job.max_attempts ? 'retry' : 'failed'));

  const taskList = { ...buildTaskList(deps, { owner: workerId, runners: buildReviewerRunners(deps) }), ...opts.extraTasks };
  const startRunner = () =>
    run({
      pgPool: pool,
      concurrency,
      noHandleSignals: true,
      taskList,
      crontab: CRONTAB,
      logger: graphileLogger(log),
      events,
      // SIGTERM: running jobs get the grace period, then their abortSignal fires (they hand back).
      gracefulShutdownAbortTimeout: deps.config.shutdownGraceMs,
    });

  let runner: Runner;
  try {
    runner = await startRunner();
  } catch (e) {
    await hb.stop().catch(() => {});
    await pool.end();
    throw e;
  }
  // The beat that names the graphile workers is committed before we report ready.
  await hb.beat();

  let stopping = false;
  const supervise = (r: Runner) => {
    r.promise.then(
      () => replace(r, undefined),
      (e: unknown) => replace(r, e as Error),
    );
  };
  const replace = async (dead: Runner, err: Error | undefined) => {
    if (stopping || dead !== runner) return;
    log.error({ err: err ? { message: err.message } : undefined }, 'job runner stopped unexpectedly; replacing it');
    const old = [...currentIds];
    currentIds = new Set();
    for (let attempt = 0; !stopping; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** attempt)));
      if (stopping) return;
      try {
        const n = await unlockOwnWorkers(pool, old);
        for (const id of old) graphileIds.delete(id);
        if (n) log.warn({ jobs: n }, 'released the jobs of the stopped job runner');
        runner = await startRunner();
        await hb.beat();
        supervise(runner);
        log.info('job runner replaced');
        return;
      } catch (e) {
        log.warn({ err: { message: (e as Error).message }, attempt }, 'could not replace the job runner yet; retrying');
      }
    }
  };
  supervise(runner);

  // graphile-worker 0.17 does not await the write that completes or fails a job: when the database
  // is unavailable at that moment the job stays locked by this live process (whose heartbeat keeps
  // the sweeper away) and would never run again. Reconcile: a job locked by this process's current
  // workers that none of them runs, and whose run ended a while ago, is unlocked.
  const reconcileMs = Math.max(2_000, cfg.heartbeatMs * 5);
  const reconcile = setInterval(() => {
    if (stopping) return;
    void (async () => {
      const ids = [...currentIds];
      const locked = await jobsLockedBy(pool, ids);
      const now = Date.now();
      const stale = locked.filter((j) => !started.has(j.id) && (endedAt.get(j.id) ?? Infinity) < now - reconcileMs).map((j) => j.id);
      const stillLocked = new Set(locked.map((j) => j.id));
      for (const [id, at] of endedAt) if (!stillLocked.has(id) && at < now - reconcileMs) endedAt.delete(id);
      if (stale.length === 0) return;
      const n = await unlockJobs(pool, stale, ids);
      for (const id of stale) endedAt.delete(id);
      log.warn({ jobs: stale, unlocked: n }, 'unlocked jobs whose completion was not recorded (database fault); they run again');
    })().catch(() => {});
  }, reconcileMs);
  reconcile.unref();

  const runsReview = (reviewId: string) => [...runningReviews.values()].includes(reviewId);
  const specs = [...buildSingletons(deps, { ownerPool: pool, workerId, onSweep: opts.onSweep, runsReview }), ...(opts.extraSingletons ?? [])];
  // Not a copy of appPool.options: pg keeps the password there as a non-enumerable property.
  const connection = runtime.appConnection;
  const singletons: SingletonHandle[] = specs.map((spec) =>
    runSingleton(spec, {
      connection,
      logger: log,
      pingMs: cfg.singletonPingMs,
      holder: `${hostname}:${process.pid}`,
      onChange: (s) => {
        metrics.singletonHeld.set({ name: s.name }, s.state === 'held' ? 1 : 0);
        if (s.state === 'held') metrics.singletonAcquisitions.inc({ name: s.name });
      },
    }),
  );

  log.info({ concurrency, graphile_worker_ids: [...graphileIds], singletons: specs.map((s) => s.name) }, 'worker started');

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      clearInterval(reconcile);
      const t0 = Date.now();
      // Stop taking jobs at once (graceful: running jobs go on), and meanwhile hand the singletons
      // over (closing their lock sessions lets a waiting process take over at once). Keep beating
      // while running jobs finish, or a long job's process would look dead.
      const force = setTimeout(() => {
        log.warn('jobs did not end within the grace period after their abort; forcing the job runner to stop');
        void runner.kill('forced shutdown').catch(() => {});
      }, deps.config.shutdownGraceMs + FORCE_AFTER_GRACE_MS);
      await Promise.all([
        runner.stop('graceful shutdown').catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'runner stop failed')),
        ...singletons.map((s) => s.stop()),
      ]);
      clearTimeout(force);
      await hb.stop().catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'could not delete the heartbeat row; it will lapse'));
      await pool.end();
      log.info({ ms: Date.now() - t0 }, 'worker stopped');
    })());

  return {
    workerId,
    stop,
    get runner() {
      return runner;
    },
    health: () => ({
      worker_id: workerId,
      concurrency,
      running_jobs: started.size,
      pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolMax },
      singletons: singletons.map((s) => {
        const st = s.status();
        return { name: st.name, state: st.state, held_since: st.heldSince, acquisitions: st.acquisitions };
      }),
    }),
  };
}
