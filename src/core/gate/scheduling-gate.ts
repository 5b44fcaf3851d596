import type { Logger } from 'pino';
import type { Config, GateConfig, PoolLimits } from '../../config.js';
import { withTenant, type Db } from '../../db/client.js';
import { emitEvent } from '../events/emit.js';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { ProviderError } from '../llm/providers/provider.js';
import type { BucketDemand, BucketStore } from './buckets.js';
import { BudgetLeases } from './budget-leases.js';
import { settleCall, type BudgetSubject, type LedgerEntry } from './budgets.repo.js';
import { abortError, type Gate, type GateRequest, type GateResult, type TokenUsage } from './gate.js';
import { OrgPolicyCache, type OrgPolicy } from './org-policy.js';
import { OutputEstimator } from './output-estimator.js';
import { DEFAULT_PRICES, modelClass, PriceTable, type ModelPrice } from './prices.js';
import { PoolScheduler } from './scheduler.js';
import { learnFromHeaders } from './provider-headers.js';

/**
 * The gate every LLM call passes through (see gate.ts for the contract). Per call:
 *
 * 1. budget: the call's worst-case cost (estimated input, max_tokens of output) is reserved
 *    against the org's, the project's and the user's monthly budgets — in PostgreSQL, so
 *    concurrent calls in any process cannot overshoot; `budget_exceeded` when it cannot fit;
 * 2. admission by the pool's fair scheduler (VTC across orgs, role priority with aging inside
 *    one), which takes the request from the tenant's own limits and the pool's RPM / ITPM / OTPM
 *    buckets at once (OTPM at max_tokens, as the provider itself reserves);
 * 3. one upstream call. A 429 gives the slot back, pauses the pool until `retry-after`, lowers the
 *    pool's limits to what the headers say and re-queues the request at the head of its org; 529
 *    and 5xx back off exponentially with jitter and, after repeated failures, open the pool's
 *    circuit (a shared pause); a spend-limit 429 fails at once with `provider_spend_limit`;
 * 4. reconciliation: unused tokens go back to the buckets, the fairness counter is corrected to
 *    the real usage, the call is written to the usage ledger with its cost, the budget reservation
 *    becomes spend, and a budget crossing 90 % emits `budget.warning` once.
 */

const BOOTSTRAP_LIMITS: Record<string, Required<PoolLimits>> = {
  // Anthropic's entry-tier limits, used until the first response's headers give the real ones.
  anthropic: { rpm: 50, itpm: 30_000, otpm: 8_000 },
};

type BucketDelta = { key: string; capacityPerMin: number; delta: number };

const ROLE_RANK: Record<string, number> = { owner: 2, admin: 2, reviewer: 1, member: 1, viewer: 0 };
const PRIORITY_RANK = { low: 0, normal: 1, high: 2 } as const;

export interface SchedulingGateDeps {
  db: Db;
  store: BucketStore;
  config: GateConfig;
  /** Per-tier overrides (the org budget defaults to its tier's). */
  tierLimits?: Config['tierLimits'];
  logger: Logger;
  metrics?: Metrics | undefined;
  now?: () => number;
  /** Injectable for tests: sleeps of the retry backoff. */
  random?: () => number;
}

interface Pool {
  key: string;
  provider: string;
  cls: string;
  /** Configured per-minute capacities (negative = learn from headers, |value| until then). */
  caps: { rpm?: number; itpm?: number; otpm?: number };
  scheduler: PoolScheduler;
  consecutiveFailures: number;
  breakerOpens: number;
  lastLearnAt: number;
  knownLimits: Record<string, number>;
}

export class SchedulingGate implements Gate {
  private readonly pools = new Map<string, Pool>();
  private readonly prices: PriceTable;
  private readonly estimator = new OutputEstimator();
  private readonly policies: OrgPolicyCache;
  private readonly leases: BudgetLeases;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly d: SchedulingGateDeps) {
    const custom: Record<string, ModelPrice> = {};
    for (const [k, v] of Object.entries(d.config.prices)) {
      custom[k] = { input: v.input, output: v.output, cacheWrite: v.cacheWrite ?? v.input * 1.25, cacheRead: v.cacheRead ?? v.input * 0.1 };
    }
    this.prices = new PriceTable({ ...DEFAULT_PRICES, ...custom });
    this.policies = new OrgPolicyCache(d.db, d.config, d.tierLimits ?? {});
    this.now = d.now ?? Date.now;
    this.leases = new BudgetLeases(d.db, d.logger);
    this.random = d.random ?? Math.random;
  }

  /** Limits and budgets changed (PUT /v1/limits): forget this process's cached copy at once. */
  invalidateOrg(orgId: string): void {
    this.policies.invalidate(orgId);
    this.leases.retireOrg(orgId);
  }

  priceTable(): PriceTable {
    return this.prices;
  }

  /** Waiting requests and fairness counters per pool (health, tests). */
  snapshot(): Array<{ pool: string; waiting: number; counters: Record<string, number> }> {
    return [...this.pools.values()].map((p) => ({ pool: p.key, waiting: p.scheduler.waiting(), counters: p.scheduler.counters() }));
  }

  async run<T>(req: GateRequest, call: (signal: AbortSignal) => Promise<GateResult<T>>): Promise<T> {
    if (req.signal?.aborted) throw abortError(req.signal);
    const started = this.now();
    const pool = this.pool(req.provider, req.model);
    const policy = await this.policies.get(req.orgId);
    const price = this.prices.priceOf(req.model);
    const outEstimate = this.estimator.estimate(`${pool.key}:${req.purpose ?? ''}`, req.maxOutputTokens);
    const itpm = pool.caps.itpm;
    if (itpm !== undefined && itpm > 0 && req.estimatedInputTokens > itpm) {
      throw new AppError('payload_too_large', `this request needs about ${req.estimatedInputTokens} input tokens, more than the provider allows per minute (${itpm})`, {
        estimated_input_tokens: req.estimatedInputTokens,
        input_tokens_per_minute: itpm,
      });
    }
    const subjects = this.budgetSubjects(req, policy);
    const month = monthOf(new Date(this.now()));
    const worstCost = price ? (req.estimatedInputTokens * price.input + req.maxOutputTokens * price.output) / 1_000_000 : 0;
    const ticket = await this.leases.take(req, subjects, month, worstCost);

    const ledger: LedgerEntry = {
      orgId: req.orgId,
      projectId: req.projectId ?? null,
      userId: req.userId ?? null,
      apiKeyId: req.apiKeyId ?? null,
      reviewId: req.reviewId ?? null,
      provider: req.provider,
      model: req.model,
      inputTokens: 0,
      outputTokens: 0,
      cacheCreationTokens: 0,
      cacheReadTokens: 0,
      costUsd: 0,
      latencyMs: 0,
      waitMs: 0,
      attempts: 0,
      outcome: 'error',
      errorCode: null,
    };
    const weight = this.d.config.weights[policy.tier];
    const cost = req.estimatedInputTokens + 2 * outEstimate;
    const demands = [...this.tenantDemands(req, policy, outEstimate), ...this.poolDemands(pool, req)];
    let settled = false;
    try {
      for (let attempt = 1; ; attempt++) {
        ledger.attempts = attempt;
        const t0 = this.now();
        const admitted = await pool.scheduler.admit({
          orgId: req.orgId,
          weight,
          classRank: (ROLE_RANK[req.role ?? 'member'] ?? 1) * 3 + PRIORITY_RANK[req.priority],
          demands,
          cost,
          head: attempt > 1,
          noWait: req.wait === false,
          signal: req.signal,
        });
        ledger.waitMs += admitted.waitedMs;
        this.d.metrics?.gateWait.observe({ pool: pool.key }, (this.now() - t0) / 1000);
        const controller = new AbortController();
        const onAbort = () => controller.abort(abortError(req.signal as AbortSignal));
        req.signal?.addEventListener('abort', onAbort, { once: true });
        const callStarted = this.now();
        try {
          const result = await raceAbort(call(controller.signal), controller.signal);
          ledger.latencyMs = this.now() - callStarted;
          this.onSuccess(pool);
          const usage = result.usage;
          Object.assign(ledger, {
            outcome: 'ok',
            inputTokens: usage.inputTokens,
            outputTokens: usage.outputTokens,
            cacheCreationTokens: usage.cacheCreationInputTokens,
            cacheReadTokens: usage.cacheReadInputTokens,
            costUsd: this.prices.cost(req.model, usage),
          });
          settled = true;
          const deltas = this.reconcile(pool, req, policy, demands, outEstimate, usage);
          // Accounting does not hold the caller: the ledger row, the spend, the buckets' refund and
          // what the headers say are written in the background (drain() waits for them). Until
          // then the call's budget reservation and its buckets' reservation stay counted: safe.
          this.track(
            (async () => {
              await this.settle(ledger, month, ticket.reservationId, subjects, deltas);
              ticket.done(ledger.costUsd);
              if (result.headers) await this.learn(pool, result.headers, undefined).catch((e: unknown) => this.d.logger.warn({ err: (e as Error).message }, 'gate could not learn limits'));
              pool.scheduler.kick();
            })(),
          );
          return result.value;
        } catch (e) {
          if (settled) throw e;
          ledger.latencyMs = this.now() - callStarted;
          if (controller.signal.aborted) {
            // The provider took the input when the request arrived; the output it gives back.
            await this.giveBack(pool, demands, { keepInput: true });
            pool.scheduler.charge(req.orgId, weight, -2 * outEstimate);
            throw e;
          }
          if (!(e instanceof ProviderError)) throw e;
          ledger.errorCode = e.code;
          if (e.code === 'provider_bad_output') {
            // A 200 whose body we could not use: the tokens were spent.
            throw e;
          }
          await this.giveBack(pool, demands, { keepInput: false });
          pool.scheduler.charge(req.orgId, weight, -cost);
          if (!e.retryable || attempt > this.d.config.maxRetries) throw e;
          if (e.code === 'rate_limited') {
            this.d.metrics?.upstream429.inc({ pool: pool.key });
            await this.on429(pool, e);
          } else {
            await this.onFailure(pool, attempt, req.signal);
          }
        } finally {
          req.signal?.removeEventListener('abort', onAbort);
        }
      }
    } catch (e) {
      if (!settled) {
        const aborted = req.signal?.aborted === true;
        ledger.outcome = aborted ? 'aborted' : e instanceof AppError && (e.code === 'rate_limited' || e.code === 'budget_exceeded') ? 'rejected' : 'error';
        if (ledger.errorCode === null) ledger.errorCode = e instanceof AppError || e instanceof ProviderError ? e.code : aborted ? 'aborted' : 'internal';
        if (ledger.attempts > 0) await this.settle(ledger, month, ticket.reservationId, subjects, []);
        ticket.done(0);
      }
      throw e;
    } finally {
      this.d.metrics?.gateCalls.inc({ pool: pool.key, outcome: ledger.outcome });
      this.d.logger.debug({ pool: pool.key, ms: this.now() - started, outcome: ledger.outcome, attempts: ledger.attempts }, 'gate call');
    }
  }

  private readonly pending = new Set<Promise<void>>();

  private track(p: Promise<void>): void {
    const q = p.catch((e: unknown) => this.d.logger.error({ err: (e as Error).message }, 'gate settlement failed'));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /**
   * Resolves when every finished call is in the ledger and its reservations are settled — budget
   * chunks the last call of which has ended included (given back in the background).
   */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    await this.leases.settled();
  }

  /** Shutdown: finish the accounting, then give budget reservations back (before the database pool closes). */
  async close(): Promise<void> {
    await this.drain();
    await this.leases.close();
  }

  private pool(provider: string, model: string): Pool {
    const cls = modelClass(provider, model);
    const key = `${provider}:${cls}`;
    let p = this.pools.get(key);
    if (!p) {
      const configured = { ...this.d.config.providers[provider], ...stripUndefined(this.d.config.pools[key] ?? {}) };
      const boot = BOOTSTRAP_LIMITS[provider];
      const caps: Pool['caps'] = {};
      for (const k of ['rpm', 'itpm', 'otpm'] as const) {
        const v = configured[k];
        if (v !== undefined) caps[k] = v;
        else if (boot) caps[k] = -boot[k];
      }
      p = {
        key,
        provider,
        cls,
        caps,
        scheduler: new PoolScheduler({
          store: this.d.store,
          agingMs: this.d.config.agingMs,
          pollMs: this.d.store.shared ? this.d.config.pollMs : Number.POSITIVE_INFINITY,
          fairnessPool: key,
          onError: (e) => this.d.logger.warn({ err: (e as Error).message, pool: key }, 'gate bucket store unavailable; retrying'),
        }),
        consecutiveFailures: 0,
        breakerOpens: 0,
        lastLearnAt: 0,
        knownLimits: {},
      };
      this.pools.set(key, p);
    }
    return p;
  }

  private poolDemands(pool: Pool, req: GateRequest): BucketDemand[] {
    const out: BucketDemand[] = [];
    const { rpm, itpm, otpm } = pool.caps;
    if (rpm !== undefined) out.push({ key: `pool:${pool.key}:rpm`, capacityPerMin: rpm, amount: 1, tenant: false });
    if (itpm !== undefined) out.push({ key: `pool:${pool.key}:itpm`, capacityPerMin: itpm, amount: req.estimatedInputTokens, tenant: false });
    if (otpm !== undefined) out.push({ key: `pool:${pool.key}:otpm`, capacityPerMin: otpm, amount: req.maxOutputTokens, tenant: false });
    return out;
  }

  private tenantDemands(req: GateRequest, policy: OrgPolicy, outEstimate: number): BucketDemand[] {
    const out: BucketDemand[] = [];
    const tokens = req.estimatedInputTokens + outEstimate;
    const add = (scope: 'org' | 'user' | 'key', subject: string | undefined) => {
      if (!subject) return;
      const l = policy.rateLimit(scope, subject);
      const base = `t:${scope}:${req.orgId}:${subject}`;
      if (l.rpm) out.push({ key: `${base}:rpm`, capacityPerMin: l.rpm, amount: 1, tenant: true });
      if (l.tpm) out.push({ key: `${base}:tpm`, capacityPerMin: l.tpm, amount: tokens, tenant: true });
    };
    add('org', req.orgId);
    add('user', req.userId);
    add('key', req.apiKeyId);
    return out;
  }

  private budgetSubjects(req: GateRequest, policy: OrgPolicy): BudgetSubject[] {
    const subjects: BudgetSubject[] = [{ scope: 'org', subjectId: req.orgId, limitUsd: policy.budget('org', req.orgId) }];
    if (req.projectId) subjects.push({ scope: 'project', subjectId: req.projectId, limitUsd: policy.budget('project', req.projectId) });
    if (req.userId) subjects.push({ scope: 'user', subjectId: req.userId, limitUsd: policy.budget('user', req.userId) });
    return subjects;
  }

  private async settle(entry: LedgerEntry, month: string, reservationId: string | undefined, subjects: BudgetSubject[], deltas: BucketDelta[]): Promise<void> {
    if (deltas.length) {
      // Tokens back first (a short transaction of its own): the next waiter need not wait for the ledger.
      try {
        await this.d.store.adjust(deltas);
      } catch (e) {
        this.d.logger.warn({ err: (e as Error).message }, 'gate could not give unused tokens back');
      }
      this.pool(entry.provider, entry.model).scheduler.kick();
    }
    try {
      await withTenant(this.d.db, entry.orgId, async (tx) => {
        const crossings = await settleCall(tx, { entry, month, reservationId, subjects });
        for (const c of crossings) {
          const limit = c.subject.limitUsd ?? 0;
          await emitEvent(tx, { orgId: entry.orgId }, {
            type: 'budget.warning',
            projectId: entry.projectId,
            payload: {
              scope: c.subject.scope,
              subject_id: c.subject.subjectId,
              month: month.slice(0, 7),
              limit_usd: limit,
              spent_usd: Number(c.spentUsd.toFixed(6)),
              fraction: limit > 0 ? Number((c.spentUsd / limit).toFixed(4)) : 1,
            },
          });
        }
      });
      if (entry.outcome === 'ok') {
        this.d.metrics?.gateTokens.inc({ org: entry.orgId, model: entry.model, kind: 'input' }, entry.inputTokens);
        this.d.metrics?.gateTokens.inc({ org: entry.orgId, model: entry.model, kind: 'output' }, entry.outputTokens);
        this.d.metrics?.gateCost.inc({ org: entry.orgId, model: entry.model }, entry.costUsd);
      }
    } catch (e) {
      // The answer is not thrown away because the ledger is briefly unreachable; the reservation
      // keeps counting against the budget until it expires, so the budget stays safe.
      this.d.logger.error({ err: (e as Error).message, org_id: entry.orgId, review_id: entry.reviewId }, 'could not record an LLM call in the usage ledger');
    }
  }

  /** The real usage against the reservation: bucket deltas to settle, fairness and estimate corrections. */
  private reconcile(pool: Pool, req: GateRequest, policy: OrgPolicy, demands: BucketDemand[], outEstimate: number, usage: TokenUsage): BucketDelta[] {
    const usedIn = usage.inputTokens + usage.cacheCreationInputTokens;
    const usedOut = usage.outputTokens;
    this.estimator.observe(`${pool.key}:${req.purpose ?? ''}`, usedOut);
    pool.scheduler.charge(req.orgId, this.d.config.weights[policy.tier], usedIn - req.estimatedInputTokens + 2 * (usedOut - outEstimate));
    return demands
      .map((d) => {
        const kind = d.key.slice(d.key.lastIndexOf(':') + 1);
        let delta = 0;
        if (kind === 'itpm') delta = d.amount - usedIn;
        else if (kind === 'otpm') delta = Math.min(d.amount, Math.abs(d.capacityPerMin)) - usedOut;
        else if (kind === 'tpm') delta = d.amount - (usedIn + usedOut);
        return { key: d.key, capacityPerMin: d.capacityPerMin, delta };
      })
      .filter((x) => x.delta !== 0);
  }

  /** Gives back what the provider did not take: everything after a refusal, the output after an abort. */
  private async giveBack(pool: Pool, demands: BucketDemand[], o: { keepInput: boolean }): Promise<void> {
    const items = demands
      .filter((d) => !(o.keepInput && (d.key.endsWith(':itpm') || d.key.endsWith(':rpm') || d.key.endsWith(':tpm'))))
      .map((d) => ({ key: d.key, capacityPerMin: d.capacityPerMin, delta: Math.min(d.amount, Math.abs(d.capacityPerMin)) }));
    try {
      await this.d.store.adjust(items);
    } catch (e) {
      this.d.logger.warn({ err: (e as Error).message, pool: pool.key }, 'gate could not give tokens back');
    }
    pool.scheduler.kick();
  }

  private async learn(pool: Pool, headers: Record<string, string>, pauseUntilMs: number | undefined): Promise<void> {
    const now = this.now();
    const facts = learnFromHeaders(pool.provider, headers);
    const changed = facts.some((f) => f.limit !== undefined && pool.knownLimits[f.kind] !== f.limit);
    // Remaining-token corrections matter only when someone else shares the account: once a second is enough.
    if (!changed && pauseUntilMs === undefined && now - pool.lastLearnAt < 1000) return;
    pool.lastLearnAt = now;
    const jobs: Array<Promise<void>> = [];
    for (const f of facts) {
      const cap = pool.caps[f.kind];
      if (cap === undefined) continue;
      if (f.limit !== undefined) pool.knownLimits[f.kind] = f.limit;
      jobs.push(this.d.store.learn(`pool:${pool.key}:${f.kind}`, cap, { limit: f.limit, remaining: f.remaining, pauseUntilMs: f.kind === 'rpm' ? pauseUntilMs : undefined }));
    }
    if (pauseUntilMs !== undefined && !facts.some((f) => f.kind === 'rpm') && pool.caps.rpm !== undefined) {
      jobs.push(this.d.store.learn(`pool:${pool.key}:rpm`, pool.caps.rpm, { pauseUntilMs }));
    }
    await Promise.all(jobs);
  }

  private async on429(pool: Pool, e: ProviderError): Promise<void> {
    const retryAfterMs = (e.retryAfterS ?? 1) * 1000;
    const pauseUntil = this.now() + retryAfterMs;
    const facts = learnFromHeaders(pool.provider, e.headers);
    try {
      if (facts.some((f) => f.limit !== undefined)) {
        await this.learn(pool, e.headers, pauseUntil);
      } else {
        // No headers to go by: assume our configured limits are 10 % too high until told otherwise.
        for (const kind of ['rpm', 'itpm', 'otpm'] as const) {
          const cap = pool.caps[kind];
          if (cap === undefined) continue;
          await this.d.store.learn(`pool:${pool.key}:${kind}`, cap, { limit: Math.max(1, Math.floor(Math.abs(cap) * 0.9)), pauseUntilMs: kind === 'rpm' ? pauseUntil : undefined });
        }
        if (pool.caps.rpm === undefined) await sleep(retryAfterMs);
      }
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message, pool: pool.key }, 'gate could not record a 429');
    }
    this.d.logger.warn({ pool: pool.key, retry_after_s: e.retryAfterS }, 'upstream answered 429: pool paused');
  }

  private onSuccess(pool: Pool): void {
    pool.consecutiveFailures = 0;
    pool.breakerOpens = 0;
  }

  /** 529 / 5xx / network: exponential backoff with full jitter; repeated failures open the pool's circuit. */
  private async onFailure(pool: Pool, attempt: number, signal: AbortSignal | undefined): Promise<void> {
    pool.consecutiveFailures++;
    if (pool.consecutiveFailures >= 3) {
      pool.breakerOpens++;
      pool.consecutiveFailures = 0;
      const coolMs = Math.min(30_000, 1000 * 2 ** (pool.breakerOpens - 1));
      this.d.metrics?.gateBreakerOpen.inc({ pool: pool.key });
      this.d.logger.warn({ pool: pool.key, cool_ms: coolMs }, 'provider failing repeatedly: circuit open');
      if (pool.caps.rpm !== undefined) {
        await this.d.store.learn(`pool:${pool.key}:rpm`, pool.caps.rpm, { pauseUntilMs: this.now() + coolMs }).catch(() => undefined);
      } else {
        await sleep(coolMs, signal);
      }
    }
    const backoff = Math.min(30_000, 250 * 2 ** (attempt - 1));
    await sleep(this.random() * backoff, signal);
  }
}

function monthOf(d: Date): string {
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-01`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The call's promise, or the abort — whichever comes first (a call that ignores its signal cannot hold us). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => undefined);
  if (signal.aborted) return Promise.reject(abortError(signal));
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(abortError(signal)), { once: true }));
  aborted.catch(() => undefined);
  return Promise.race([p, aborted]);
}
