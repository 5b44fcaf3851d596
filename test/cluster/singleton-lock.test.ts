import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodic, runSingleton, type SingletonHandle, type SingletonStatus } from '../../src/adapters/worker/singleton.js';
import { listSingletonSessions } from '../../src/core/jobs/singletons.repo.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { until, within } from '../worker/wait.js';

/**
 * runSingleton in one process, several "holders": the advisory-lock mechanism itself. Real
 * PostgreSQL sessions; the cross-process and SIGKILL cases are in singletons.test.ts.
 */
describe('runSingleton: a session advisory lock, one holder at a time', () => {
  let rt: TestRuntime;
  const log = pino({ level: 'silent' });
  beforeAll(async () => {
    rt = await createTestRuntime();
  });
  afterAll(async () => rt?.close());

  const connection = () => rt.appConnection;

  it('three candidates: exactly one runs the body at any time; the lock moves when the holder stops or its session is killed', async () => {
    const name = 'test-singleton-a';
    let running = 0;
    let maxRunning = 0;
    const ticksBy = new Map<string, number>();
    const states = new Map<string, SingletonStatus['state']>();
    const make = (holder: string): SingletonHandle =>
      runSingleton(
        {
          name,
          run: periodic(20, async () => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            ticksBy.set(holder, (ticksBy.get(holder) ?? 0) + 1);
            // Long enough that a stop almost always lands mid-tick (the successor must wait for it).
            await new Promise((r) => setTimeout(r, 40));
            running--;
          }),
        },
        { connection: connection(), logger: log, pingMs: 100, holder, lockWaitMs: 2_000, onChange: (s) => states.set(holder, s.state) },
      );
    const hs = ['h1', 'h2', 'h3'].map(make);
    try {
      const holderNow = async () => {
        const sessions = (await listSingletonSessions(rt.deps.db)).filter((s) => s.name === name);
        const held = sessions.filter((s) => s.state === 'held');
        return held.length === 1 && sessions.filter((s) => s.state === 'waiting').length === 2 ? held[0] : undefined;
      };
      const first = await until(holderNow, 10_000, 'one holder and two waiters in pg_locks');
      expect([...states.values()].filter((s) => s === 'held')).toHaveLength(1);
      expect(states.get(first.holder)).toBe('held');
      await until(async () => (ticksBy.get(first.holder) ?? 0) >= 5, 5_000, 'the holder to tick');
      expect([...ticksBy.keys()]).toEqual([first.holder]);

      // A graceful stop hands the lock to a waiter at once.
      const t0 = performance.now();
      await hs[['h1', 'h2', 'h3'].indexOf(first.holder)]!.stop();
      const second = await until(async () => {
        const h = (await listSingletonSessions(rt.deps.db)).find((s) => s.name === name && s.state === 'held');
        return h && h.holder !== first.holder ? h : undefined;
      }, 5_000, 'a second holder');
      console.log(`[measure] singleton handover after a graceful stop: ${(performance.now() - t0).toFixed(0)} ms`);
      // A graceful stop ends the body before the session closes: never two bodies at once.
      await until(async () => (ticksBy.get(second.holder) ?? 0) >= 3, 5_000, 'the second holder to tick');
      expect(maxRunning).toBe(1);

      // The holder's session is killed behind its back (an admin, a failover): it notices within a
      // ping, stops its body, queues again; the remaining waiter gets the lock.
      const t1 = performance.now();
      await rt.admin.query('select pg_terminate_backend($1)', [second.backendPid]);
      const third = await until(async () => {
        const h = (await listSingletonSessions(rt.deps.db)).find((s) => s.name === name && s.state === 'held');
        return h && h.holder !== second.holder ? h : undefined;
      }, 5_000, 'a third holder after the session was terminated');
      console.log(`[measure] singleton failover after its session was terminated: ${(performance.now() - t1).toFixed(0)} ms`);
      expect(third.holder).not.toBe(first.holder);
      // The terminated one comes back as a waiter.
      await until(async () => (await listSingletonSessions(rt.deps.db)).some((s) => s.name === name && s.holder === second.holder && s.state === 'waiting'), 10_000, 'the terminated holder to queue again');
      expect(states.get(second.holder)).toBe('waiting');
      expect(states.get(third.holder)).toBe('held');
    } finally {
      await Promise.all(hs.map((h) => h.stop()));
    }
    expect((await listSingletonSessions(rt.deps.db)).filter((s) => s.name === name)).toEqual([]);
  });

  it('stop() right after start — while the lock session is still connecting — returns and leaves no session', async () => {
    // pg never settles connect() when end() comes while it connects: stop() used to wait forever.
    for (let i = 0; i < 5; i++) {
      const h = runSingleton({ name: 'test-singleton-quick', run: periodic(50, async () => {}) }, { connection: connection(), logger: log, pingMs: 100 });
      await within(h.stop(), 10_000, 'stop() of a singleton still connecting');
      expect(h.status().state).toBe('stopped');
    }
    await until(async () => (await listSingletonSessions(rt.deps.db)).every((s) => s.name !== 'test-singleton-quick'), 5_000, 'no session left');
  });

  it('a body that throws releases the lock; an invalid name is refused', async () => {
    expect(() => runSingleton({ name: 'Has Spaces', run: async () => {} }, { connection: connection(), logger: log, pingMs: 100 })).toThrow(/invalid singleton name/);
    let runs = 0;
    const h = runSingleton(
      {
        name: 'test-singleton-b',
        run: async () => {
          runs++;
          throw new Error('boom');
        },
      },
      { connection: connection(), logger: log, pingMs: 100, backoffMinMs: 10, backoffMaxMs: 50 },
    );
    try {
      await within(until(async () => runs >= 3, 5_000, 'the body to be retried'), 6_000, 'retries');
    } finally {
      await h.stop();
    }
    expect(h.status().state).toBe('stopped');
  });
});
