import { appendFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { Cluster, followSse, http, mirrorGit, percentile, type ApiProc, type Creds, type SseFollower } from '../helpers/cluster.js';
import { makeRepo } from '../helpers/git.js';
import type { Proc } from '../helpers/process.js';
import { RestartablePg } from '../helpers/restartable-pg.js';
import { smallDiff } from '../cluster/diffs.js';

export interface ChaosOptions {
  label: string;
  reviews: number;
  apis: number;
  workers: number;
  concurrency: number;
  projects: number;
  /** A random worker is SIGKILLed (and a new one started) this often. */
  killEveryMs: number;
  /** PostgreSQL is restarted once, when this fraction of the reviews has completed. */
  restartPgAt: number;
  /** How long PostgreSQL stays down. */
  pgDownMs: number;
  /** Extra environment for every process. */
  env?: Record<string, string>;
}

// Fast failure detection, as a test cluster: a SIGKILLed worker's jobs are unlocked within ~2 s.
const ENV = {
  QUORUM_WORKER_HEARTBEAT_MS: '250',
  QUORUM_WORKER_LAPSE_MS: '2000',
  QUORUM_SWEEP_INTERVAL_MS: '400',
  QUORUM_SINGLETON_PING_MS: '500',
  QUORUM_DB_CONNECT_TIMEOUT_MS: '2000',
  QUORUM_DB_POOL_SIZE: '20',
  // Lease-less leftovers of a killed sweeper are removed after this (default 10 min).
  QUORUM_WORKTREE_ORPHAN_GRACE_MS: '15000',
};

/**
 * The issue's chaos test with real processes on a PostgreSQL of its own: `reviews` reviews are
 * submitted; while they run, a random worker process is SIGKILLed every `killEveryMs` and a new one
 * started; PostgreSQL is restarted once mid-run. An SSE client follows every review from the moment
 * it was accepted. Then: every review completed; no duplicated or lost finding; no worktree, lease
 * or job left; every event reached its client once, in order, with no gap.
 */
export async function runChaos(o: ChaosOptions): Promise<void> {
  const pg = await RestartablePg.start();
  const database = await pg.createDatabase();
  const c = await Cluster.start({ ...ENV, QUORUM_WORKER_CONCURRENCY: String(o.concurrency), ...o.env }, { database });
  // Progress as it happens (the test's own output is only printed at its end).
  const progressFile = path.join(os.tmpdir(), `quorum-chaos-${process.pid}.log`);
  const progress = (m: string) => appendFileSync(progressFile, `${new Date().toISOString()} ${m}\n`);
  const repos: string[] = [];
  let chaos: Promise<void> | undefined;
  let stop = false;
  try {
    const apis: ApiProc[] = [await c.startApi()]; // migrates the empty database
    apis.push(...(await Promise.all(Array.from({ length: o.apis - 1 }, () => c.startApi()))));
    const workers: Proc[] = await Promise.all(Array.from({ length: o.workers }, () => c.startWorker()));
    const owner: Creds = await c.bootstrap('chaos@quorum.test', 'Chaos');
    const projectIds: string[] = [];
    for (let p = 0; p < o.projects; p++) {
      const repo = await makeRepo({ 'src/app.ts': `export const app = ${p};\n` });
      repos.push(repo);
      const r = await http(apis[0]!, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: `p${p}`, repo_url: repo } });
      expect(r.status, r.text).toBe(201);
      projectIds.push(r.body.id);
    }

    const t0 = performance.now();
    const submitted: Array<{ id: string; sse: SseFollower; start: number }> = [];
    for (let i = 0; i < o.reviews; i++) {
      const api = apis[i % apis.length]!;
      const r = await http(api, 'POST', '/v1/review/async', { key: owner.api_key, body: { project_id: `p${i % o.projects}`, task_id: `chaos-${i}`, target: { diff: smallDiff(i) } } });
      expect(r.status, r.text).toBe(202);
      // Connected from the start: the client must see every event, through kills and the restart.
      submitted.push({ id: r.body.id, start: performance.now(), sse: followSse([api, ...apis.filter((a) => a !== api)], r.body.id, owner.api_key, { timeoutMs: 1_500_000 }) });
    }
    const ids = submitted.map((s) => s.id);
    const completedCount = async () => Number((await c.q(`select count(*)::int as n from reviews where id = any($1::uuid[]) and status in ('completed', 'failed', 'cancelled')`, [ids]))[0].n);

    // The chaos: kill a random worker every few seconds and start a new one; restart PostgreSQL once.
    const log: string[] = [];
    let kills = 0;
    let pgRestart: { atCompleted: number; downMs: number } | undefined;
    // Each round: wait, bring the worker count back to `o.workers` (a replacement may still be
    // booting), then SIGKILL a random one and start its replacement. So the cluster never drops
    // below workers - 1, whatever the machine's speed.
    const replacements: Array<Promise<void>> = [];
    // PostgreSQL restarts once, as soon as the given fraction of the reviews has completed.
    const restarter = (async () => {
      while (!stop && !pgRestart) {
        await new Promise((r) => setTimeout(r, 200));
        const done = await completedCount().catch(() => -1);
        if (done < o.reviews * o.restartPgAt) continue;
        const downMs = await pg.restart(o.pgDownMs);
        pgRestart = { atCompleted: done, downMs };
        log.push(`PostgreSQL restarted (${downMs} ms down) with ${done}/${o.reviews} completed`);
        progress(log.at(-1)!);
      }
    })();
    chaos = (async () => {
      for (let round = 0; !stop; round++) {
        await new Promise((r) => setTimeout(r, round === 0 ? o.killEveryMs / 2 : o.killEveryMs));
        await Promise.all(replacements.splice(0));
        if (stop) break;
        const done = await completedCount().catch(() => -1);
        const live = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
        if (live.length === 0) continue;
        const victim = live[Math.floor(Math.random() * live.length)]!;
        await c.stop(victim, 'SIGKILL');
        workers.splice(workers.indexOf(victim), 1);
        kills++;
        progress(`kill #${kills}: pid ${victim.child.pid}; ${done}/${o.reviews} completed`);
        const t = Date.now();
        replacements.push(
          c.startWorker().then(
            (w) => {
              workers.push(w);
              progress(`replacement pid ${w.child.pid} ready in ${Date.now() - t} ms`);
            },
            (e: Error) => {
              log.push(`a replacement worker failed to start: ${e.message.slice(0, 300)}`);
              progress(`replacement failed: ${e.message.slice(-3000)}`);
            },
          ),
        );
      }
      await Promise.all(replacements.splice(0));
      await restarter;
    })();

    const finished = await Promise.all(
      submitted.map(async (s) => {
        const events = await s.sse.done;
        return { ...s, events, ms: performance.now() - s.start };
      }),
    );
    stop = true;
    await chaos;
    const wallMs = performance.now() - t0;
    // Make sure a worker runs (the sweepers are singletons of worker processes).
    if (!workers.some((w) => w.child.exitCode === null)) workers.push(await c.startWorker());

    const rows = await c.q(`select id, status, attempts, error from reviews where id = any($1::uuid[])`, [ids]);
    const notCompleted = rows.filter((r) => r.status !== 'completed');
    expect(notCompleted.map((r) => `${r.id} ${r.status} ${JSON.stringify(r.error)}`)).toEqual([]);
    expect(pgRestart, 'PostgreSQL was restarted during the run').toBeDefined();

    // No duplicated finding, none lost: identical-shaped diffs give identical counts.
    const dup = await c.q(`select review_id, fingerprint, line_start from findings where review_id = any($1::uuid[]) group by 1, 2, 3 having count(*) > 1`, [ids]);
    expect(dup).toEqual([]);
    const counts = await c.q(`select review_id, count(*)::int as n from findings where review_id = any($1::uuid[]) group by 1`, [ids]);
    expect(counts).toHaveLength(o.reviews);
    expect(new Set(counts.map((x) => x.n)).size, JSON.stringify(counts.slice(0, 5))).toBe(1);
    const runs = await c.q(`select review_id, reviewer, count(*)::int as n from reviewer_runs where review_id = any($1::uuid[]) group by 1, 2 having count(*) <> 1`, [ids]);
    expect(runs).toEqual([]);

    // Every event reached its SSE client once, in order, no gap; exactly one terminal event.
    let reconnects = 0;
    for (const f of finished) {
      const ev = await c.q(`select id, type from events where review_id = $1 order by id`, [f.id]);
      expect(f.events.map((e) => e.id), `events of ${f.id}`).toEqual(ev.map((e) => String(e.id)));
      expect(ev.filter((e) => e.type === 'review.completed')).toHaveLength(1);
      reconnects += f.sse.reconnects();
    }

    // No stuck job, no orphaned worktree (the sweepers have a lapse to catch up).
    await c.until('no job left', async () => (await c.q(`select 1 from graphile_worker.jobs`)).length === 0, 60_000);
    await c.until('no lease left', async () => (await c.q('select 1 from worktree_leases')).length === 0, 60_000).catch(async (e: Error) => {
      const leases = await c.q(`select l.*, extract(epoch from now() - heartbeat_at)::int as age_s, r.status from worktree_leases l join reviews r on r.id = l.review_id`);
      const sessions = await c.q(`select a.application_name, l.granted from pg_locks l join pg_stat_activity a on a.pid = l.pid where l.locktype = 'advisory' and a.application_name like 'quorum-singleton %'`);
      const sweeps = workers.flatMap((w) => w.output().split('\n').filter((l) => /worktree|singleton/.test(l) && /"level":(30|40|50)/.test(l)).slice(-15));
      throw new Error(`${e.message}\nleases: ${JSON.stringify(leases)}\nsessions: ${JSON.stringify(sessions)}\n${sweeps.join('\n')}`);
    });
    await c.until('no worktree directory left', async () => (await c.worktreeDirs()).length === 0, 60_000);
    for (const pid of projectIds) {
      const wts = mirrorGit(c.mirrorPath(owner.org_id, pid), 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '));
      expect(wts, `git worktrees of project ${pid}`).toHaveLength(1);
    }

    const attempts = rows.map((r) => r.attempts as number);
    const hist = new Map<number, number>();
    for (const a of attempts) hist.set(a, (hist.get(a) ?? 0) + 1);
    const lat = finished.map((f) => f.ms);
    console.log(
      [
        '',
        `progress log: ${progressFile}`,
        `chaos (${o.label}): ${o.reviews} reviews, ${o.apis} API + ${o.workers} worker processes (concurrency ${o.concurrency}), a worker SIGKILLed every ${o.killEveryMs} ms`,
        `  completed          ${rows.length - notCompleted.length}/${o.reviews} in ${(wallMs / 1000).toFixed(1)} s (${((o.reviews / wallMs) * 60_000).toFixed(1)} reviews/min under chaos)`,
        `  chaos              ${kills} workers SIGKILLed and replaced; ${log.join('; ')}`,
        `  attempts/review    ${[...hist].sort((a, b) => a[0] - b[0]).map(([a, n]) => `${a}: ${n}`).join(', ')}`,
        `  findings           ${counts[0]?.n} per review, 0 duplicated; every reviewer checkpointed exactly once`,
        `  SSE                every event delivered once, in order, no gap (${reconnects} reconnections with Last-Event-ID)`,
        `  left behind        0 jobs, 0 leases, 0 worktree directories`,
        `  latency            p50 ${percentile(lat, 50).toFixed(0)} ms, p99 ${percentile(lat, 99).toFixed(0)} ms (submit → completed)`,
        '',
      ].join('\n'),
    );
    expect(kills).toBeGreaterThan(0);
  } finally {
    stop = true;
    await chaos?.catch(() => {});
    if (!pg.running) await pg.start().catch(() => {});
    await c.close();
    await pg.close();
    for (const r of repos) await fs.rm(r, { recursive: true, force: true });
  }
}
