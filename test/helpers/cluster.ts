import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { classifyDbFault } from '../../src/db/availability.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { cli, freePort, runCli, type Proc } from './process.js';

/**
 * A small Quorum cluster of REAL processes (`node dist/main/cli.js serve --no-worker` and
 * `… worker`) sharing one test database, one data directory and one master key, as a team
 * deployment runs them. Requires a build (`npm run build`): the tests drive the real binary.
 *
 * Waiting is event-driven: `until` re-checks its condition on every NOTIFY of the events outbox
 * (the same channel the processes fan out on) and, as a safety net for conditions no event
 * announces (a lease row deleted, a file removed), every 200 ms — always with a deadline.
 */

export interface Creds {
  org_id: string;
  user_id: string;
  api_key: string;
}

// Response bodies and rows are asserted field by field in tests, as with inject().json().
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

export interface HttpResult<T = Loose> {
  status: number;
  body: T;
  text: string;
}

export interface ApiProc extends Proc {
  url: string;
}

export class Cluster {
  readonly procs: Proc[] = [];
  private readonly wakers = new Set<() => void>();

  private listener: pg.Client | undefined;
  private closing = false;

  private constructor(
    readonly db: TestDatabase,
    readonly dataDir: string,
    /** Owner pool (bypasses RLS): for asserting on rows only. */
    readonly admin: pg.Pool,
    private readonly baseEnv: Record<string, string>,
  ) {}

  /**
   * `database`: a database of the test's own (e.g. on a RestartablePg server), empty: the first
   * process started migrates it. Default: a clone of the migrated template on the run's server.
   */
  static async start(env: Record<string, string> = {}, opts: { database?: TestDatabase } = {}): Promise<Cluster> {
    const db = opts.database ?? (await createTestDatabase());
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-cluster-'));
    const baseEnv = {
      DATABASE_URL: db.adminUrl,
      QUORUM_DATA_DIR: dataDir,
      QUORUM_MASTER_KEY: randomBytes(32).toString('base64'),
      QUORUM_LOG_LEVEL: 'info',
      ...env,
    };
    const admin = new pg.Pool({ connectionString: db.adminUrl, max: 4, connectionTimeoutMillis: 5_000 });
    admin.on('error', () => {});
    const c = new Cluster(db, dataDir, admin, baseEnv);
    await c.listen();
    return c;
  }

  /** LISTEN quorum_events (wakes `until`); re-established after the server restarts. */
  private async listen(): Promise<void> {
    const l = new pg.Client({ connectionString: this.db.adminUrl });
    const lost = () => {
      if (this.listener !== l) return;
      this.listener = undefined;
      l.end().catch(() => {});
      if (!this.closing) setTimeout(() => void this.listen().catch(() => this.relisten()), 200);
    };
    l.on('error', lost);
    l.on('end', lost);
    l.on('notification', () => {
      for (const w of [...this.wakers]) w();
    });
    this.listener = l;
    try {
      await l.connect();
      await l.query('LISTEN quorum_events');
    } catch (e) {
      this.listener = undefined;
      await l.end().catch(() => {});
      throw e;
    }
    for (const w of [...this.wakers]) w();
  }

  private relisten(): void {
    if (!this.closing) setTimeout(() => void this.listen().catch(() => this.relisten()), 500);
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.baseEnv, ...extra };
  }

  /** An API process (without workers unless `worker`); resolves once it logged "quorum ready". */
  async startApi(extra: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<ApiProc> {
    const port = await freePort();
    const p = runCli(['serve', ...(opts.worker ? [] : ['--no-worker'])], this.env({ PORT: String(port), ...extra }));
    this.procs.push(p);
    await p.waitFor(/"msg":"quorum ready"/, 60_000);
    return Object.assign(p, { url: `http://127.0.0.1:${port}` });
  }

  /** A worker process; resolves once its heartbeat row exists and it logged "worker ready". */
  async startWorker(extra: Record<string, string> = {}, args: string[] = []): Promise<Proc> {
    const p = runCli(['worker', ...args], this.env(extra));
    this.procs.push(p);
    await p.waitFor(/"msg":"worker ready"/, 60_000);
    return p;
  }

  /** Sends `signal` and waits (bounded) for the process to exit. */
  async stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
    p.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([p.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      p.child.kill('SIGKILL');
      await p.exited;
      throw new Error(`process ${p.child.pid} did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return r;
  }

  /** `quorum bootstrap --json` as its own process: a new org, its owner and the owner's API key. */
  async bootstrap(email: string, org: string, name?: string): Promise<Creds> {
    const args = ['bootstrap', '--email', email, '--org', org, '--json', ...(name ? ['--name', name] : [])];
    const r = await cli(args, this.env({ QUORUM_LOG_LEVEL: 'warn' }));
    if (r.code !== 0) throw new Error(`bootstrap failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Creds;
  }

  /** Resolves with the first truthy value of `check`, re-evaluated on each event and every 200 ms. */
  until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let running = false;
      let again = false;
      const finish = () => {
        done = true;
        this.wakers.delete(run);
        clearInterval(tick);
        clearTimeout(timer);
      };
      const run = (): void => {
        if (done) return;
        if (running) {
          again = true;
          return;
        }
        running = true;
        void (async () => {
          try {
            do {
              again = false;
              let v: T | undefined | null | false;
              try {
                v = await check();
              } catch (e) {
                // The database restarting under a test (chaos, faults) is "not yet", not a failure.
                if (!classifyDbFault(e)) throw e;
                v = undefined;
              }
              if (v !== undefined && v !== null && v !== false) {
                finish();
                resolve(v);
                return;
              }
            } while (again && !done);
          } catch (e) {
            finish();
            reject(e instanceof Error ? e : new Error(String(e)));
          } finally {
            running = false;
          }
        })();
      };
      this.wakers.add(run);
      const tick = setInterval(run, 200);
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      run();
    });
  }

  async q<R extends pg.QueryResultRow = Loose>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.admin.query<R>(text, values)).rows;
  }

  /** Subdirectories left under $DATA/worktrees/{org}/{project} (review checkouts), as relative paths. */
  async worktreeDirs(): Promise<string[]> {
    const root = path.join(this.dataDir, 'worktrees');
    const out: string[] = [];
    for (const org of await subdirs(root)) {
      for (const project of await subdirs(path.join(root, org))) {
        for (const name of await subdirs(path.join(root, org, project))) out.push(path.join(org, project, name));
      }
    }
    return out;
  }

  mirrorPath(orgId: string, projectId: string): string {
    return path.join(this.dataDir, 'repos', orgId, `${projectId}.git`);
  }

  /** Every process is stopped (SIGTERM, then SIGKILL), the database dropped, the data dir removed. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.procs.map((p) => this.stop(p).catch(() => {})));
    await this.listener?.end().catch(() => {});
    await this.admin.end().catch(() => {});
    await this.db.drop();
    await fs.rm(this.dataDir, { recursive: true, force: true });
  }
}

/** A JSON HTTP call against a started API process. */
export async function http<T = Loose>(
  api: { url: string },
  method: string,
  p: string,
  o: { key?: string; token?: string; body?: unknown } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = {};
  if (o.key) headers['x-api-key'] = o.key;
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${api.url}${p}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a Markdown report): keep the text
  }
  return { status: r.status, body: body as T, text };
}

/** `git --git-dir=<mirror> …` with no inherited identity or config. */
export function mirrorGit(mirror: string, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: os.tmpdir(), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' };
  return execFileSync('git', [`--git-dir=${mirror}`, ...args], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();
}

/**
 * Structural check of an exported KNOWLEDGE.md: the title line, the entry count it states equals
 * its `## ` sections, every section carries its attribution line. Returns the number of entries.
 */
export function parseKnowledgeMd(md: string): { entries: number; titles: string[]; attributions: string[] } {
  const lines = md.split('\n');
  if (!lines[0]?.startsWith('# KNOWLEDGE')) throw new Error(`KNOWLEDGE.md does not start with "# KNOWLEDGE": ${JSON.stringify(lines[0])}`);
  const m = /\((\d+) entr(?:y|ies)\)/.exec(md);
  if (!m) throw new Error('KNOWLEDGE.md states no entry count');
  const stated = Number(m[1]);
  const sections: string[][] = [];
  for (const l of lines.slice(1)) {
    if (l.startsWith('# ')) throw new Error(`a second top-level heading in KNOWLEDGE.md: ${l}`);
    if (l.startsWith('## ')) sections.push([l]);
    else sections.at(-1)?.push(l);
  }
  if (sections.length !== stated) throw new Error(`KNOWLEDGE.md states ${stated} entries but has ${sections.length} sections`);
  const attributions = sections.map((s, i) => {
    const a = s.find((l) => /^- found by .+ on \d{4}-\d{2}-\d{2} \(review [0-9a-f-]{36}\)$/.test(l));
    if (!a) throw new Error(`KNOWLEDGE.md entry ${i + 1} has no attribution line:\n${s.join('\n')}`);
    return a;
  });
  return { entries: stated, titles: sections.map((s) => s[0]!.slice(3)), attributions };
}

async function subdirs(p: string): Promise<string[]> {
  const entries = await fs.readdir(p, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

export interface SseEvent {
  id: string;
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

export interface SseFollower {
  /** Events received so far, in arrival order (across reconnections). */
  readonly events: SseEvent[];
  /** Resolves after the terminal event of the review (completed, failed, cancelled). */
  readonly done: Promise<SseEvent[]>;
  reconnects(): number;
  close(): void;
}

const TERMINAL = new Set(['review.completed', 'review.failed', 'review.cancelled']);

/**
 * A Server-Sent Events client of GET /v1/reviews/{id}/events, as a browser's EventSource behaves: on
 * a dropped stream it reconnects (to the next API in `apis`) with Last-Event-ID, so a client sees
 * every event once, in order, whatever happens to the processes in between.
 */
export function followSse(apis: Array<{ url: string }>, reviewId: string, key: string, o: { timeoutMs?: number } = {}): SseFollower {
  const events: SseEvent[] = [];
  const ctrl = new AbortController();
  let reconnects = 0;
  let closed = false;
  const run = async (): Promise<SseEvent[]> => {
    for (let attempt = 0; !closed; attempt++) {
      const api = apis[attempt % apis.length]!;
      const headers: Record<string, string> = { 'x-api-key': key, accept: 'text/event-stream' };
      const last = events.at(-1);
      if (last) headers['last-event-id'] = last.id;
      try {
        const res = await fetch(`${api.url}/v1/reviews/${reviewId}/events`, { headers, signal: ctrl.signal });
        if (res.status !== 200 || !res.body) throw new Error(`SSE ${res.status}: ${await res.text()}`);
        let buf = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const f: Partial<SseEvent> & { dataText?: string } = {};
            for (const line of frame.split('\n')) {
              if (line.startsWith('id: ')) f.id = line.slice(4);
              else if (line.startsWith('event: ')) f.type = line.slice(7);
              else if (line.startsWith('data: ')) f.dataText = (f.dataText ?? '') + line.slice(6);
            }
            if (f.id && f.type) {
              const e = { id: f.id, type: f.type, data: f.dataText ? JSON.parse(f.dataText) : null };
              events.push(e);
              if (TERMINAL.has(e.type)) return events;
            }
          }
        }
      } catch (e) {
        if (closed) break;
        void e;
      }
      if (closed) break;
      reconnects++;
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
    }
    throw new Error(`SSE follower of ${reviewId} closed before the terminal event`);
  };
  let timer: NodeJS.Timeout | undefined;
  const done = Promise.race([
    run(),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`SSE follower of ${reviewId}: no terminal event within ${o.timeoutMs ?? 300_000} ms`)), o.timeoutMs ?? 300_000);
      timer.unref();
    }),
  ]).finally(() => {
    clearTimeout(timer);
    closed = true;
    ctrl.abort();
  });
  done.catch(() => {});
  return {
    events,
    done,
    reconnects: () => reconnects,
    close: () => {
      closed = true;
      ctrl.abort();
    },
  };
}

/** Nearest-rank percentile of `xs` (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
