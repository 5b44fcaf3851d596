import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CoreDeps } from '../../core/deps.js';
import { AppError } from '../../core/errors.js';
import { runGit } from '../../core/git/git-exec.js';
import type { Actor } from '../../core/tenancy/actor.js';
import { authenticate } from '../../core/tenancy/authenticate.js';
import { bootstrapOwner, BootstrapInput } from '../../core/tenancy/bootstrap.js';

const FILE = 'local-owner.json';
const LOCK_STALE_MS = 60_000;

interface LocalOwnerFile {
  api_key: string;
  org_id: string;
  user_id: string;
  email: string;
}

/** The developer's email from git (what their commits say), else user@localhost.localdomain. */
async function localEmail(dir: string): Promise<string> {
  const fromGit = await runGit(['config', '--get', 'user.email'], { cwd: dir, timeoutMs: 5_000 }).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  const parsed = BootstrapInput.shape.email.safeParse(fromGit);
  if (parsed.success) return parsed.data;
  const user = os.userInfo().username.toLowerCase().replace(/[^a-z0-9._-]/g, '') || 'developer';
  return `${user}@localhost.localdomain`;
}

async function readOwner(file: string): Promise<LocalOwnerFile | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LocalOwnerFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** mkdir is atomic: the first process to create the lock directory bootstraps, the others wait. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, `${FILE}.lock`);
  for (let i = 0; ; i++) {
    try {
      await fs.mkdir(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = await fs.stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) await fs.rm(lock, { recursive: true, force: true });
      if (i > 600) throw new AppError('conflict', `another process holds ${lock}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

/**
 * Who `quorum mcp` acts as in local mode, with zero set-up: the local owner recorded in the data
 * directory (`local-owner.json`, 0600), created on first use by the same bootstrap as
 * `quorum bootstrap` (an org "Local" owned by the developer's git email). An API key given
 * explicitly (QUORUM_API_KEY) wins: then Quorum acts as that key's user in that key's org.
 */
export async function localActor(deps: CoreDeps, o: { apiKey?: string | undefined; cwd: string }): Promise<Actor> {
  if (o.apiKey) return authenticate(deps, { apiKey: o.apiKey });
  const dir = deps.config.dataDir;
  const file = path.join(dir, FILE);
  let owner = await readOwner(file);
  if (!owner) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    owner = await withLock(dir, async () => {
      const again = await readOwner(file);
      if (again) return again;
      const email = await localEmail(o.cwd);
      const r = await bootstrapOwner(deps, { email, org: 'Local', name: email.split('@')[0]! });
      const created: LocalOwnerFile = { api_key: r.api_key, org_id: r.org_id, user_id: r.user_id, email };
      const tmp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(created, null, 2) + '\n', { mode: 0o600 });
      await fs.rename(tmp, file);
      deps.logger.info({ org_id: r.org_id, user_id: r.user_id, email }, 'created the local owner for quorum mcp');
      return created;
    });
  }
  try {
    return await authenticate(deps, { apiKey: owner.api_key });
  } catch (e) {
    if (e instanceof AppError && e.code === 'unauthenticated') {
      throw new AppError('unauthenticated', `the local owner's key in ${file} is no longer valid (revoked, or the database was replaced); remove the file to create a new local owner`);
    }
    throw e;
  }
}
