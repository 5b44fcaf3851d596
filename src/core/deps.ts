import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { SecretBox } from './secrets/secret-box.js';
import type { ApiKeyCache } from './tenancy/api-key-cache.js';
import type { WakeSource } from './events/follow.js';
import type { Gate } from './gate/gate.js';
import type { Metrics } from './metrics.js';
import type { ProviderRegistry } from './llm/providers/registry.js';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * Everything core needs, passed explicitly (house rule 2): no module singletons, no process.env.
 * `db` connects as the runtime role, which cannot bypass row-level security.
 */
export interface CoreDeps {
  db: Db;
  /** The runtime pool behind `db` (statistics for health checks). */
  pool: { totalCount: number; idleCount: number; waitingCount: number };
  config: Config;
  logger: Logger;
  clock: Clock;
  secrets: SecretBox;
  /** HMAC/JWT signing key material, derived from the master key. */
  jwtKey: Uint8Array;
  /** Per-process cache of API-key lookups (invalidated by revocation and membership changes). */
  apiKeyCache: ApiKeyCache;
  /** Wake-ups when events are written by any process (LISTEN/NOTIFY); data is always re-read. */
  events: WakeSource;
  /** Every LLM call passes through it (rate limits, fairness, budgets). */
  gate: Gate;
  /** Configured LLM providers (anthropic, openai-compatible). */
  llm: ProviderRegistry;
  /** This process's Prometheus metrics. */
  metrics: Metrics;
}
