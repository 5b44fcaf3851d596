import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Config } from '../config.js';
import { buildApp } from '../adapters/http/app.js';
import { allRoutes } from '../adapters/http/all-routes.js';
import type { WorkerHandle } from '../adapters/worker/runner.js';
import { createLogger } from './logger.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { guardDatabaseFaultRejections } from './process-guards.js';
import { openRuntime, type Runtime } from './runtime.js';
import { VERSION } from '../version.js';

export interface ServerHandle {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  worker: WorkerHandle | undefined;
  /** Graceful stop (SIGTERM): see stopGracefully. Idempotent. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  worker: boolean;
  /** Print the first-run banner to stdout (CLI), or not (tests). */
  banner?: boolean;
}

/** `quorum serve`: API (and, unless told not to, workers in-process) on the configured database. */
export async function startServer(config: Config, opts: ServeOptions): Promise<ServerHandle> {
  const role = opts.worker ? 'server+worker' : 'server';
  const logger = createLogger(config.logLevel, { role });
  if (opts.worker) guardDatabaseFaultRejections(logger);
  const t0 = Date.now();
  const runtime = await openRuntime(config, { logger, migrate: true, applicationName: 'quorum-api' });
  let worker: WorkerHandle | undefined;
  let app: FastifyInstance | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    app = await buildApp(runtime.deps, {
      version: VERSION,
      extraRoutes: allRoutes,
      processHealth: () => ({ role, hostname: os.hostname(), pid: process.pid, uptime_s: Math.round(process.uptime()), worker: worker?.health() ?? null }),
    });
    const address = await app.listen({ host: config.http.host, port: config.http.port }).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      throw new Error(`${config.http.host}:${config.http.port} is already in use (another Quorum, or another service): stop it, or choose another port with PORT`);
    });
    if (opts.worker) {
      const { startWorker } = await import('../adapters/worker/runner.js');
      worker = await startWorker(runtime, { concurrency: config.worker.concurrency });
    }
    if (config.metricsPort !== undefined) metricsServer = await startMetricsServer(runtime.deps.metrics, { host: config.http.host, port: config.metricsPort, logger });
    const url = config.http.publicUrl ?? address;
    logger.info({ url, ms: Date.now() - t0, database: config.database.mode, version: VERSION }, 'quorum ready');
    if (opts.banner) await printBanner(runtime, config, url);
    const a = app;
    const w = worker;
    const m = metricsServer;
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= stopGracefully({ app: a, worker: w, metricsServer: m, runtime, config }));
    return { app, runtime, url, worker, stop };
  } catch (e) {
    await app?.close().catch(() => {});
    await worker?.stop().catch(() => {});
    await metricsServer?.close().catch(() => {});
    await runtime.close();
    throw e;
  }
}

/**
 * SIGTERM for an API (and worker) process:
 *  1. stop accepting: the listener closes at once (a request racing it gets 503 from Fastify), open
 *     event streams end (clients resume elsewhere with Last-Event-ID), idle keep-alive sockets close;
 *  2. at the same time the worker hands its singletons over, stops taking jobs and gives running
 *     jobs the grace period (then they hand themselves back);
 *  3. in-flight HTTP requests get the same grace period, then their connections are closed;
 *  4. pools, the event listener and (embedded) PostgreSQL are closed.
 */
export async function stopGracefully(p: { app: FastifyInstance; worker: WorkerHandle | undefined; metricsServer?: MetricsServer | undefined; runtime: Runtime; config: Config }): Promise<void> {
  const log = p.runtime.deps.logger;
  const t0 = Date.now();
  log.info({ grace_ms: p.config.shutdownGraceMs }, 'shutting down gracefully');
  p.runtime.embedded?.windDown(); // its database stays as it is until the end
  const forceHttp = setTimeout(() => {
    log.warn('HTTP requests still running after the grace period; closing their connections');
    p.app.server.closeAllConnections();
  }, p.config.shutdownGraceMs);
  forceHttp.unref();
  try {
    await Promise.all([p.app.close(), p.worker?.stop()]);
  } finally {
    clearTimeout(forceHttp);
  }
  await p.metricsServer?.close();
  await p.runtime.close();
  log.info({ ms: Date.now() - t0 }, 'shutdown complete');
}

async function printBanner(runtime: Runtime, config: Config, url: string): Promise<void> {
  const { rows } = await sql<{ has: boolean }>`select quorum.system_has_users() as has`.execute(runtime.deps.db);
  const lines = [
    '',
    `  Quorum ${VERSION} is running at ${url}`,
    `  database: ${config.database.mode === 'embedded' ? `embedded PostgreSQL in ${config.dataDir}/pg` : 'external (DATABASE_URL)'}`,
    `  API docs: ${url}/docs   OpenAPI: ${url}/openapi.json`,
  ];
  if (!rows[0]?.has) {
    lines.push(
      '',
      '  This is a new installation: there are no users yet. To get in, run in another terminal:',
      '',
      '    npx quorum bootstrap --email you@example.com --org "My Org"',
      '',
      '  It creates you as the owner of a new org and prints an API key once. Then:',
      '',
      `    export QUORUM_URL=${url} QUORUM_API_KEY=<the key>`,
      '    npx quorum projects create my-repo --repo /path/to/repo',
      `    curl -H "X-API-Key: $QUORUM_API_KEY" ${url}/v1/projects`,
    );
    if (config.auth.signup !== 'closed') {
      lines.push('', `  Or sign up as the first user (you will own a new org): POST ${url}/v1/auth/signup {"email","password","name"}`);
    }
  }
  process.stdout.write(lines.join('\n') + '\n\n');
}
