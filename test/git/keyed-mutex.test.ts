import { describe, expect, it } from 'vitest';
import { Coalescer, KeyedMutex } from '../../src/core/git/keyed-mutex.js';

/** A promise the test resolves by hand: ordering is driven by events, never by time. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
}

describe('KeyedMutex', () => {
  it('runs one task at a time per key, in arrival order, keys independently; failures release the key', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    let active = 0;
    let maxActive = 0;
    const task = (key: string, i: number, fail = false) =>
      m.run(key, async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        log.push(`${key}${i}`);
        await Promise.resolve();
        active--;
        if (fail) throw new Error('x');
        return i;
      });
    const results = await Promise.allSettled([task('a', 1), task('a', 2, true), task('a', 3), task('b', 1)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(maxActive).toBe(2); // a and b overlapped; never two a's
    expect(m.size).toBe(0);
  });
});

describe('Coalescer', () => {
  it('callers arriving during a run share one queued run that starts after them', async () => {
    const c = new Coalescer();
    const gates = [gate(), gate(), gate()];
    let runs = 0;
    const op = async () => {
      const g = gates[runs++]!;
      await g.p;
    };
    const first = c.run('k', op);
    const during = Array.from({ length: 10 }, () => c.run('k', op));
    expect(runs).toBe(1);
    gates[0]!.open();
    await first;
    gates[1]!.open();
    await Promise.all(during);
    expect(runs).toBe(2);
    // Idle again: the next caller starts a fresh run.
    const later = c.run('k', op);
    expect(runs).toBe(3);
    gates[2]!.open();
    await later;
  });

  it('a failed run rejects its callers but does not block the queued run', async () => {
    const c = new Coalescer();
    let n = 0;
    const g = gate();
    const failing = c.run('k', async () => {
      n++;
      await g.p;
      throw new Error('fetch failed');
    });
    const queued = c.run('k', async () => {
      n++;
    });
    g.open();
    await expect(failing).rejects.toThrow('fetch failed');
    await expect(queued).resolves.toBeUndefined();
    expect(n).toBe(2);
  });
});
