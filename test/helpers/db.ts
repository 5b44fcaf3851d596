import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { openRuntime, type Runtime } from '../../src/main/runtime.js';
import { withDatabase } from './global-setup.js';

export interface TestDatabase {
  name: string;
  /** Superuser/owner URL of this test's database. */
  adminUrl: string;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = inject('pgBaseUrl');
  const template = inject('pgTemplate');
  const name = `quorum_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  // CREATE DATABASE … TEMPLATE fails while another session is connected to the template; retry.
  for (let i = 0; ; i++) {
    try {
      await admin.query(`create database ${name} template ${template}`);
      break;
    } catch (e) {
      if (i > 50 || (e as { code?: string }).code !== '55006') throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await admin.end();
  const adminUrl = withDatabase(base, name);
  return {
    name,
    adminUrl,
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`).catch(() => {});
      await c.end();
    },
  };
}

export interface TestRuntime extends Runtime {
  db: TestDatabase;
  config: Config;
  dataDir: string;
  /** Owner-level client for assertions on rows (bypasses RLS: tests only). */
  admin: pg.Pool;
}

export async function createTestRuntime(env: Record<string, string> = {}): Promise<TestRuntime> {
  const db = await createTestDatabase();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-test-data-'));
  const config = loadConfig(
    {},
    {
      DATABASE_URL: db.adminUrl,
      QUORUM_DATA_DIR: dataDir,
      QUORUM_MASTER_KEY: randomBytes(32).toString('base64'),
      QUORUM_LOG_LEVEL: 'silent',
      QUORUM_SIGNUP: 'open',
      QUORUM_DB_POOL_SIZE: '5',
      ...env,
    },
  );
  const rt = await openRuntime(config, { logger: pino({ level: process.env.QUORUM_TEST_LOG_LEVEL ?? 'silent' }), migrate: false });
  const admin = new pg.Pool({ connectionString: db.adminUrl, max: 2 });
  admin.on('error', () => {});
  return {
    ...rt,
    db,
    config,
    dataDir,
    admin,
    close: async () => {
      await rt.close();
      await admin.end();
      await db.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
