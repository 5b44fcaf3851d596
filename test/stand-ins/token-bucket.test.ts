import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/dev/stand-ins/token-bucket.js';

describe('TokenBucket (Anthropic: capacity = the per-minute limit, continuous refill)', () => {
  const t0 = 1_750_000_000_000;

  it('starts full, so the whole minute can be used as a burst', () => {
    const b = new TokenBucket(600, t0);
    expect(b.waitMs(600, t0)).toBe(0);
    b.take(600, t0);
    expect(b.available(t0)).toBe(0);
  });

  it('refills continuously at limit/60 per second, never above the limit', () => {
    const b = new TokenBucket(600, t0);
    b.take(600, t0);
    expect(b.available(t0 + 1_000)).toBeCloseTo(10, 9);
    expect(b.available(t0 + 30_000)).toBeCloseTo(300, 9);
    expect(b.available(t0 + 600_000)).toBe(600);
  });

  it('says exactly how long until n tokens fit, and that more than the limit never fits', () => {
    const b = new TokenBucket(600, t0);
    b.take(590, t0);
    expect(b.waitMs(10, t0)).toBe(0);
    expect(b.waitMs(40, t0)).toBeCloseTo(3_000, 6);
    expect(b.waitMs(601, t0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('refunds an unused reservation and reports when it will be full', () => {
    const b = new TokenBucket(60, t0);
    b.take(60, t0);
    b.refund(30, t0);
    expect(b.available(t0)).toBe(30);
    expect(b.fullAt(t0)).toBe(t0 + 30_000);
    b.refund(1_000, t0);
    expect(b.available(t0)).toBe(60);
  });

  it('takes a new limit at run time: lower caps what is left, higher refills faster', () => {
    const b = new TokenBucket(600, t0);
    b.setCapacity(100, t0);
    expect(b.available(t0)).toBe(100);
    b.take(100, t0);
    b.setCapacity(6_000, t0);
    expect(b.available(t0 + 1_000)).toBeCloseTo(100, 9);
    expect(b.capacity).toBe(6_000);
  });
});
