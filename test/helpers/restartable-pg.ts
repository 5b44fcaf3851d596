import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedHandle } from '../../src/db/embedded.js';
import { withDatabase } from './global-setup.js';
import type { TestDatabase } from './db.js';

/**
 * A PostgreSQL server of the test's own (the embedded binaries, in a temp dir, on a fixed port) that
 * the test may stop, restart or crash: the machine's shared server is never touched. Databases made
 * here are empty; the Quorum processes migrate them at start, as in production.
 */
export class RestartablePg {
  private constructor(
    private handle: EmbeddedHandle | undefined,
    readonly dataDir: string,
    readonly port: number,
    /** Superuser URL of the `postgres` database. */
    readonly url: string,
  ) {}

  static async start(): Promise<RestartablePg> {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-restartable-pg-'));
    const handle = await startEmbeddedPostgres({ dataDir });
    return new RestartablePg(handle, dataDir, handle.port, handle.url);
  }

  get running(): boolean {
    return this.handle !== undefined;
  }

  async createDatabase(): Promise<TestDatabase> {
    const name = `quorum_r_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: this.url });
    await c.connect();
    await c.query(`create database ${name}`);
    await c.end();
    return {
      name,
      adminUrl: withDatabase(this.url, name),
      drop: async () => {
        if (!this.running) return;
        const d = new pg.Client({ connectionString: this.url });
        d.on('error', () => {});
        await d.connect();
        await d.query(`drop database if exists ${name} with (force)`).catch(() => {});
        await d.end();
      },
    };
  }

  /** Fast shutdown (open transactions rolled back, every session terminated). */
  async stop(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.stop();
  }

  async start(): Promise<void> {
    if (this.handle) return;
    this.handle = await startEmbeddedPostgres({ dataDir: this.dataDir, port: this.port });
  }

  /** Stops, stays down for `downMs`, starts again on the same port. Returns how long it was unreachable. */
  async restart(downMs = 0): Promise<number> {
    const t0 = Date.now();
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
    return Date.now() - t0;
  }

  async close(): Promise<void> {
    await this.stop();
    await fs.rm(this.dataDir, { recursive: true, force: true });
  }
}
