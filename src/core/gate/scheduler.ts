import { AppError } from '../errors.js';
import type { BucketDemand, BucketStore, FairnessClaim } from './buckets.js';
import { abortError } from './gate.js';

/**
 * The fair scheduler of one upstream pool (provider account × model class), in one process.
 *
 * Between orgs: weighted virtual token counters (VTC; Sheng et al., "Fairness in Serving Large
 * Language Models", OSDI '24). Each org's counter grows by the service it receives (input tokens +
 * 2 × output tokens) divided by its weight; the waiting org with the lowest counter is served next.
 * An org whose queue was empty has its counter lifted, when a request arrives, to the lowest
 * counter among the backlogged orgs (or to the last one served), so time spent not waiting banks no
 * credit — also time when all of its calls were in flight: an org held back by its own concurrency
 * is not backlogged (the paper's rule; keeping credit there let a burst at start, when a full bucket
 * served everyone, be "repaid" by starving the busiest org for a minute afterwards).
 *
 * Inside an org: requests that had to give their slot back (a 429) first, then requests that have
 * waited longer than the aging bound (oldest first), then by class (role and priority) and age.
 *
 * Admission takes from every bucket of the request at once — its tenant's own limits and the
 * pool's RPM / ITPM / OTPM — or waits. A request over its own tenant limit is skipped, not waited
 * on: the next one is considered, so one tenant's limit never idles the pool. A request the POOL
 * cannot fit yet stops the round (the head keeps its turn: letting smaller ones pass would starve
 * larger ones). The loop never sleeps while a request is admissible.
 *
 * Several processes: each orders its own queue as above, and with a shared store and a
 * `fairnessPool` every admission also passes the shared counters (quorum.gate_acquire, 0008): an
 * org ahead of an org waiting in another process is skipped for now, like a tenant over its limit.
 */

export interface Admission {
  orgId: string;
  /** Tier weight: an org of weight 2 receives twice the service of an org of weight 1 when both wait. */
  weight: number;
  /** Higher first inside the org (role and priority). */
  classRank: number;
  /** Tenant limits first, then the pool's buckets. */
  demands: BucketDemand[];
  /** Service the request is expected to receive (input + 2 × estimated output), charged at dispatch. */
  cost: number;
  /** A request that gave its slot back after a 429 goes before everything else in its org. */
  head?: boolean;
  /** Fail with `rate_limited` instead of waiting for the tenant's own limit. */
  noWait?: boolean;
  signal?: AbortSignal | undefined;
}

export interface Admitted {
  /** Milliseconds spent waiting in the scheduler. */
  waitedMs: number;
}

interface Pending extends Admission {
  seq: number;
  enqueuedAt: number;
  blockedUntil: number;
  done: boolean;
  resolve(a: Admitted): void;
  reject(e: unknown): void;
}

interface OrgState {
  counter: number;
  queue: Pending[];
}

export interface SchedulerOptions {
  store: BucketStore;
  now?: () => number;
  /** A request waiting longer than this is served before higher classes of its org. */
  agingMs: number;
  /** Longest sleep while blocked on a shared pool (other processes may give tokens back meanwhile). */
  pollMs?: number;
  /**
   * The pool's name for fairness across processes (shared stores): every pool admission is then
   * also checked against the counters of orgs waiting in other processes (migration 0008).
   */
  fairnessPool?: string;
  onError?: (e: unknown) => void;
}

export class PoolScheduler {
  private readonly orgs = new Map<string, OrgState>();
  private readonly store: BucketStore;
  private readonly now: () => number;
  private readonly agingMs: number;
  private readonly pollMs: number;
  private seq = 0;
  private lastServedCounter = 0;
  private running = false;
  private wakeUp: (() => void) | undefined;
  private wakePending = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.store = opts.store;
    this.now = opts.now ?? (() => performance.now());
    this.agingMs = opts.agingMs;
    this.pollMs = opts.pollMs ?? (opts.store.shared ? 100 : Number.POSITIVE_INFINITY);
  }

  /** Resolves when the request has been admitted (its buckets taken), rejects on abort or noWait. */
  admit(a: Admission): Promise<Admitted> {
    if (a.signal?.aborted) return Promise.reject(abortError(a.signal));
    return new Promise<Admitted>((resolve, reject) => {
      const p: Pending = { ...a, seq: ++this.seq, enqueuedAt: this.now(), blockedUntil: 0, done: false, resolve, reject };
      let org = this.orgs.get(a.orgId);
      if (!org) {
        org = { counter: 0, queue: [] };
        this.orgs.set(a.orgId, org);
      }
      // Becoming backlogged: no banked credit.
      if (org.queue.length === 0) this.lift(a.orgId, org);
      org.queue.push(p);
      a.signal?.addEventListener(
        'abort',
        () => {
          if (p.done) return;
          this.remove(p);
          reject(abortError(a.signal as AbortSignal));
        },
        { once: true },
      );
      this.kick();
    });
  }

  /** VTC correction after a call settles (real usage vs the estimate), or a refund when it gave its slot back. */
  charge(orgId: string, weight: number, serviceDelta: number): void {
    const org = this.orgs.get(orgId);
    if (org) org.counter += serviceDelta / weight;
  }

  /** Something changed outside the scheduler (tokens given back): look again now. */
  kick(): void {
    if (this.running) {
      this.wakePending = true;
      this.wakeUp?.();
      return;
    }
    this.running = true;
    void this.loop().finally(() => {
      this.running = false;
      if (this.waiting() > 0 && this.wakePending) this.kick();
    });
  }

  waiting(): number {
    let n = 0;
    for (const o of this.orgs.values()) n += o.queue.length;
    return n;
  }

  /** Counters of the orgs this scheduler has seen (tests, /health/detailed). */
  counters(): Record<string, number> {
    return Object.fromEntries([...this.orgs].map(([id, o]) => [id, o.counter]));
  }

  private lift(orgId: string, org: OrgState): void {
    let min = Number.POSITIVE_INFINITY;
    for (const [id, o] of this.orgs) if (id !== orgId && o.queue.length > 0) min = Math.min(min, o.counter);
    org.counter = Math.max(org.counter, Number.isFinite(min) ? min : this.lastServedCounter);
  }

  private remove(p: Pending): void {
    p.done = true;
    const org = this.orgs.get(p.orgId);
    if (!org) return;
    const i = org.queue.indexOf(p);
    if (i >= 0) org.queue.splice(i, 1);
  }

  /** The org's requests in the order they should be tried. */
  private ordered(org: OrgState, now: number): Pending[] {
    const aged = (p: Pending) => now - p.enqueuedAt >= this.agingMs;
    return [...org.queue].sort((a, b) => {
      if (!!a.head !== !!b.head) return a.head ? -1 : 1;
      const aa = aged(a);
      const ab = aged(b);
      if (aa !== ab) return aa ? -1 : 1;
      if (!aa && a.classRank !== b.classRank) return b.classRank - a.classRank;
      return a.seq - b.seq;
    });
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.wakePending = false;
      const now = this.now();
      const orgs = [...this.orgs.entries()].filter(([, o]) => o.queue.length > 0).sort(([, a], [, b]) => a.counter - b.counter);
      if (orgs.length === 0) return;
      let dispatched = false;
      let poolWaitMs: number | undefined;
      let nextTenantRetry = Number.POSITIVE_INFINITY;
      // Orgs that could be served now count as waiting for the shared fairness check; an org whose
      // every call waits on its own tenant limit must not hold other processes' orgs back.
      const waitingOrgs = orgs.filter(([, o]) => o.queue.some((p) => p.blockedUntil <= now)).map(([id]) => id);
      outer: for (const [orgId, org] of orgs) {
        for (const p of this.ordered(org, now)) {
          if (p.done) continue;
          if (p.blockedUntil > now) {
            nextTenantRetry = Math.min(nextTenantRetry, p.blockedUntil);
            continue;
          }
          let res;
          try {
            res = await this.store.acquire(p.demands, this.fairness(orgId, p, waitingOrgs));
          } catch (e) {
            // The store is unreachable (database restarting): back off and try again.
            this.opts.onError?.(e);
            poolWaitMs = Math.min(1000, this.pollMs);
            break outer;
          }
          if (res.ok) {
            if (p.done) {
              // Aborted while we were taking its tokens: give them back.
              await this.giveBack(p.demands);
              dispatched = true;
              break outer;
            }
            this.remove(p);
            org.counter += p.cost / p.weight;
            this.lastServedCounter = org.counter;
            p.resolve({ waitedMs: this.now() - p.enqueuedAt });
            dispatched = true;
            break outer;
          }
          if (res.fair) {
            // Its org is ahead of an org waiting in another process: that one goes first.
            nextTenantRetry = Math.min(nextTenantRetry, now + Math.min(res.waitMs, this.pollMs));
            continue outer;
          }
          if (res.tenant) {
            if (p.noWait) {
              this.remove(p);
              const retryAfter = Math.max(1, Math.ceil(res.waitMs / 1000));
              p.reject(new AppError('rate_limited', 'this request is over its own rate limit', { limit: limitName(res.blockedKey) }, retryAfter));
              continue;
            }
            p.blockedUntil = now + res.waitMs;
            nextTenantRetry = Math.min(nextTenantRetry, p.blockedUntil);
            continue;
          }
          poolWaitMs = res.waitMs;
          break outer;
        }
      }
      if (dispatched) continue;
      let sleepMs = Number.POSITIVE_INFINITY;
      if (poolWaitMs !== undefined) sleepMs = Math.min(poolWaitMs, this.pollMs);
      if (Number.isFinite(nextTenantRetry)) sleepMs = Math.min(sleepMs, nextTenantRetry - now);
      if (this.wakePending) continue;
      if (this.waiting() === 0) return;
      await this.sleep(sleepMs);
    }
  }

  private fairness(orgId: string, p: Pending, waiting: string[]): FairnessClaim | undefined {
    if (!this.opts.fairnessPool || !this.store.shared) return undefined;
    const service = p.cost / p.weight;
    return {
      pool: this.opts.fairnessPool,
      orgId,
      waiting,
      service,
      slack: 2 * service,
      backlogMs: Math.max(1_000, 5 * (Number.isFinite(this.pollMs) ? this.pollMs : 200)),
    };
  }

  private async giveBack(demands: BucketDemand[]): Promise<void> {
    try {
      await this.store.adjust(demands.map((d) => ({ key: d.key, capacityPerMin: d.capacityPerMin, delta: Math.min(d.amount, Math.abs(d.capacityPerMin)) })));
    } catch (e) {
      this.opts.onError?.(e);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.max(1, Math.ceil(ms))) : undefined;
      this.wakeUp = done;
    });
  }
}

/** `org:<id>:rpm` → `org rpm` (ids stay out of messages meant for other people). */
function limitName(key: string): string {
  const [scope, , kind] = key.split(':');
  return scope && kind ? `${scope} ${kind}` : 'tenant';
}
