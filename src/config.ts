import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * The only place that reads process.env. Everything else receives a typed Config.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const PoolLimitsShape = { rpm: z.number().int().min(1).optional(), itpm: z.number().int().min(1).optional(), otpm: z.number().int().min(1).optional() };

/** An env var holding JSON, validated by `schema`. */
function jsonOf<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const EnvSchema = z.object({
  QUORUM_DATA_DIR: z.string().min(1).optional(),
  /** Where local repositories (absolute paths, file://) may be: "any" (default), "none", or directories separated by ":". */
  QUORUM_LOCAL_REPO_ROOTS: z.string().min(1).optional(),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_ADMIN_URL: z.string().url().optional(),
  QUORUM_EMBEDDED_PG_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  QUORUM_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
  QUORUM_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  QUORUM_DB_IDLE_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  QUORUM_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(7420),
  QUORUM_PUBLIC_URL: z.string().url().optional(),
  QUORUM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  QUORUM_SIGNUP: z.enum(['open', 'invite', 'closed']).default('invite'),
  QUORUM_MASTER_KEY: z.string().min(1).optional(),
  QUORUM_JWT_SECRET: z.string().min(32).optional(),
  QUORUM_AUTH_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(1).default(10),
  QUORUM_API_KEY_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  QUORUM_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  QUORUM_WORKER_HEARTBEAT_MS: z.coerce.number().int().min(100).default(2_000),
  QUORUM_WORKER_LAPSE_MS: z.coerce.number().int().min(500).default(10_000),
  QUORUM_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  // Cluster: graceful shutdown, singletons, a starting process waiting for its database, metrics port.
  QUORUM_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(20_000),
  QUORUM_SINGLETON_PING_MS: z.coerce.number().int().min(100).default(2_000),
  QUORUM_DB_BOOT_WAIT_MS: z.coerce.number().int().min(0).default(60_000),
  QUORUM_WORKTREE_ORPHAN_GRACE_MS: z.coerce.number().int().min(1_000).default(600_000),
  QUORUM_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  QUORUM_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(365),
  QUORUM_WORKTREE_DISK_THRESHOLD: z.coerce.number().min(0).max(1).default(0.8),
  QUORUM_CORS_ORIGINS: z.string().optional(),
  QUORUM_METRICS_PUBLIC: bool.default(false),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: z.string().url().default('https://api.anthropic.com'),
  QUORUM_ANTHROPIC_MODEL: z.string().min(1).default('claude-sonnet-4-6'),
  QUORUM_OPENAI_BASE_URL: z.string().url().optional(),
  QUORUM_OPENAI_API_KEY: z.string().min(1).optional(),
  QUORUM_OPENAI_MODEL: z.string().min(1).optional(),
  QUORUM_OPENAI_STRUCTURED_OUTPUT: z.enum(['json_schema', 'tools', 'none']).default('json_schema'),
  QUORUM_LLM_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(120_000),
  QUORUM_LLM_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(256).max(64_000).default(4_096),
  // The gate: upstream limits per provider account (each model class gets these), tenant limits, prices.
  ANTHROPIC_RPM: z.coerce.number().int().min(1).optional(),
  ANTHROPIC_ITPM: z.coerce.number().int().min(1).optional(),
  ANTHROPIC_OTPM: z.coerce.number().int().min(1).optional(),
  QUORUM_OPENAI_RPM: z.coerce.number().int().min(1).optional(),
  QUORUM_OPENAI_ITPM: z.coerce.number().int().min(1).optional(),
  QUORUM_OPENAI_OTPM: z.coerce.number().int().min(1).optional(),
  QUORUM_GATE_POOLS: jsonOf(z.record(z.string().regex(/^[a-z-]+:[A-Za-z0-9._-]+$/), z.strictObject(PoolLimitsShape))).optional(),
  QUORUM_GATE_PRICES: jsonOf(
    z.record(z.string().min(1), z.strictObject({ input: z.number().min(0), output: z.number().min(0), cache_write: z.number().min(0).optional(), cache_read: z.number().min(0).optional() })),
  ).optional(),
  QUORUM_TIER_LIMITS: jsonOf(
    z.partialRecord(
      z.enum(['free', 'pro', 'enterprise']),
      z.strictObject({ max_projects: z.number().int().min(1).optional(), max_concurrent_reviews: z.number().int().min(1).optional(), monthly_budget_usd: z.number().min(0).optional() }),
    ),
  ).optional(),
  QUORUM_GATE_STORE: z.enum(['postgres', 'memory']).default('postgres'),
  QUORUM_GATE_AGING_MS: z.coerce.number().int().min(0).default(30_000),
  QUORUM_GATE_HEADROOM_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
  QUORUM_GATE_POLL_MS: z.coerce.number().int().min(5).max(5_000).default(100),
  QUORUM_GATE_MAX_RETRIES: z.coerce.number().int().min(0).max(50).default(8),
  QUORUM_GATE_WEIGHTS: z
    .string()
    .regex(/^(free|pro|enterprise)=\d+(\.\d+)?(,(free|pro|enterprise)=\d+(\.\d+)?)*$/, 'expected e.g. free=1,pro=2,enterprise=4')
    .optional(),
  QUORUM_GATE_ORG_RPM: z.coerce.number().int().min(1).optional(),
  QUORUM_GATE_ORG_TPM: z.coerce.number().int().min(1).optional(),
  QUORUM_GATE_USER_RPM: z.coerce.number().int().min(1).optional(),
  QUORUM_GATE_USER_TPM: z.coerce.number().int().min(1).optional(),
  QUORUM_GATE_KEY_RPM: z.coerce.number().int().min(1).optional(),
  QUORUM_GATE_KEY_TPM: z.coerce.number().int().min(1).optional(),
});

export type DatabaseMode = 'embedded' | 'external';

export interface Config {
  dataDir: string;
  /**
   * Directories a project's local repository (absolute path or file://) must be under; null: any
   * (one team's own machine), []: none (only remote repositories — an installation shared by orgs
   * that must not read each other's checkouts on the server's disk).
   */
  localRepoRoots: string[] | null;
  database: {
    mode: DatabaseMode;
    /** Runtime connection (tenant work); undefined in embedded mode until the server is started. */
    url: string | undefined;
    /** Owner connection used for migrations and the named cross-org functions' owner. */
    adminUrl: string | undefined;
    embeddedPort: number;
    poolSize: number;
    statementTimeoutMs: number;
    idleTimeoutMs: number;
    connectTimeoutMs: number;
    /** The runtime role: cannot bypass RLS. Fixed because migrations grant to it by name. */
    appRole: 'quorum_app';
  };
  http: { host: string; port: number; publicUrl: string | undefined; corsOrigins: string[] };
  logLevel: string;
  auth: {
    signup: 'open' | 'invite' | 'closed';
    jwtSecret: string | undefined;
    rateLimitPerMinute: number;
    /** How long a process may reuse an API-key lookup (0 disables the cache). */
    apiKeyCacheMs: number;
  };
  masterKey: string | undefined;
  worker: {
    concurrency: number;
    heartbeatMs: number;
    lapseMs: number;
    sweepIntervalMs: number;
    /** How often a singleton's holder checks that it still holds its lock (and its connection lives). */
    singletonPingMs: number;
  };
  auditRetentionDays: number;
  /** Above this used fraction of the data filesystem, reviews that need a worktree wait. */
  worktreeDiskThreshold: number;
  /** A worktree directory without a lease, older than this, is removed by the sweeper. */
  worktreeOrphanGraceMs: number;
  metricsPublic: boolean;
  /** SIGTERM: in-flight HTTP requests and jobs get this long to finish before jobs are handed back. */
  shutdownGraceMs: number;
  /** A process that starts while its (external) database is unreachable waits this long for it. */
  databaseBootWaitMs: number;
  /** When set, /metrics is also served without auth on this port (worker processes, private scrapers). */
  metricsPort: number | undefined;
  llm: LlmConfig;
  gate: GateConfig;
  /** Overrides of the per-tier limits (src/core/tenancy/tiers.ts). */
  tierLimits: Partial<Record<'free' | 'pro' | 'enterprise', { max_projects?: number | undefined; max_concurrent_reviews?: number | undefined; monthly_budget_usd?: number | undefined }>>;
}

export interface PoolLimits {
  rpm?: number | undefined;
  itpm?: number | undefined;
  otpm?: number | undefined;
}

export interface TenantRateLimits {
  rpm?: number | undefined;
  tpm?: number | undefined;
}

/** The gate (src/core/gate): upstream limits, fairness, tenant limits, prices. */
export interface GateConfig {
  /** `postgres`: buckets shared by every process (the default); `memory`: this process only. */
  store: 'postgres' | 'memory';
  /** Per provider account, applied to each of its model classes; absent = learn from headers. */
  providers: Record<string, PoolLimits>;
  /** Overrides per `provider:modelClass`, e.g. `anthropic:haiku`. */
  pools: Record<string, PoolLimits>;
  /** USD per million tokens by model-name prefix (merged over the built-in table). */
  prices: Record<string, { input: number; output: number; cacheWrite?: number | undefined; cacheRead?: number | undefined }>;
  agingMs: number;
  /** Pool buckets admit only while this much refill would remain (the provider reserves later than we do). */
  headroomMs: number;
  pollMs: number;
  maxRetries: number;
  weights: Record<'free' | 'pro' | 'enterprise', number>;
  /** Defaults for every org / user / API key; rows in gate_limits override them. */
  defaults: { org: TenantRateLimits; user: TenantRateLimits; key: TenantRateLimits };
}

/** LLM providers. A provider without its key/URL is simply not available (reviewers fall back to builtin). */
export interface LlmConfig {
  anthropic: { apiKey: string | undefined; baseUrl: string; model: string };
  /** Any `/v1/chat/completions` server (vLLM, Ollama, llama.cpp); baseUrl includes the `/v1` part. */
  openai: { baseUrl: string | undefined; apiKey: string | undefined; model: string | undefined; structuredOutput: 'json_schema' | 'tools' | 'none' };
  timeoutMs: number;
  maxOutputTokens: number;
}

export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function parseLocalRepoRoots(v: string | undefined): string[] | null {
  if (v === undefined || v.trim() === 'any') return null;
  if (v.trim() === 'none') return [];
  const dirs = v.split(':').map((d) => d.trim()).filter(Boolean);
  const relative = dirs.filter((d) => !path.isAbsolute(d));
  if (relative.length) throw new ConfigError([`QUORUM_LOCAL_REPO_ROOTS: directories must be absolute (${relative.join(', ')}), or "any" / "none"`]);
  return dirs.map((d) => path.resolve(d));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<string, string>> = {}): Config {
  const merged = { ...env, ...overrides };
  // Empty strings mean "unset" (common in .env files and CI matrices).
  const cleaned = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.QUORUM_DATA_DIR ?? path.join(os.homedir(), '.quorum'));
  return {
    dataDir,
    localRepoRoots: parseLocalRepoRoots(e.QUORUM_LOCAL_REPO_ROOTS),
    database: {
      mode: e.DATABASE_URL ? 'external' : 'embedded',
      url: e.DATABASE_URL,
      adminUrl: e.DATABASE_ADMIN_URL ?? e.DATABASE_URL,
      embeddedPort: e.QUORUM_EMBEDDED_PG_PORT,
      poolSize: e.QUORUM_DB_POOL_SIZE,
      statementTimeoutMs: e.QUORUM_DB_STATEMENT_TIMEOUT_MS,
      idleTimeoutMs: e.QUORUM_DB_IDLE_TIMEOUT_MS,
      connectTimeoutMs: e.QUORUM_DB_CONNECT_TIMEOUT_MS,
      appRole: 'quorum_app',
    },
    http: {
      host: e.HOST,
      port: e.PORT,
      publicUrl: e.QUORUM_PUBLIC_URL,
      corsOrigins: e.QUORUM_CORS_ORIGINS ? e.QUORUM_CORS_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean) : [],
    },
    logLevel: e.QUORUM_LOG_LEVEL,
    auth: { signup: e.QUORUM_SIGNUP, jwtSecret: e.QUORUM_JWT_SECRET, rateLimitPerMinute: e.QUORUM_AUTH_RATE_LIMIT_PER_MIN, apiKeyCacheMs: e.QUORUM_API_KEY_CACHE_MS },
    masterKey: e.QUORUM_MASTER_KEY,
    worker: {
      concurrency: e.QUORUM_WORKER_CONCURRENCY,
      heartbeatMs: e.QUORUM_WORKER_HEARTBEAT_MS,
      lapseMs: e.QUORUM_WORKER_LAPSE_MS,
      sweepIntervalMs: e.QUORUM_SWEEP_INTERVAL_MS,
      singletonPingMs: e.QUORUM_SINGLETON_PING_MS,
    },
    auditRetentionDays: e.QUORUM_AUDIT_RETENTION_DAYS,
    worktreeDiskThreshold: e.QUORUM_WORKTREE_DISK_THRESHOLD,
    worktreeOrphanGraceMs: e.QUORUM_WORKTREE_ORPHAN_GRACE_MS,
    metricsPublic: e.QUORUM_METRICS_PUBLIC,
    shutdownGraceMs: e.QUORUM_SHUTDOWN_GRACE_MS,
    databaseBootWaitMs: e.QUORUM_DB_BOOT_WAIT_MS,
    metricsPort: e.QUORUM_METRICS_PORT,
    llm: {
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL, model: e.QUORUM_ANTHROPIC_MODEL },
      openai: {
        baseUrl: e.QUORUM_OPENAI_BASE_URL,
        apiKey: e.QUORUM_OPENAI_API_KEY,
        model: e.QUORUM_OPENAI_MODEL,
        structuredOutput: e.QUORUM_OPENAI_STRUCTURED_OUTPUT,
      },
      timeoutMs: e.QUORUM_LLM_TIMEOUT_MS,
      maxOutputTokens: e.QUORUM_LLM_MAX_OUTPUT_TOKENS,
    },
    tierLimits: e.QUORUM_TIER_LIMITS ?? {},
    gate: {
      store: e.QUORUM_GATE_STORE,
      providers: {
        anthropic: { rpm: e.ANTHROPIC_RPM, itpm: e.ANTHROPIC_ITPM, otpm: e.ANTHROPIC_OTPM },
        'openai-compatible': { rpm: e.QUORUM_OPENAI_RPM, itpm: e.QUORUM_OPENAI_ITPM, otpm: e.QUORUM_OPENAI_OTPM },
      },
      pools: e.QUORUM_GATE_POOLS ?? {},
      prices: Object.fromEntries(
        Object.entries(e.QUORUM_GATE_PRICES ?? {}).map(([k, v]) => [k, { input: v.input, output: v.output, cacheWrite: v.cache_write, cacheRead: v.cache_read }]),
      ),
      agingMs: e.QUORUM_GATE_AGING_MS,
      headroomMs: e.QUORUM_GATE_HEADROOM_MS,
      pollMs: e.QUORUM_GATE_POLL_MS,
      maxRetries: e.QUORUM_GATE_MAX_RETRIES,
      weights: {
        free: 1,
        pro: 2,
        enterprise: 4,
        ...Object.fromEntries((e.QUORUM_GATE_WEIGHTS ?? '').split(',').filter(Boolean).map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])])),
      },
      defaults: {
        org: { rpm: e.QUORUM_GATE_ORG_RPM, tpm: e.QUORUM_GATE_ORG_TPM },
        user: { rpm: e.QUORUM_GATE_USER_RPM, tpm: e.QUORUM_GATE_USER_TPM },
        key: { rpm: e.QUORUM_GATE_KEY_RPM, tpm: e.QUORUM_GATE_KEY_TPM },
      },
    },
  };
}

const SECRET_KEYS = /password|secret|key|token/i;

/** The effective config for `quorum doctor` and logs: secrets and URL passwords redacted. */
export function redactConfig(config: Config): unknown {
  const redactUrl = (u: string | undefined) => {
    if (!u) return u;
    try {
      const url = new URL(u);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return '***';
    }
  };
  const walk = (v: unknown, key = ''): unknown => {
    if (typeof v === 'string') {
      if (/url$/i.test(key)) return redactUrl(v);
      if (SECRET_KEYS.test(key)) return '***';
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  return walk(config);
}
