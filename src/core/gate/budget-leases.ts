import type { Logger } from 'pino';
import { withTenant, type Db } from '../../db/client.js';
import { AppError } from '../errors.js';
import { releaseReservation, reserveBudget, type BudgetSubject } from './budgets.repo.js';

/**
 * Budget reservations taken in chunks. Reserving every call's worst-case cost in the database
 * costs a transaction per call; instead a process reserves room for about CHUNK_CALLS calls at
 * once (a row in budget_reservations, counted against the org's, project's and user's budgets like
 * any reservation) and admits calls against it locally. Each settled call moves its real cost from
 * the reservation to the spend in the same transaction, so spent + reserved never overstates what
 * the calls can still use, and a budget can never be overshot: every call in flight is covered by
 * a reservation made under the budget's lock. Near the limit a chunk no longer fits and calls
 * reserve exactly their own worst case, as before. Chunks are given back when idle and expire on
 * their own if the process dies.
 */
const CHUNK_CALLS = 20;
const LEASE_MAX_AGE_MS = 5 * 60_000;
const LEASE_TTL_MS = 15 * 60_000;
const IDLE_RELEASE_MS = 30_000;

interface Lease {
  id: string;
  key: string;
  orgId: string;
  month: string;
  amount: number;
  used: number;
  inFlight: number;
  createdAt: number;
  lastUsed: number;
  retired: boolean;
}

export interface LeaseTicket {
  reservationId: string | undefined;
  /** The call ended: `cost` was moved to spend by the settlement (0 for none). */
  done(cost: number): void;
}

export class BudgetLeases {
  private readonly leases = new Map<string, Lease>();
  private readonly opening = new Map<string, Promise<Lease | undefined>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => void this.releaseIdle(), 10_000);
    this.timer.unref();
  }

  /** Covers a call of worst-case cost `amount`; waits while calls in flight hold the last of the budget. */
  async take(
    req: { orgId: string; projectId?: string | undefined; userId?: string | undefined; wait?: boolean | undefined; signal?: AbortSignal | undefined },
    subjects: BudgetSubject[],
    month: string,
    amount: number,
  ): Promise<LeaseTicket> {
    if (amount <= 0) return { reservationId: undefined, done: () => undefined };
    const key = `${req.orgId}|${req.projectId ?? ''}|${req.userId ?? ''}|${month}`;
    for (let round = 0; ; ) {
      let lease = this.claim(key, amount);
      if (!lease) {
        const opened = await this.open(key, req, subjects, month, amount);
        lease = opened.lease;
        // A reservation was made but others filled it first: try again at once.
        if (!lease && opened.reserved) continue;
      }
      if (lease) {
        return {
          reservationId: lease.id,
          done: (cost: number) => {
            lease.inFlight -= amount;
            lease.used += cost;
            if (lease.retired && lease.inFlight <= 1e-12) void this.release(lease);
          },
        };
      }
      if (req.wait === false) throw new AppError('budget_exceeded', 'the budget is fully reserved by calls in flight', undefined, 1);
      await sleep(Math.min(1000, 50 * 2 ** Math.min(round++, 4)), req.signal);
    }
  }

  /** Takes room for one call from the key's lease, synchronously (check and take cannot interleave). */
  private claim(key: string, amount: number): Lease | undefined {
    const l = this.leases.get(key);
    if (!l || l.retired) return undefined;
    if (this.now() - l.createdAt > LEASE_MAX_AGE_MS || l.amount - l.used - l.inFlight < amount - 1e-12) {
      this.retire(l);
      return undefined;
    }
    l.inFlight += amount;
    l.lastUsed = this.now();
    return l;
  }

  /** Limits changed: stop using this org's chunks (new calls reserve under the new limits). */
  retireOrg(orgId: string): void {
    for (const l of [...this.leases.values()]) if (l.orgId === orgId) this.retire(l);
  }

  /** One reservation at a time per key (concurrent callers share it); undefined = wait and retry. */
  private async open(
    key: string,
    req: { orgId: string; projectId?: string | undefined; userId?: string | undefined },
    subjects: BudgetSubject[],
    month: string,
    amount: number,
  ): Promise<{ lease: Lease | undefined; reserved: boolean }> {
    let p = this.opening.get(key);
    if (!p) {
      p = this.reserve(key, req, subjects, month, amount).finally(() => this.opening.delete(key));
      this.opening.set(key, p);
    }
    const made = await p;
    return { lease: this.claim(key, amount), reserved: made !== undefined };
  }

  private async reserve(key: string, req: { orgId: string; projectId?: string | undefined; userId?: string | undefined }, subjects: BudgetSubject[], month: string, amount: number): Promise<Lease | undefined> {
    // A chunk first, then (near the limit) exactly this call's worth.
    const sizes = [amount * CHUNK_CALLS, amount];
    for (const size of sizes) {
      const res = await withTenant(this.db, req.orgId, (tx) =>
        reserveBudget(tx, { orgId: req.orgId, projectId: req.projectId ?? null, userId: req.userId ?? null, month, amountUsd: size, expiresAt: new Date(this.now() + LEASE_TTL_MS), subjects }),
      );
      if (res.kind === 'ok') {
        const l: Lease = { id: res.reservationId, key, orgId: req.orgId, month, amount: size, used: 0, inFlight: 0, createdAt: this.now(), lastUsed: this.now(), retired: false };
        const old = this.leases.get(key);
        if (old) this.retire(old);
        this.leases.set(key, l);
        return l;
      }
      if (res.kind === 'exceeded' && size === amount) {
        const s = res.subject;
        throw new AppError('budget_exceeded', `the ${s.scope}'s monthly budget of $${(s.limitUsd ?? 0).toFixed(2)} is used up ($${res.spentUsd.toFixed(2)} spent this month)`, {
          scope: s.scope,
          subject_id: s.subjectId,
          limit_usd: s.limitUsd,
          spent_usd: Number(res.spentUsd.toFixed(6)),
          month,
        });
      }
    }
    return undefined;
  }

  private retire(l: Lease): void {
    if (l.retired) return;
    l.retired = true;
    if (this.leases.get(l.key) === l) this.leases.delete(l.key);
    if (l.inFlight <= 1e-12) void this.release(l);
  }

  /** Reservations being given back (nobody waits on them, but settled() and close() do). */
  private readonly releasing = new Set<Promise<void>>();

  private release(l: Lease): Promise<void> {
    const p = withTenant(this.db, l.orgId, (tx) => releaseReservation(tx, l.id)).catch((e: unknown) =>
      this.logger.warn({ err: (e as Error).message }, 'could not give back a budget reservation (it expires by itself)'),
    );
    this.releasing.add(p);
    void p.finally(() => this.releasing.delete(p));
    return p;
  }

  /** Resolves when every reservation given back so far is deleted. */
  async settled(): Promise<void> {
    while (this.releasing.size > 0) await Promise.all([...this.releasing]);
  }

  private async releaseIdle(): Promise<void> {
    const now = this.now();
    for (const l of [...this.leases.values()]) if (l.inFlight <= 1e-12 && now - l.lastUsed > IDLE_RELEASE_MS) this.retire(l);
  }

  /** Gives every reservation back (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const open = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(
      open.map((l) => {
        l.retired = true;
        return this.release(l);
      }),
    );
    await this.settled();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
