/**
 * Token buckets as the gate sees them. A bucket refills continuously at capacity/60 s up to its
 * capacity (Anthropic's documented model for RPM / ITPM / OTPM). Upstream pools and a tenant's own
 * limits are both buckets; a request takes from all of its buckets at once or from none.
 *
 * A `capacityPerMin` below zero means "not configured: use the provider's reported limit once its
 * headers have told us, this absolute value until then".
 */
export interface BucketDemand {
  key: string;
  capacityPerMin: number;
  amount: number;
  /** The caller's own limit (org / user / key): checked before the shared pool, never blocks others. */
  tenant: boolean;
}

/**
 * Fairness across processes (shared stores only, see migration 0008): the org's weighted service so
 * far is compared with every other org waiting in any process before the pool admits the call.
 */
export interface FairnessClaim {
  /** The upstream pool (`provider:model class`). */
  pool: string;
  orgId: string;
  /** Orgs with calls waiting in this process for the pool: they count as backlogged. */
  waiting: readonly string[];
  /** Weighted service this call adds to its org's counter when admitted. */
  service: number;
  /** How far ahead of the lowest waiting org this org may be and still be admitted. */
  slack: number;
  /** How long a report of waiting orgs holds (the scheduler reports at least this often while they wait). */
  backlogMs: number;
}

export type AcquireResult =
  | { ok: true }
  /** `fair`: the buckets could admit it, but its org is ahead of another org waiting elsewhere. */
  | { ok: false; waitMs: number; blockedKey: string; tenant: boolean; fair?: boolean };

export interface LearnInput {
  /** The provider's real limit from its headers. */
  limit?: number | undefined;
  /** What the provider says is left: lowers ours, never raises it. */
  remaining?: number | undefined;
  /** Epoch ms until which nothing may be sent to this bucket's pool (after a 429 or an open breaker). */
  pauseUntilMs?: number | undefined;
}

export interface BucketStore {
  /** All-or-nothing: takes every amount if every bucket can give it now (and, when claimed, fairness allows). */
  acquire(items: readonly BucketDemand[], fairness?: FairnessClaim): Promise<AcquireResult>;
  /** Positive deltas give tokens back, negative ones charge more (the bucket may go below zero). */
  adjust(items: ReadonlyArray<{ key: string; capacityPerMin: number; delta: number }>): Promise<void>;
  learn(key: string, capacityPerMin: number, input: LearnInput): Promise<void>;
  /** Whether other processes share these buckets (then waiting re-checks periodically). */
  readonly shared: boolean;
}

/** Effective capacity: the configured one, lowered by a learned limit; unconfigured follows the learned one. */
export function effectiveCapacity(configured: number, learned: number | undefined): number {
  if (learned === undefined) return Math.abs(configured);
  return configured < 0 ? learned : Math.min(configured, learned);
}

interface MemoryBucket {
  tokens: number;
  learned: number | undefined;
  pausedUntil: number;
  updatedAt: number;
}

/**
 * Buckets in this process's memory: for a single process (and for tests and benchmarks of the
 * scheduler). Same semantics as the PostgreSQL functions in migration 0007.
 */
export class MemoryBucketStore implements BucketStore {
  readonly shared = false;
  private readonly buckets = new Map<string, MemoryBucket>();

  constructor(
    private readonly now: () => number = Date.now,
    /** Pool buckets keep this much refill in hand (see quorum.gate_acquire). */
    private readonly headroomMs = 0,
  ) {}

  private bucket(key: string, configured: number, now: number): { b: MemoryBucket; cap: number; avail: number } {
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: Math.abs(configured), learned: undefined, pausedUntil: 0, updatedAt: now };
      this.buckets.set(key, b);
    }
    const cap = effectiveCapacity(configured, b.learned);
    const avail = Math.min(cap, b.tokens + (Math.max(0, now - b.updatedAt) * cap) / 60_000);
    return { b, cap, avail };
  }

  acquire(items: readonly BucketDemand[]): Promise<AcquireResult> {
    const now = this.now();
    const rows = items.map((d) => ({ d, ...this.bucket(d.key, d.capacityPerMin, now) }));
    let worst: { waitMs: number; key: string; tenant: boolean } | undefined;
    const consider = (waitMs: number, key: string, tenant: boolean) => {
      if (waitMs > 0 && (!worst || waitMs > worst.waitMs)) worst = { waitMs, key, tenant };
    };
    for (const r of rows) if (r.b.pausedUntil > now) consider(r.b.pausedUntil - now, r.d.key, r.d.tenant);
    for (const pass of [true, false]) {
      if (worst) break;
      for (const r of rows) {
        if (r.d.tenant !== pass) continue;
        const need = r.d.tenant ? Math.min(r.d.amount, r.cap) : Math.min(r.cap, Math.min(r.d.amount, r.cap) + (r.cap * this.headroomMs) / 60_000);
        if (r.avail < need) consider(((need - r.avail) * 60_000) / r.cap, r.d.key, r.d.tenant);
      }
    }
    if (worst) return Promise.resolve({ ok: false, waitMs: worst.waitMs, blockedKey: worst.key, tenant: worst.tenant });
    for (const r of rows) {
      r.b.tokens = r.avail - Math.min(r.d.amount, r.cap);
      r.b.updatedAt = now;
    }
    return Promise.resolve({ ok: true });
  }

  adjust(items: ReadonlyArray<{ key: string; capacityPerMin: number; delta: number }>): Promise<void> {
    const now = this.now();
    for (const it of items) {
      const { b, cap, avail } = this.bucket(it.key, it.capacityPerMin, now);
      b.tokens = Math.min(cap, avail + it.delta);
      b.updatedAt = now;
    }
    return Promise.resolve();
  }

  learn(key: string, capacityPerMin: number, input: LearnInput): Promise<void> {
    const now = this.now();
    const { b, avail } = this.bucket(key, capacityPerMin, now);
    b.tokens = input.remaining === undefined ? avail : Math.min(avail, input.remaining);
    b.updatedAt = now;
    if (input.limit !== undefined && input.limit > 0) b.learned = input.limit;
    if (input.pauseUntilMs !== undefined) b.pausedUntil = Math.max(b.pausedUntil, input.pauseUntilMs);
    return Promise.resolve();
  }

  /** For tests and metrics: tokens available now. */
  peek(key: string, capacityPerMin: number): number {
    return this.bucket(key, capacityPerMin, this.now()).avail;
  }
}
