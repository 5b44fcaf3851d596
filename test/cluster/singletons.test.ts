import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, type ApiProc, type Creds } from '../helpers/cluster.js';
import type { Proc } from '../helpers/process.js';

/**
 * Cluster singletons with real processes: three `quorum worker` processes offer to run the
 * lapsed-worker sweeper and the data directory's worktree sweeper; exactly one holds each. The
 * holder is SIGKILLed: a survivor holds it within the 30 s bound (PostgreSQL hands the lock
 * to the next waiter when the dead session's socket closes) and does the holder's work: it sweeps
 * the killed worker's heartbeat. A SIGTERMed holder hands over and exits 0.
 */
const FAST = { QUORUM_WORKER_HEARTBEAT_MS: '200', QUORUM_WORKER_LAPSE_MS: '1500', QUORUM_SWEEP_INTERVAL_MS: '300', QUORUM_SINGLETON_PING_MS: '500' };
const SWEEPER = 'dead-worker-sweeper';

interface Session {
  name: string;
  holder: string;
  state: 'held' | 'waiting';
}

describe('cluster singletons across three worker processes (real processes)', () => {
  let c: Cluster;
  let api: ApiProc;
  let owner: Creds;
  const workers: Proc[] = [];

  beforeAll(async () => {
    c = await Cluster.start(FAST);
    api = await c.startApi();
    workers.push(...(await Promise.all([c.startWorker(), c.startWorker(), c.startWorker()])));
    owner = await c.bootstrap('owner@singletons.test', 'Singletons');
  });
  afterAll(async () => c?.close());

  /** Singleton sessions as PostgreSQL sees them (pg_locks + application_name). */
  const sessions = async (): Promise<Session[]> => {
    const rows = await c.q<{ application_name: string; granted: boolean }>(
      `select a.application_name, l.granted from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and a.application_name like 'quorum-singleton %' and a.datname = current_database()`,
    );
    return rows.map((r) => {
      const [, name, holder] = r.application_name.split(' ');
      return { name: name!, holder: holder!, state: r.granted ? 'held' : 'waiting' };
    });
  };
  const pidOf = (holder: string) => Number(holder.split(':').at(-1));
  const settled = (names: string[], candidates: number) =>
    c.until(`each singleton held once, with ${candidates - 1} waiting`, async () => {
      const s = await sessions();
      const ok = names.every((n) => s.filter((x) => x.name === n && x.state === 'held').length === 1 && s.filter((x) => x.name === n && x.state === 'waiting').length === candidates - 1);
      return ok ? s : undefined;
    }, 20_000);

  it('each singleton is held by exactly one of three processes; /health/detailed shows who', async () => {
    const s = await settled([SWEEPER], 3);
    const names = [...new Set(s.map((x) => x.name))].sort();
    expect(names).toHaveLength(2);
    expect(names).toContain(SWEEPER);
    const worktree = names.find((n) => n.startsWith('worktree-sweeper/'))!;
    await settled([SWEEPER, worktree], 3);
    const pids = new Set(workers.map((w) => w.child.pid));
    for (const x of await sessions()) expect(pids.has(pidOf(x.holder))).toBe(true);

    const h = await http(api, 'GET', '/health/detailed', { key: owner.api_key });
    expect(h.status, h.text).toBe(200);
    const sweeper = h.body.singletons.find((x: { name: string }) => x.name === SWEEPER);
    expect(sweeper).toMatchObject({ waiting: 2 });
    expect(pids.has(pidOf(sweeper.holder))).toBe(true);
    expect(h.body.process).toMatchObject({ role: 'server', worker: null, database_reachable: true });
    expect(h.body.workers).toHaveLength(3);

    // Only the holder logged the acquisition.
    const acquired = workers.filter((w) => w.output().includes(`"msg":"singleton ${SWEEPER} acquired"`));
    expect(acquired.map((w) => w.child.pid)).toEqual([pidOf(sweeper.holder)]);
  });

  it('SIGKILL the holder: a survivor holds the sweeper within 30 s and sweeps the dead worker', async () => {
    const before = (await settled([SWEEPER], workers.length)).find((x) => x.name === SWEEPER && x.state === 'held')!;
    const victim = workers.find((w) => w.child.pid === pidOf(before.holder))!;
    const [victimRow] = await c.q(`select worker_id from worker_heartbeats where pid = $1`, [victim.child.pid]);
    expect(victimRow).toBeDefined();

    const t0 = Date.now();
    await c.stop(victim, 'SIGKILL');
    workers.splice(workers.indexOf(victim), 1);
    const after = await c.until('a new holder of the sweeper', async () => {
      const h = (await sessions()).find((x) => x.name === SWEEPER && x.state === 'held');
      return h && pidOf(h.holder) !== victim.child.pid ? h : undefined;
    }, 30_000);
    const failoverMs = Date.now() - t0;
    // The new holder does the singleton's job: the killed worker's heartbeat row is swept.
    await c.until('the killed worker swept', async () => (await c.q(`select 1 from worker_heartbeats where worker_id = $1`, [victimRow.worker_id])).length === 0, 30_000);
    const sweptMs = Date.now() - t0;
    console.log(`[measure] singleton failover after SIGKILL of its holder: ${failoverMs} ms to a new holder; dead worker swept ${sweptMs} ms after the kill (lapse ${FAST.QUORUM_WORKER_LAPSE_MS} ms)`);
    expect(failoverMs).toBeLessThan(30_000);
    expect(workers.map((w) => w.child.pid)).toContain(pidOf(after.holder));
    const newHolder = workers.find((w) => w.child.pid === pidOf(after.holder))!;
    await c.until('the sweep logged by the new holder', async () => newHolder.output().includes('lapsed worker(s)'), 10_000);
    await settled([SWEEPER], 2);
  });

  it('SIGTERM the holder: it hands over at once and exits 0', async () => {
    const before = (await settled([SWEEPER], workers.length)).find((x) => x.name === SWEEPER && x.state === 'held')!;
    const holder = workers.find((w) => w.child.pid === pidOf(before.holder))!;
    const t0 = Date.now();
    const code = await c.stop(holder, 'SIGTERM');
    workers.splice(workers.indexOf(holder), 1);
    expect(code).toBe(0);
    const after = await c.until('the last worker to hold the sweeper', async () => {
      const h = (await sessions()).find((x) => x.name === SWEEPER && x.state === 'held');
      return h && pidOf(h.holder) === workers[0]!.child.pid ? h : undefined;
    }, 10_000);
    console.log(`[measure] singleton handover after SIGTERM of its holder: ${Date.now() - t0} ms (exit code ${code})`);
    expect(after.state).toBe('held');
    // A graceful stop leaves no heartbeat behind (nothing for the sweeper to do).
    expect(await c.q(`select 1 from worker_heartbeats where pid = $1`, [holder.child.pid])).toEqual([]);
  });
});
