import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import pino from 'pino';
import { allRoutes } from '../../src/adapters/http/all-routes.js';
import { buildApp } from '../../src/adapters/http/app.js';
import { eventRoutes, type EventRoutesOptions } from '../../src/adapters/http/routes/events.routes.js';
import { loadConfig } from '../../src/config.js';
import type { CoreDeps } from '../../src/core/deps.js';
import type { EventType, PayloadOf } from '../../src/core/events/catalogue.js';
import { emitEvent } from '../../src/core/events/emit.js';
import { EventHub } from '../../src/core/events/listener.js';
import { bootstrapOwner, type BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { withTenant } from '../../src/db/client.js';
import { openRuntime, type Runtime } from '../../src/main/runtime.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/** One simulated process: its own runtime pool and its own EventHub (its own LISTEN connection). */
export interface Proc {
  rt: Runtime;
  hub: EventHub;
  deps: CoreDeps;
}

export interface Cluster {
  db: TestDatabase;
  admin: pg.Pool;
  procs: Proc[];
  close(): Promise<void>;
}

/** `n` processes on ONE database, as API and worker processes share one PostgreSQL. */
export async function createCluster(n: number): Promise<Cluster> {
  const db = await createTestDatabase();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-events-'));
  const masterKey = randomBytes(32).toString('base64');
  const procs: Proc[] = [];
  for (let i = 0; i < n; i++) {
    const config = loadConfig(
      {},
      { DATABASE_URL: db.adminUrl, QUORUM_DATA_DIR: dataDir, QUORUM_MASTER_KEY: masterKey, QUORUM_LOG_LEVEL: 'silent', QUORUM_DB_POOL_SIZE: '6' },
    );
    const logger = pino({ level: 'silent' });
    const rt = await openRuntime(config, { logger, migrate: false, applicationName: `quorum-test-${i}` });
    // Its own hub besides the runtime's: a reconnect backoff starting at 200 ms leaves test (f) a
    // window in which nobody listens.
    const hub = new EventHub({ db: rt.deps.db, logger, role: config.database.appRole, applicationName: `quorum-events-${i}`, backoffMinMs: 200 });
    await hub.start(rt.appConnection);
    procs.push({ rt, hub, deps: { ...rt.deps, events: hub } });
  }
  const admin = new pg.Pool({ connectionString: db.adminUrl, max: 2 });
  return {
    db,
    admin,
    procs,
    close: async () => {
      for (const p of procs) {
        await p.hub.stop();
        await p.rt.close();
      }
      await admin.end();
      await db.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function buildEventsApp(p: Proc, opts: EventRoutesOptions = {}): Promise<{ app: FastifyInstance; base: string }> {
  const others = allRoutes.filter((r) => (r as unknown) !== eventRoutes);
  const app = await buildApp(p.deps, { version: 'test', extraRoutes: [...others, (a, d) => eventRoutes(a, d, p.hub, opts)] });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: address };
}

export interface ReviewFixture {
  owner: BootstrapResult;
  projectId: string;
  reviewId: string;
}

/** An org, a project (through the API) and a review row (through the owner pool: the review routes are another capability). */
export async function setupReview(p: Proc, app: FastifyInstance, admin: pg.Pool, email: string): Promise<ReviewFixture> {
  const owner = await bootstrapOwner(p.deps, { email, org: `Org ${email}` });
  const res = await app.inject({ method: 'POST', url: '/v1/projects', headers: { 'x-api-key': owner.api_key }, payload: { slug: 'web' } });
  if (res.statusCode !== 201) throw new Error(`project: ${res.statusCode} ${res.body}`);
  const projectId = res.json<{ id: string }>().id;
  const review = await newReview(admin, owner, projectId);
  return { owner, projectId, reviewId: review };
}

export async function newReview(admin: pg.Pool, owner: BootstrapResult, projectId: string): Promise<string> {
  const { rows } = await admin.query<{ id: string }>(
    `insert into reviews (org_id, project_id, task_id, developer_id, target, panel) values ($1, $2, 'test', $3, '{"kind":"diff","diff":""}', '[]') returning id`,
    [owner.org_id, projectId, owner.user_id],
  );
  return rows[0]!.id;
}

/** Emits one event in its own committed transaction; returns its id and when the commit was acknowledged. */
export async function emit<T extends EventType>(
  p: Proc,
  f: ReviewFixture,
  type: T,
  payload: PayloadOf<T>,
  correlationId = 'corr-test',
): Promise<{ id: string; committedAt: number }> {
  const r = await withTenant(p.deps.db, f.owner.org_id, (tx) =>
    emitEvent(tx, { orgId: f.owner.org_id, correlationId }, { type, payload, projectId: f.projectId, reviewId: f.reviewId }),
  );
  return { id: r.id, committedAt: performance.now() };
}

export interface SseEvent {
  id: string;
  event: string;
  data: { id: string; type: string; payload: Record<string, unknown>; [k: string]: unknown };
  at: number;
}

/**
 * A real streaming SSE client over node:http (one dedicated socket, no pooling: fetch's pool opens
 * a spare connection after an abort, which then holds server shutdown for a minute). Parses frames
 * as they arrive and records when.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders | undefined;
  ended = false;
  private waiters: Array<() => void> = [];
  private req: http.ClientRequest | undefined;
  readonly finished: Promise<void>;

  constructor(url: string, headers: Record<string, string>) {
    this.finished = new Promise<void>((resolve) => {
      const finish = () => {
        this.ended = true;
        this.notify();
        resolve();
      };
      this.req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        this.notify();
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            this.frame(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          this.notify();
        });
        res.on('close', finish);
      });
      this.req.on('error', finish);
    });
  }

  private frame(text: string): void {
    const f: Partial<SseEvent> & { data?: SseEvent['data'] } = {};
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) f.id = line.slice(4);
      else if (line.startsWith('event: ')) f.event = line.slice(7);
      else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6)) as SseEvent['data'];
    }
    if (f.data) this.events.push({ id: f.id!, event: f.event!, data: f.data, at: performance.now() });
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Resolves when the condition holds; rejects if the stream ends first without it. */
  async until(cond: (c: SseClient) => boolean, what = 'condition'): Promise<void> {
    while (!cond(this)) {
      if (this.ended) throw new Error(`SSE stream ended before ${what} (got ${this.events.length} events, status ${this.status})`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  count(n: number): Promise<void> {
    return this.until((c) => c.events.length >= n, `${n} events`);
  }

  close(): void {
    this.req?.destroy();
  }
}
