import { TokenBucket } from './token-bucket.js';

/**
 * The provider's rate-limit model as Anthropic documents it: per organization and per model
 * class, three continuously replenishing buckets (requests, input tokens, output tokens per
 * minute). Input tokens are charged when a request is admitted; output tokens are reserved from
 * `max_tokens` at the start and settled to what was really generated at the end.
 */

export interface RateLimits {
  /** Requests per minute; absent = not enforced and not reported. */
  rpm?: number;
  /** Input tokens per minute (uncached input; the stand-in does not model prompt caching). */
  itpm?: number;
  /** Output tokens per minute. */
  otpm?: number;
}

export type LimitName = 'requests' | 'input-tokens' | 'output-tokens';

interface Pool {
  requests?: TokenBucket;
  input?: TokenBucket;
  output?: TokenBucket;
}

export type Admission =
  | { ok: true; outputReserve: number }
  | { ok: false; waitMs: number; limitedBy: LimitName; limit: number };

/** `claude-sonnet-4-5-20250929` and `claude-sonnet-4-5` share one class (and so one set of buckets). */
export function modelClass(model: string): string {
  return model.replace(/-(\d{8}|latest)$/, '');
}

const KEYS: ReadonlyArray<[keyof Pool, keyof RateLimits, LimitName]> = [
  ['requests', 'rpm', 'requests'],
  ['input', 'itpm', 'input-tokens'],
  ['output', 'otpm', 'output-tokens'],
];

export class RateLimiter {
  private readonly pools = new Map<string, Pool>();
  private current: RateLimits;

  constructor(limits: RateLimits, private readonly now: () => number) {
    this.current = { ...limits };
  }

  get limits(): RateLimits {
    return { ...this.current };
  }

  /** New limits for every model class, effective at once (a lower limit caps what is left). */
  setLimits(limits: RateLimits): void {
    this.current = { ...limits };
    const now = this.now();
    for (const pool of this.pools.values()) {
      for (const [slot, key] of KEYS) {
        const n = limits[key];
        if (n === undefined) delete pool[slot];
        else if (pool[slot]) pool[slot].setCapacity(n, now);
        else pool[slot] = new TokenBucket(n, now);
      }
    }
  }

  private pool(model: string): Pool {
    const cls = modelClass(model);
    let p = this.pools.get(cls);
    if (!p) {
      const now = this.now();
      p = {};
      for (const [slot, key] of KEYS) {
        const n = this.current[key];
        if (n !== undefined) p[slot] = new TokenBucket(n, now);
      }
      this.pools.set(cls, p);
    }
    return p;
  }

  /**
   * Admits the request only if all three buckets can take it, and then takes it (1 request, the
   * input tokens, and `max_tokens` of output as a reservation). Otherwise takes nothing and says
   * how long until it would fit and which limit binds.
   */
  admit(model: string, inputTokens: number, maxTokens: number): Admission {
    const now = this.now();
    const { requests, input, output } = this.pool(model);
    const outputReserve = output ? Math.min(maxTokens, output.capacity) : 0;
    const checks: Array<[LimitName, TokenBucket | undefined, number]> = [
      ['requests', requests, 1],
      ['input-tokens', input, inputTokens],
      ['output-tokens', output, outputReserve],
    ];
    let worst: { waitMs: number; limitedBy: LimitName; limit: number } | undefined;
    for (const [name, b, n] of checks) {
      if (!b) continue;
      const w = b.waitMs(n, now);
      if (w > 0 && (!worst || w > worst.waitMs)) worst = { waitMs: w, limitedBy: name, limit: b.capacity };
    }
    if (worst) return { ok: false, ...worst };
    requests?.take(1, now);
    input?.take(inputTokens, now);
    output?.take(outputReserve, now);
    return { ok: true, outputReserve };
  }

  /** Ends an admitted request: the output reservation becomes what was really generated. */
  settle(model: string, outputReserve: number, generated: number): void {
    this.pool(model).output?.refund(outputReserve - generated, this.now());
  }

  /**
   * `anthropic-ratelimit-*` for the enforced buckets of the model's class. Token `remaining` is
   * rounded to the nearest thousand like the real API (unless `round` is false); `tokens-*`
   * describes the most restrictive of the input and output buckets right now.
   */
  headers(model: string, round: boolean): Record<string, string> {
    const now = this.now();
    const out: Record<string, string> = {};
    const put = (name: string, b: TokenBucket | undefined, isTokens: boolean) => {
      if (!b) return;
      const left = Math.max(0, Math.floor(b.available(now)));
      out[`anthropic-ratelimit-${name}-limit`] = String(b.capacity);
      out[`anthropic-ratelimit-${name}-remaining`] = String(isTokens && round ? Math.round(left / 1000) * 1000 : left);
      out[`anthropic-ratelimit-${name}-reset`] = rfc3339(Math.ceil(b.fullAt(now) / 1000) * 1000);
    };
    const { requests, input, output } = this.pool(model);
    put('requests', requests, false);
    put('input-tokens', input, true);
    put('output-tokens', output, true);
    const tight = [input, output]
      .filter((b): b is TokenBucket => b !== undefined)
      .sort((a, b) => a.available(now) / a.capacity - b.available(now) / b.capacity)[0];
    put('tokens', tight, true);
    return out;
  }
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
