import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, freePort, runCli, type Proc } from '../helpers/process.js';

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
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-e2e-'));
    port = await freePort();
  });
  const env = () => ({ QUORUM_DATA_DIR: dataDir, PORT: String(port), QUORUM_LOG_LEVEL: 'info', DATABASE_URL: '' });
  async function start(opts: { detached?: boolean; worker?: boolean } = {}): Promise<Proc> {
    const p = runCli(['serve', ...(opts.worker ? [] : ['--no-worker'])], env(), { detached: opts.detached ?? false });
    procs.push(p);
    await p.waitFor(/"msg":"quorum ready"/, 60_000);
    return p;
  }
  const get = async (p: string, key?: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${p}`, { headers: key ? { 'x-api-key': key } : {} });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('cold start from an empty dir, first-run banner, restart keeps data, kill -9 recovery under 5 s', { timeout: 240_000 }, async () => {

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

    // The adopted postmaster dies (kill -9, the OOM killer): the server starts it again.
    const restarted = await killPostmasterAndWaitForRestart(third, creds.api_key);
    console.log(`adopted cluster restarted after kill -9 in ${restarted} ms`);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(livePostmasterPid()).toBeUndefined();
  });

  it('Ctrl-C reaches the server only: its graceful stop still has the database, then stops it; a killed postmaster is restarted', { timeout: 120_000 }, async () => {
    // A server (with workers, whose shutdown writes to the database) in a process group of its own, as in a terminal.
    const srv = await start({ detached: true, worker: true });
    const pm = livePostmasterPid()!;
    expect(pm).toBeDefined();
    // The postmaster is in a session of its own: the terminal's signals do not reach it.
    expect(processGroupOf(pm)).not.toBe(processGroupOf(srv.child.pid!));
    // A second server on the same port says so (and leaves the first one's database alone).
    const second = await cli(['serve', '--no-worker'], env());
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/127\.0\.0\.1:\d+ is already in use \(another Quorum, or another service\): stop it, or choose another port with PORT/);
    expect(livePostmasterPid()).toBe(pm);
    const boot = await cli(['bootstrap', '--email', 'ctrl-c@example.com', '--org', 'CtrlC', '--json'], env());
    const key = (JSON.parse(boot.stdout) as { api_key: string }).api_key;

    // A postmaster this server started dies: restarted (from its exit, at once).
    const restarted = await killPostmasterAndWaitForRestart(srv, key);
    console.log(`own cluster restarted after kill -9 in ${restarted} ms`);
    // Shut down from outside (SIGTERM: "smart", which would wait for the server's sessions forever): hurried and restarted.
    const afterTerm = await killPostmasterAndWaitForRestart(srv, key, 'SIGTERM');
    expect(srv.output()).toMatch(/being shut down from outside while Quorum runs/);
    console.log(`own cluster restarted after SIGTERM in ${afterTerm} ms`);

    const before = srv.output().length;
    process.kill(-srv.child.pid!, 'SIGINT'); // Ctrl-C: SIGINT to the foreground process group
    expect(await srv.exited).toBe(0);
    const out = srv.output().slice(before);
    expect(out).toContain('shutdown complete');
    // Before, the postmaster got the SIGINT too and shut down at once, under the graceful stop.
    expect(out).not.toContain('terminating connection due to administrator command');
    expect(out).not.toMatch(/"level":50/);
    expect(livePostmasterPid()).toBeUndefined();
  });

  it('a process without signal handling of its own (a CLI command) stops the cluster it started on Ctrl-C, then exits 130', { timeout: 60_000 }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-e2e-sig-'));
    try {
      const script = `
        const { startEmbeddedPostgres } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/db/embedded.js')).href)});
        const h = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dir)} });
        console.log('ready');
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      for (const t = Date.now(); !out.includes('ready'); await new Promise((r) => setTimeout(r, 50))) {
        if (Date.now() - t > 45_000 || child.exitCode !== null) throw new Error(`not ready: ${out}`);
      }
      const pm = Number(readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(() => process.kill(pm, 0)).not.toThrow();
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      // Stopped, not left running in the background (it is in a session of its own: the signal did not reach it).
      expect(isRunning(pm)).toBe(false);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  /** Signals the running postmaster; returns how long until the API answers from the database again. */
  async function killPostmasterAndWaitForRestart(p: Proc, key: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    const before = livePostmasterPid()!;
    const seen = p.output().length;
    // The server's log since the signal.
    const next = async (re: RegExp) => {
      for (const t = Date.now(); !re.test(p.output().slice(seen)); await new Promise((r) => setTimeout(r, 50))) {
        if (Date.now() - t > 60_000) throw new Error(`no ${re} in the log after ${signal}:\n${p.output().slice(seen).slice(-3000)}`);
      }
    };
    process.kill(before, signal);
    const t0 = Date.now();
    await next(/embedded PostgreSQL exited unexpectedly; restarting it/);
    await next(/embedded PostgreSQL restarted/);
    for (;;) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/projects`, { headers: { 'x-api-key': key } }).catch(() => null);
      if (r?.status === 200) break;
      if (Date.now() - t0 > 60_000) throw new Error(`API not back after the postmaster restart; last status ${r?.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = livePostmasterPid();
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    return Date.now() - t0;
  }

  function livePostmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }
});

/** Alive and not a zombie (an exited process its parent has not reaped yet). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The process group id (field 5 of /proc/<pid>/stat, after the parenthesised command). */
function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}
