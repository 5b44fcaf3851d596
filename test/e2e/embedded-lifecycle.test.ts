import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, freePort, runCli, type Proc } from '../helpers/process.js';

/**
 * The zero-set-up path with the real binary: empty data dir → ready; restart reuses the data;
 * after kill -9 (which leaves the embedded postgres running) a new start is ready in < 5 s.
 */
describe('embedded PostgreSQL lifecycle (real processes)', () => {
  const procs: Proc[] = [];
  let dataDir: string;
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    // Any postgres left by a killed server is stopped by a final clean start/stop.
    if (dataDir) {
      const p = await start();
      p.child.kill('SIGTERM');
      await p.exited;
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  let port = 0;
  const env = () => ({ QUORUM_DATA_DIR: dataDir, PORT: String(port), QUORUM_LOG_LEVEL: 'info', DATABASE_URL: '' });
  async function start(): Promise<Proc> {
    const p = runCli(['serve', '--no-worker'], env());
    procs.push(p);
    await p.waitFor(/"msg":"quorum ready"/, 60_000);
    return p;
  }
  const get = async (p: string, key?: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${p}`, { headers: key ? { 'x-api-key': key } : {} });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('cold start from an empty dir, first-run banner, restart keeps data, kill -9 recovery under 5 s', { timeout: 240_000 }, async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-e2e-'));
    port = await freePort();

    const t0 = Date.now();
    const first = await start();
    const cold = Date.now() - t0;
    expect((await get('/readyz')).status).toBe(200);
    expect(first.output()).toContain('quorum bootstrap --email');

    // Bootstrap while the server runs: the CLI shares the same embedded cluster.
    const boot = await cli(['bootstrap', '--email', 'owner@example.com', '--org', 'Acme', '--json'], env());
    expect(boot.code, boot.stderr).toBe(0);
    const creds = JSON.parse(boot.stdout) as { org_id: string; user_id: string; api_key: string };
    expect(creds.api_key).toMatch(/^qk_/);
    const created = await fetch(`http://127.0.0.1:${port}/v1/projects`, {
      method: 'POST',
      headers: { 'x-api-key': creds.api_key, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'web' }),
    });
    expect(created.status).toBe(201);

    // Graceful restart: data reused.
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const t1 = Date.now();
    const second = await start();
    const warm = Date.now() - t1;
    expect(second.output()).not.toContain('quorum bootstrap --email');
    expect((await get('/v1/projects/web', creds.api_key)).status).toBe(200);

    // kill -9: the embedded postgres survives its parent; the next start must handle it.
    second.child.kill('SIGKILL');
    await second.exited;
    const t2 = Date.now();
    const third = await start();
    const afterKill = Date.now() - t2;
    expect(afterKill).toBeLessThan(5_000);
    expect(third.output()).toMatch(/orphaned embedded PostgreSQL.*adopting/);
    expect((await get('/v1/projects/web', creds.api_key)).body.slug).toBe('web');
    console.log(`embedded start: cold ${cold} ms, warm ${warm} ms, after kill -9 ${afterKill} ms`);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  });
});
