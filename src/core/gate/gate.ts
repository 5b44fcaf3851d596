/**
 * The gate: every LLM call in Quorum goes through `Gate.run`. Callers describe the call (who
 * asks, for which model, how big it will be) and hand over a function that performs exactly ONE
 * upstream HTTP request. Retries, waiting and accounting are the gate's business, never the
 * caller's and never the SDK's (providers use `maxRetries: 0`).
 *
 * Contract, so that the scheduling implementation (issue 4) can replace PassThroughGate without
 * touching any caller:
 *
 * - Before calling `call`, the gate may wait: for upstream capacity in the pool of
 *   (`provider`, `model` class) — requests, `estimatedInputTokens` and an output estimate bounded
 *   by `maxOutputTokens` are reserved against the RPM / ITPM / OTPM buckets — for the tenant's own
 *   limits (org / user / API key), for its budget, and for its turn among other orgs (weighted
 *   fair queuing) and priorities inside the org. Waiting ends early when `signal` aborts.
 * - `call` receives a signal that aborts when the caller's signal aborts (and, later, when the
 *   gate gives up on the call). It must pass it to the HTTP request.
 * - `call` may be invoked MORE THAN ONCE: on a ProviderError with code `rate_limited`,
 *   `provider_overloaded` or `provider_error` the gate may retry after `retryAfterS` / a backoff.
 *   It must therefore be side-effect free apart from the HTTP request.
 * - After a call the gate reconciles the reservation with `usage` (the real token counts: input
 *   and cache-creation tokens count against ITPM, cache reads do not; output against OTPM), records
 *   it in the usage ledger with its cost, and corrects its view of the upstream limits from
 *   `headers` (lower-case names; e.g. `anthropic-ratelimit-*`, `retry-after`).
 * - Errors: ProviderError codes pass through unchanged once the gate stops retrying; the gate adds
 *   its own AppErrors (`budget_exceeded`, `rate_limited` for a tenant's own limit). An aborted
 *   caller gets the abort reason.
 */

export type GatePriority = 'low' | 'normal' | 'high';

export interface TokenUsage {
  /** Uncached input tokens (Anthropic's `input_tokens`: cache reads and writes excluded). */
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

export const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
});

export interface GateRequest {
  orgId: string;
  projectId?: string;
  userId?: string;
  apiKeyId?: string;
  reviewId?: string;
  /** Provider account name from the registry, e.g. `anthropic`, `openai-compatible`. */
  provider: string;
  model: string;
  priority: GatePriority;
  /** The caller's role in the project: inside an org, admin > reviewer > viewer (with aging). */
  role?: 'owner' | 'admin' | 'member' | 'reviewer' | 'viewer' | undefined;
  /** What the call is for (e.g. `review:security`): output estimates are kept per purpose. */
  purpose?: string | undefined;
  /** false: fail with `rate_limited` / `budget_exceeded` instead of waiting on the caller's own limits. */
  wait?: boolean | undefined;
  /** Counted from the full request (system, messages, tool schema); see estimate-tokens.ts. */
  estimatedInputTokens: number;
  /** The request's `max_tokens`: the upper bound of what the call can consume from OTPM. */
  maxOutputTokens: number;
  signal?: AbortSignal;
}

export interface GateResult<T> {
  value: T;
  usage: TokenUsage;
  /** Response headers, lower-case names. Keys and auth headers are never part of this. */
  headers?: Record<string, string>;
}

export interface Gate {
  run<T>(req: GateRequest, call: (signal: AbortSignal) => Promise<GateResult<T>>): Promise<T>;
  /** An org's limits or budgets changed: drop any cached copy now. */
  invalidateOrg?(orgId: string): void;
  /** Resolves when every finished call has been written to the usage ledger (accounting runs in the background). */
  drain?(): Promise<void>;
  /** Shutdown: finish the accounting and give back what is held in the database (budget reservations). */
  close?(): Promise<void>;
}

/** What PassThroughGate saw of a finished call; the scheduling gate writes the same to its ledger. */
export interface GateObservation {
  req: GateRequest;
  outcome: 'ok' | 'error' | 'aborted';
  usage: TokenUsage | undefined;
  headers: Record<string, string> | undefined;
  latencyMs: number;
  error?: unknown;
}

export interface PassThroughGateOptions {
  /** Called once per call after it settles (metrics, tests). Must not throw. */
  observe?: (o: GateObservation) => void;
  now?: () => number;
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** The abort reason as an Error (callers abort with AppErrors; anything else is wrapped). */
export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException(r === undefined ? 'This operation was aborted' : String(r), 'AbortError');
}

/**
 * Runs every call at once, exactly once. It still honours abort promptly, even for a `call` that
 * ignores its signal, so callers can rely on cancellation behaving as it will with the real gate.
 */
export class PassThroughGate implements Gate {
  private readonly observe: ((o: GateObservation) => void) | undefined;
  private readonly now: () => number;

  constructor(opts: PassThroughGateOptions = {}) {
    this.observe = opts.observe;
    this.now = opts.now ?? (() => performance.now());
  }

  async run<T>(req: GateRequest, call: (signal: AbortSignal) => Promise<GateResult<T>>): Promise<T> {
    const outer = req.signal;
    if (outer?.aborted) throw abortReason(outer);
    const controller = new AbortController();
    const started = this.now();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        controller.abort(outer ? abortReason(outer) : undefined);
        // The abort reason is whatever the caller aborted with (usually an Error); pass it through.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(abortReason(controller.signal));
      };
      outer?.addEventListener('abort', onAbort, { once: true });
    });
    // The call's own rejection after an abort must not surface as an unhandled rejection.
    aborted.catch(() => undefined);
    const running = call(controller.signal);
    try {
      const result = await Promise.race([running, aborted]);
      this.report(req, 'ok', result.usage, result.headers, started);
      return result.value;
    } catch (err) {
      this.report(req, controller.signal.aborted ? 'aborted' : 'error', undefined, undefined, started, err);
      throw err;
    } finally {
      if (onAbort) outer?.removeEventListener('abort', onAbort);
      running.catch(() => undefined);
    }
  }

  private report(
    req: GateRequest,
    outcome: GateObservation['outcome'],
    usage: TokenUsage | undefined,
    headers: Record<string, string> | undefined,
    started: number,
    error?: unknown,
  ): void {
    if (!this.observe) return;
    try {
      this.observe({ req, outcome, usage, headers, latencyMs: this.now() - started, ...(error !== undefined && { error }) });
    } catch {
      // An observer is diagnostics; it must never change the outcome of an LLM call.
    }
  }
}
