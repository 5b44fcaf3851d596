import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, http, mirrorGit, type ApiProc, type Creds } from '../helpers/cluster.js';
import { makeRepo } from '../helpers/git.js';
import type { Proc } from '../helpers/process.js';

/**
 * Seed acceptance test 3 (crash recovery) with real processes: an async review is started, the
 * worker process running it is SIGKILLed after at least one reviewer checkpointed and before the
 * review completed, a new worker process is started, and the review completes from its checkpoint:
 * completed reviewers are not re-run, no finding is duplicated, no worktree or lease is left.
 * Ten times in a row.
 *
 * The builtin reviewers are CPU-bound; a generated diff of a few hundred new TypeScript files
 * (~80 lines each, with some SQL built by concatenation) makes a review last long enough to be
 * killed mid-way. If a review still finishes before the kill lands, the diff is made bigger and
 * the iteration repeated: a run that did not kill mid-review never counts.
 */

const ITERATIONS = 10;
const PANEL = ['security', 'correctness', 'performance', 'maintainability', 'tests'];
// Fast failure detection, as a test cluster: beat every 200 ms, dead after 1.5 s without a beat.
const FAST = { QUORUM_WORKER_HEARTBEAT_MS: '200', QUORUM_WORKER_LAPSE_MS: '1500', QUORUM_SWEEP_INTERVAL_MS: '300' };

function generatedFile(i: number): string {
  const lines = [`import { db } from '../db';`, ''];
  if (i % 10 === 0) {
    lines.push(`export function find${i}(name: string) {`, `  return db.query("SELECT id FROM users WHERE name = '" + name + "'");`, '}', '');
  }
  for (let f = 0; lines.length < 78; f++) {
    lines.push(`export function compute${i}_${f}(a: number, b: number): number {`, `  const s = a * ${f + 1} + b;`, `  return s > ${f} ? s - b : s + a;`, '}', '');
  }
  return lines.join('\n') + '\n';
}

/** The warn/error lines of a process's log (what explains an unexpected extra attempt). */
function warnings(p: Proc): string {
  return p.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-20).join('\n');
}

function bigDiff(files: number): string {
  const out: string[] = [];
  for (let i = 0; i < files; i++) {
    const body = generatedFile(i).slice(0, -1).split('\n');
    const f = `src/gen/m${i}.ts`;
    out.push(`diff --git a/${f} b/${f}`, 'new file mode 100644', '--- /dev/null', `+++ b/${f}`, `@@ -0,0 +1,${body.length} @@`, ...body.map((l) => `+${l}`));
  }
  return out.join('\n') + '\n';
}

describe('seed test 3: crash recovery (SIGKILL the worker mid-review, real processes)', () => {
  let c: Cluster;
  let api: ApiProc;
  let worker: Proc;
  let owner: Creds;
  let projectId: string;
  let repo: string;

  beforeAll(async () => {
    c = await Cluster.start(FAST);
    api = await c.startApi();
    worker = await c.startWorker();
    owner = await c.bootstrap('owner@seed3.test', 'Seed Three', 'Olive Owner');
    repo = await makeRepo({ 'src/app.ts': 'export const app = 1;\n' });
    const p = await http(api, 'POST', '/v1/projects', { key: owner.api_key, body: { slug: 'proj1', repo_url: repo } });
    expect(p.status, p.text).toBe(201);
    projectId = p.body.id;
  });
  afterAll(async () => {
    await c?.close();
    if (repo) await fs.rm(repo, { recursive: true, force: true });
  });

  const start = async (files: number): Promise<string> => {
    const r = await http(api, 'POST', '/v1/review/async', { key: owner.api_key, body: { project_id: 'proj1', task_id: 'crash-test', target: { diff: bigDiff(files) } } });
    expect(r.status, r.text).toBe(202);
    return r.body.id as string;
  };
  const events = (id: string) => c.q(`select id, type, payload from events where review_id = $1 order by id`, [id]);
  const completed = (id: string, timeoutMs = 60_000) =>
    c.until(`review ${id} terminal`, async () => {
      const [r] = await c.q(`select status, attempts, commit_sha, branch, error from reviews where id = $1`, [id]);
      return r && ['completed', 'failed', 'cancelled'].includes(r.status) ? r : undefined;
    }, timeoutMs);
  const leasesReleased = () => c.until('worktree leases released', async () => (await c.q('select 1 from worktree_leases')).length === 0, 30_000);

  /** Findings of an uncrashed review of the same diff: what every recovered review must equal. */
  const reference = new Map<number, { findings: number; ms: number }>();
  async function calibrate(files: number): Promise<{ findings: number; ms: number }> {
    const known = reference.get(files);
    if (known) return known;
    const t0 = Date.now();
    const id = await start(files);
    const r = await completed(id);
    expect(r.status, JSON.stringify(r.error)).toBe('completed');
    const ev = await events(id);
    const begin = Number(ev.find((e) => e.type === 'review.started')!.id);
    const ms = Date.now() - t0;
    const [f] = await c.q(`select count(*)::int as n from findings where review_id = $1`, [id]);
    reference.set(files, { findings: f.n, ms });
    console.log(`seed 3: uncrashed review of ${files} files: ${ms} ms end to end, ${f.n} findings, ${ev.length} events (first at ${begin})`);
    return reference.get(files)!;
  }

  it(`${ITERATIONS}/${ITERATIONS}: SIGKILL mid-review, start a new worker → the review completes from its checkpoint`, async () => {
    let files = 200;
    let ref = await calibrate(files);
    expect(ref.findings).toBeGreaterThan(0);
    const timings: string[] = [];
    let grown = 0;

    for (let it = 1; it <= ITERATIONS; ) {
      const id = await start(files);
      // Kill as soon as a reviewer has checkpointed (the NOTIFY of its event wakes us within ms).
      await c.until(`a reviewer.completed of ${id}`, async () => {
        const ev = await c.q(`select 1 from events where review_id = $1 and type in ('reviewer.completed', 'review.completed') limit 1`, [id]);
        return ev.length > 0;
      }, 60_000);
      const tKill = Date.now();
      const killed = worker;
      await c.stop(killed, 'SIGKILL');
      // The killed process wrote nothing more: this is the state the new worker resumes from.
      const before = await c.q<{ reviewer: string }>(`select reviewer from reviewer_runs where review_id = $1`, [id]);
      const finishedEarly = (await c.q(`select 1 from events where review_id = $1 and type = 'review.completed'`, [id])).length > 0;
      const leasesAtKill = await c.q(`select path from worktree_leases where review_id = $1`, [id]);

      const t1 = Date.now();
      worker = await c.startWorker();
      const workerStartMs = Date.now() - t1;
      const r = await completed(id);
      const recoveryMs = Date.now() - tKill;
      expect(r.status, JSON.stringify(r.error)).toBe('completed');
      await leasesReleased();

      if (finishedEarly || before.length === PANEL.length) {
        // Not a mid-review kill: make the review longer and do this iteration again.
        expect(grown, `review of ${files} files still finished before the kill`).toBeLessThan(3);
        grown++;
        files = Math.round(files * 1.5);
        ref = await calibrate(files);
        console.log(`seed 3: iteration ${it}: the review finished before the kill; diff grown to ${files} files`);
        continue;
      }
      expect(before.length).toBeGreaterThanOrEqual(1);
      expect(leasesAtKill).toHaveLength(1); // the killed attempt held its worktree

      // Every reviewer has exactly one checkpoint row.
      const runs = await c.q(`select reviewer, status from reviewer_runs where review_id = $1 order by reviewer`, [id]);
      expect(runs.map((x) => x.reviewer)).toEqual([...PANEL].sort());
      expect(runs.every((x) => x.status === 'completed')).toBe(true);

      // The second attempt resumed: it started only the reviewers that had not checkpointed.
      const ev = await events(id);
      const startedEv = ev.filter((e) => e.type === 'review.started');
      const story = () => `iteration ${it}, review ${id}:\n${ev.map((e) => `${e.id} ${e.type} ${JSON.stringify(e.payload)}`).join('\n')}\nkilled worker:\n${warnings(killed)}\nnew worker:\n${warnings(worker)}`;
      expect(startedEv, story()).toHaveLength(2);
      expect(startedEv[1]!.payload).toMatchObject({ attempt: 2, resumed: true, completed: before.length, total: PANEL.length });
      const done = new Set(before.map((b) => b.reviewer));
      const secondAttempt = ev.filter((e) => Number(e.id) > Number(startedEv[1]!.id));
      expect(secondAttempt.filter((e) => e.type === 'reviewer.started').map((e) => e.payload.reviewer).sort()).toEqual(PANEL.filter((p) => !done.has(p)).sort());
      for (const p of PANEL) {
        const starts = ev.filter((e) => e.type === 'reviewer.started' && e.payload.reviewer === p).length;
        if (done.has(p)) expect(starts, `${p} completed before the kill and must not run again`).toBe(1);
        else expect(starts).toBeGreaterThanOrEqual(1);
        expect(ev.filter((e) => e.type === 'reviewer.completed' && e.payload.reviewer === p)).toHaveLength(1);
      }
      expect(ev.filter((e) => e.type === 'review.completed')).toHaveLength(1);
      expect(ev.at(-1)!.type).toBe('review.completed');

      // No duplicated finding, and exactly the findings of an uncrashed review of the same diff.
      const dup = await c.q(`select fingerprint, line_start from findings where review_id = $1 group by 1, 2 having count(*) > 1`, [id]);
      expect(dup).toEqual([]);
      const [f] = await c.q(`select count(*)::int as n from findings where review_id = $1`, [id]);
      expect(f.n).toBe(ref.findings);
      expect(r.attempts).toBe(2);

      // No orphaned worktree: no lease, no checkout, git knows only the mirror; the branch keeps the developer's commit.
      expect(await c.worktreeDirs()).toEqual([]);
      const mirror = c.mirrorPath(owner.org_id, projectId);
      expect(mirrorGit(mirror, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
      expect(mirrorGit(mirror, 'rev-parse', `refs/heads/${r.branch}`)).toBe(r.commit_sha);

      timings.push(`#${it}: killed after ${before.length}/5 reviewers, new worker up in ${workerStartMs} ms, completed ${recoveryMs} ms after the kill`);
      it++;
    }
    console.log(`seed 3: ${ITERATIONS}/${ITERATIONS} recovered (diff ${files} files; uncrashed review ${ref.ms} ms)\n  ${timings.join('\n  ')}`);
  }, 420_000);
});
