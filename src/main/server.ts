import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Config } from '../config.js';
import { buildApp } from '../adapters/http/app.js';
import { allRoutes } from '../adapters/http/all-routes.js';
import { createLogger } from './logger.js';
import { openRuntime, type Runtime } from './runtime.js';
import { VERSION } from '../version.js';

export interface ServerHandle {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  stop(): Promise<void>;
}

export interface ServeOptions {
  worker: boolean;
  /** Print the first-run banner to stdout (CLI), or not (tests). */
  banner?: boolean;
}

/** `quorum serve`: API (and, unless told not to, workers in-process) on the configured database. */
export async function startServer(config: Config, opts: ServeOptions): Promise<ServerHandle> {
  const logger = createLogger(config.logLevel, { role: opts.worker ? 'server+worker' : 'server' });
  const t0 = Date.now();
  const runtime = await openRuntime(config, { logger, migrate: true, applicationName: 'quorum-api' });
  let worker: { stop(): Promise<void> } | undefined;
  let app: FastifyInstance | undefined;
  try {
    app = await buildApp(runtime.deps, { version: VERSION, extraRoutes: allRoutes });
    const address = await app.listen({ host: config.http.host, port: config.http.port });
    if (opts.worker) {
      const { startWorker } = await import('../adapters/worker/runner.js');
      worker = await startWorker(runtime, { concurrency: config.worker.concurrency });
    }
    const url = config.http.publicUrl ?? address;
    logger.info({ url, ms: Date.now() - t0, database: config.database.mode, version: VERSION }, 'quorum ready');
    if (opts.banner) await printBanner(runtime, config, url);
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        await app!.close();
        await worker?.stop();
        await runtime.close();
      })());
    return { app, runtime, url, stop };
  } catch (e) {
    await app?.close().catch(() => {});
    await worker?.stop().catch(() => {});
    await runtime.close();
    throw e;
  }
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
