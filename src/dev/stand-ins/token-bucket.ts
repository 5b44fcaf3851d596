/**
 * A continuously replenishing token bucket, the model Anthropic documents for RPM / ITPM / OTPM:
 * capacity = the per-minute limit, refilled at limit/60 s, so a full bucket allows a burst of
 * the whole minute's limit and then a steady rate. Not a fixed window: capacity comes back a
 * little every millisecond.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private cap: number;

  constructor(capacity: number, now: number) {
    this.cap = capacity;
    this.tokens = capacity;
    this.last = now;
  }

  get capacity(): number {
    return this.cap;
  }

  get refillPerMs(): number {
    return this.cap / 60_000;
  }

  /**
   * Changes the per-minute limit at run time. What is left is kept (never more than the new
   * capacity), so lowering the limit takes effect at once and raising it only speeds the refill.
   */
  setCapacity(capacity: number, now: number): void {
    this.refill(now);
    this.cap = capacity;
    this.tokens = Math.min(this.tokens, capacity);
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.cap, this.tokens + (now - this.last) * this.refillPerMs);
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
    if (n > this.cap) return Number.POSITIVE_INFINITY;
    return this.tokens >= n ? 0 : (n - this.tokens) / this.refillPerMs;
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** Gives back tokens reserved but not used (e.g. output estimated from max_tokens). */
  refund(n: number, now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.cap, this.tokens + n);
  }

  /** When the bucket will be full again, for the `*-reset` headers. */
  fullAt(now: number): number {
    this.refill(now);
    return now + Math.max(0, this.cap - this.tokens) / this.refillPerMs;
  }
}
