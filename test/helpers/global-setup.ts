import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedHandle } from '../../src/db/embedded.js';
import { loadMigrations, migrate } from '../../src/db/migrate.js';

/**
 * One PostgreSQL for the run: QUORUM_TEST_DATABASE_URL (a superuser URL on an external server) or
 * an embedded cluster in a temp dir. A template database is migrated once; each test file clones
 * it (CREATE DATABASE … TEMPLATE), so files run in parallel on isolated databases.
 */
let embedded: EmbeddedHandle | undefined;
let tmp: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  let baseUrl = process.env.QUORUM_TEST_DATABASE_URL;
  if (!baseUrl) {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-test-pg-'));
    embedded = await startEmbeddedPostgres({ dataDir: tmp });
    baseUrl = embedded.url;
  }
  const digest = createHash('sha256')
    .update(loadMigrations().map((m) => m.checksum).join(','))
    .digest('hex')
    .slice(0, 10);
  const template = `quorum_tpl_${digest}_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template}`);
  await admin.query(`create database ${template}`);
  await admin.end();
  await migrate(withDatabase(baseUrl, template), 'quorum_app');
  project.provide('pgBaseUrl', baseUrl);
  project.provide('pgTemplate', template);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = '/' + db;
  return u.toString();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgBaseUrl: string;
    pgTemplate: string;
  }
}
