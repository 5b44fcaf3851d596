import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { AppError } from '../../core/errors.js';
import { describeLocalRepo } from '../../core/git/local-repo.js';
import type { RequestContext } from '../../core/tenancy/actor.js';
import { registerRepository } from '../../core/tenancy/register-repository.js';
import type { Runtime } from '../../main/runtime.js';
import type { QuorumBackend } from './backend.js';
import { coreBackend } from './core-backend.js';
import { localActor } from './local-identity.js';

/** How long shutdown waits for the in-process job worker before closing the database regardless. */
const WORKER_STOP_BOUND_MS = 10_000;

export interface LocalMcpOptions {
  logger: Logger;
  /** The developer's working directory: its repository becomes the default project. */
  cwd: string;
  /** A project to use instead of registering the current repository. */
  project?: string | undefined;
  /** Act as this key's user instead of the local owner. */
  apiKey?: string | undefined;
  /** Jobs this process runs at once (reviews need a worker; a `quorum serve` beside it helps too). */
  workerConcurrency?: number;
}

export interface LocalMcp {
  backend: QuorumBackend;
  defaultProject: string | undefined;
  workingTreeDir: string | undefined;
  close(): Promise<void>;
}

/**
 * Local mode of `quorum mcp`: the embedded database in the data directory (or DATABASE_URL), the
 * local owner, the current repository registered as a project on first use, and a job worker in
 * this process so reviews run with no server at all.
 */
export async function openLocalMcp(config: Config, o: LocalMcpOptions): Promise<LocalMcp> {
  const { openRuntime } = await import('../../main/runtime.js');
  let rt: Runtime;
  try {
    rt = await openRuntime(config, { logger: o.logger, migrate: true, applicationName: 'quorum-mcp', poolSize: 3 });
  } catch (e) {
    throw new AppError('database_unavailable', `the local Quorum database could not start: ${(e as Error).message}`);
  }
  let stopWorker: (() => Promise<void>) | undefined;
  try {
    const actor = await localActor(rt.deps, { apiKey: o.apiKey, cwd: o.cwd });
    const ctx = (): RequestContext => ({ actor, ip: null, userAgent: 'quorum-mcp', correlationId: randomUUID() });
    let defaultProject = o.project;
    let workingTreeDir: string | undefined;
    const repo = await describeLocalRepo(o.cwd).catch(() => undefined);
    if (repo) workingTreeDir = repo.root;
    if (!defaultProject && repo) {
      const { project, created } = await registerRepository(rt.deps, ctx(), { repoUrl: repo.root, name: repo.name, defaultBranch: repo.branch });
      defaultProject = project.slug;
      if (created) o.logger.info({ project: project.slug, repo: repo.root }, 'registered the current repository as a project');
    }
    if (!repo) o.logger.warn({ cwd: o.cwd }, 'not inside a git repository: tools need an explicit project');
    const { startWorker } = await import('../worker/runner.js');
    const w = await startWorker(rt, { concurrency: o.workerConcurrency ?? 2, workerName: 'mcp' });
    stopWorker = () => w.stop();
    return {
      backend: coreBackend(rt.deps, ctx),
      defaultProject,
      workingTreeDir,
      close: async () => {
        // Bounded: the embedded database must be stopped even if the worker cannot stop in time
        // (seen when the client leaves while the worker is still starting).
        let timer: NodeJS.Timeout | undefined;
        const stopped = await Promise.race([
          stopWorker?.().then(() => true),
          new Promise<false>((r) => (timer = setTimeout(() => r(false), WORKER_STOP_BOUND_MS))),
        ]);
        clearTimeout(timer);
        if (!stopped) o.logger.warn({ ms: WORKER_STOP_BOUND_MS }, 'the job worker did not stop in time; closing the database anyway');
        await rt.close();
      },
    };
  } catch (e) {
    await stopWorker?.().catch(() => {});
    await rt.close().catch(() => {});
    throw e;
  }
}
