import type { Config } from '../config.js';
import type { WorkerHandle } from '../adapters/worker/runner.js';
import { createLogger } from './logger.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { guardDatabaseFaultRejections } from './process-guards.js';
import { openRuntime, type Runtime } from './runtime.js';

export interface WorkerProcessHandle {
  runtime: Runtime;
  worker: WorkerHandle;
  metricsUrl: string | undefined;
  /** Graceful stop (SIGTERM): singletons handed over, jobs finished or handed back, pools closed. Idempotent. */
  stop(): Promise<void>;
}

/** `quorum worker`: job workers only, any number of them on one DATABASE_URL. */
export async function startWorkerProcess(config: Config, opts: { concurrency?: number | undefined } = {}): Promise<WorkerProcessHandle> {
  const logger = createLogger(config.logLevel, { role: 'worker' });
  guardDatabaseFaultRejections(logger);
  const runtime = await openRuntime(config, { logger, migrate: true, applicationName: 'quorum-worker' });
  let worker: WorkerHandle | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    const { startWorker } = await import('../adapters/worker/runner.js');
    worker = await startWorker(runtime, { concurrency: opts.concurrency ?? config.worker.concurrency });
    if (config.metricsPort !== undefined) metricsServer = await startMetricsServer(runtime.deps.metrics, { host: config.http.host, port: config.metricsPort, logger });
  } catch (e) {
    await worker?.stop().catch(() => {});
    await runtime.close();
    throw e;
  }
  const w = worker;
  logger.info({ workerId: w.workerId, metrics: metricsServer ? `${metricsServer.url}/metrics` : undefined }, 'worker ready');
  let stopping: Promise<void> | undefined;
  return {
    runtime,
    worker: w,
    metricsUrl: metricsServer?.url,
    stop: () =>
      (stopping ??= (async () => {
        const t0 = Date.now();
        logger.info({ grace_ms: config.shutdownGraceMs }, 'shutting down gracefully');
        runtime.embedded?.windDown(); // its database stays as it is until the end
        await w.stop();
        await metricsServer?.close();
        await runtime.close();
        logger.info({ ms: Date.now() - t0 }, 'shutdown complete');
      })()),
  };
}
