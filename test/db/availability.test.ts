import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classifyDbFault } from '../../src/db/availability.js';

/** What node-postgres throws when no server is there, as the API classifies it (503 database_unavailable). */
describe('classifyDbFault on real connection failures', () => {
  const failure = async (config: pg.ClientConfig) => {
    const c = new pg.Client({ ...config, user: 'nobody', database: 'none', connectionTimeoutMillis: 2_000 });
    return c.connect().then(
      () => {
        throw new Error('connected');
      },
      (e: unknown) => e,
    );
  };

  it('a Unix socket directory with no server in it (a stopped embedded cluster removes its socket)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-nosock-'));
    try {
      const e = await failure({ host: dir, port: 5999 });
      expect((e as { code?: string }).code).toBe('ENOENT');
      expect(classifyDbFault(e)).toBe('database_unavailable');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('a TCP port nobody listens on', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const e = await failure({ host: '127.0.0.1', port: free });
    expect((e as { code?: string }).code).toBe('ECONNREFUSED');
    expect(classifyDbFault(e)).toBe('database_unavailable');
  });

  it('a missing file elsewhere is no database fault', () => {
    expect(classifyDbFault(Object.assign(new Error('ENOENT: no such file or directory, open x'), { code: 'ENOENT', syscall: 'open' }))).toBeNull();
  });
});
