import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import pg from 'pg';
import type { Config } from '../config.js';
import { systemClock, type CoreDeps } from '../core/deps.js';
import { SecretBox, parseMasterKeys } from '../core/secrets/secret-box.js';
import { ApiKeyCache } from '../core/tenancy/api-key-cache.js';
import { EventHub } from '../core/events/listener.js';
import { MemoryBucketStore } from '../core/gate/buckets.js';
import { PgBucketStore } from '../core/gate/gate-buckets.repo.js';
import { SchedulingGate } from '../core/gate/scheduling-gate.js';
import { Metrics } from '../core/metrics.js';
import { buildProviderRegistry } from '../core/llm/providers/registry.js';
import { connectionConfig, createKysely, createPool, poolTimeouts } from '../db/client.js';
import { startEmbeddedPostgres, type EmbeddedHandle } from '../db/embedded.js';
import { migrate } from '../db/migrate.js';
import { classifyDbFault } from '../db/availability.js';
import { collectClusterMetrics } from '../core/jobs/collect-cluster-metrics.js';
import { filesystemUsedFraction } from '../core/git/disk.js';

export interface Runtime {
  deps: CoreDeps;
  /** Owner connection string: migrations and graphile-worker (job claiming is a named cross-org path). */
  adminUrl: string;
  appPool: pg.Pool;
  /** How appPool connects (as the runtime role, with its timeouts), for a dedicated connection beside the pool. */
  appConnection: pg.ClientConfig;
  embedded: EmbeddedHandle | undefined;
  close(): Promise<void>;
}

export interface OpenOptions {
  logger: Logger;
  migrate?: boolean;
  applicationName?: string;
  poolSize?: number;
}

/**
 * Composition of the core's dependencies, shared by server, worker and CLI: start (or share) the
 * embedded PostgreSQL when no DATABASE_URL is given, migrate as the owner, open the runtime pool as
 * the RLS-bound role, load the master key.
 */
export async function openRuntime(config: Config, opts: OpenOptions): Promise<Runtime> {
  const log = opts.logger;
  let embedded: EmbeddedHandle | undefined;
  let runtimeUrl = config.database.url;
  let adminUrl = config.database.adminUrl;
  if (config.database.mode === 'embedded') {
    const t0 = Date.now();
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, logger: log });
    runtimeUrl = embedded.url;
    adminUrl = embedded.url;
    log.info({ ms: Date.now() - t0, port: embedded.port, shared: !embedded.owned }, 'embedded PostgreSQL ready');
  }
  if (!runtimeUrl || !adminUrl) throw new Error('no database configured');
  try {
    // A process started while its database restarts (a cluster node rebooting, a deploy racing a
    // failover) waits for it, bounded, instead of exiting at once.
    await waitForDatabase(adminUrl, config, log);
    if (opts.migrate !== false) {
      const res = await migrate(adminUrl, config.database.appRole, (m) => log.info(m));
      if (res.applied.length) log.info({ applied: res.applied }, 'migrations applied');
    }
    const appPool = createPool({
      url: runtimeUrl,
      max: opts.poolSize ?? config.database.poolSize,
      statementTimeoutMs: config.database.statementTimeoutMs,
      idleTimeoutMs: config.database.idleTimeoutMs,
      connectTimeoutMs: config.database.connectTimeoutMs,
      applicationName: opts.applicationName ?? 'quorum',
      role: config.database.appRole,
    });
    const db = createKysely(appPool);
    const hub = new EventHub({ db, logger: log, role: config.database.appRole, applicationName: `${opts.applicationName ?? 'quorum'}-events` });
    const metrics = new Metrics();
    const gate = new SchedulingGate({
      db,
      store: config.gate.store === 'memory' ? new MemoryBucketStore(Date.now, config.gate.headroomMs) : new PgBucketStore(db, config.gate.headroomMs),
      config: config.gate,
      tierLimits: config.tierLimits,
      logger: log.child({ component: 'gate' }),
      metrics,
    });
    const masterKeys = await loadMasterKeys(config);
    const secrets = new SecretBox(masterKeys);
    const jwtKey = config.auth.jwtSecret ? new TextEncoder().encode(config.auth.jwtSecret) : secrets.deriveKey('jwt-hs256');
    const deps: CoreDeps = {
      db,
      pool: appPool,
      config,
      logger: log,
      clock: systemClock,
      secrets,
      jwtKey,
      apiKeyCache: new ApiKeyCache(config.auth.apiKeyCacheMs),
      events: hub,
      gate,
      llm: buildProviderRegistry(config.llm),
      metrics,
    };
    await hub.start(runtimeUrl);
    deps.metrics.onScrape(() => {
      deps.metrics.dbPool.set({ pool: 'app', state: 'total' }, appPool.totalCount);
      deps.metrics.dbPool.set({ pool: 'app', state: 'idle' }, appPool.idleCount);
      deps.metrics.dbPool.set({ pool: 'app', state: 'waiting' }, appPool.waitingCount);
    });
    deps.metrics.onScrape(() => collectClusterMetrics(deps));
    deps.metrics.onScrape(async () => deps.metrics.worktreeDiskUsed.set(await filesystemUsedFraction(config.dataDir)));
    return {
      deps,
      adminUrl,
      appPool,
      appConnection: { ...connectionConfig(runtimeUrl, config.database.appRole), ...poolTimeouts(config.database) },
      embedded,
      close: async () => {
        await deps.gate.close?.().catch(() => undefined);
        await hub.stop();
        await deps.db.destroy().catch(() => {});
        await embedded?.stop();
      },
    };
  } catch (e) {
    await embedded?.stop();
    throw e;
  }
}

/**
 * Resolves once `select 1` succeeds; retries connection-class failures with backoff for up to
 * config.databaseBootWaitMs. Anything else (bad password, unknown database) fails at once.
 */
async function waitForDatabase(url: string, config: Config, log: Logger): Promise<void> {
  const deadline = Date.now() + config.databaseBootWaitMs;
  for (let attempt = 0; ; attempt++) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: config.database.connectTimeoutMs });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('select 1');
      if (attempt > 0) log.info({ attempts: attempt + 1 }, 'database reachable');
      return;
    } catch (e) {
      if (!classifyDbFault(e) || Date.now() >= deadline) throw e;
      const delay = Math.min(5_000, 100 * 2 ** attempt);
      if (attempt === 0 || attempt % 5 === 0) log.warn({ err: { message: (e as Error).message }, retry_in_ms: delay }, 'waiting for the database');
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    } finally {
      await c.end().catch(() => {});
    }
  }
}

/** QUORUM_MASTER_KEY, else a generated key file (0600) in the data directory, created once. */
async function loadMasterKeys(config: Config): Promise<Buffer[]> {
  if (config.masterKey) return parseMasterKeys(config.masterKey);
  const file = path.join(config.dataDir, 'master.key');
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  try {
    await fs.writeFile(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return parseMasterKeys((await fs.readFile(file, 'utf8')).trim());
}
