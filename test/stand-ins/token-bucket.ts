/**
 * A continuously replenishing token bucket, the model Anthropic documents for RPM / ITPM / OTPM:
 * capacity = the per-minute limit, refilled at limit/60 s, so a full bucket allows a burst of
 * the whole minute's limit and then a steady rate.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly refillPerMs: number;

  constructor(readonly capacity: number, now: number) {
    this.tokens = capacity;
    this.last = now;
    this.refillPerMs = capacity / 60_000;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.refillPerMs);
      this.last = now;
    }
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Milliseconds until `n` tokens are available (Infinity if n exceeds the capacity). */
  waitMs(n: number, now: number): number {
    this.refill(now);
    if (n > this.capacity) return Number.POSITIVE_INFINITY;
    return this.tokens >= n ? 0 : (n - this.tokens) / this.refillPerMs;
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** Gives back tokens reserved but not used (e.g. output estimated from max_tokens). */
  refund(n: number, now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.capacity, this.tokens + n);
  }

  /** When the bucket will be full again, for the `*-reset` headers. */
  fullAt(now: number): number {
    this.refill(now);
    return now + (this.capacity - this.tokens) / this.refillPerMs;
  }
}
