import type { Command } from 'commander';
import { startServer } from '../../../main/server.js';
import { startWorkerProcess } from '../../../main/worker.js';
import { configFrom } from '../context.js';

/**
 * SIGTERM/SIGINT → graceful stop, then exit 0 (1 if the stop failed). Installed before the process
 * starts, so a signal during start-up stops it as soon as it is up instead of killing it midway.
 * A second signal exits at once (1).
 */
function handleShutdown(started: Promise<{ stop(): Promise<void> }>): void {
  // The embedded cluster's owner handle adds SIGINT/SIGTERM handlers during start-up that stop the
  // cluster and exit at once (for processes without signal handling of their own); this graceful
  // stop stops the cluster at its end, so ours replace those — now, and again once started.
  const onlyOurs = () => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      for (const l of process.listeners(sig)) if (l !== handler) process.removeListener(sig, l);
    }
  };
  let signalled = false;
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(1); // second signal: give up waiting
    signalled = true;
    process.stderr.write(`\n${sig}: shutting down\n`);
    started
      .then((s) => s.stop())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`shutdown failed: ${(e as Error).message}\n`);
          process.exit(1);
        },
      );
  };
  onlyOurs();
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  started.then(onlyOurs, () => {});
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
      const srv = startServer(config, { worker: o.worker, banner: true });
      handleShutdown(srv);
      await srv;
    });

  program
    .command('worker')
    .description('run job workers only (any number of these can share one DATABASE_URL)')
    .option('--concurrency <n>', 'jobs run at once by this process', (v) => Number(v))
    .action(async (o: { concurrency?: number }, cmd: Command) => {
      const { config } = configFrom(cmd);
      const w = startWorkerProcess(config, { concurrency: o.concurrency });
      handleShutdown(w);
      await w;
    });
}
