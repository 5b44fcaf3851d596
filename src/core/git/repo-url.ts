import path from 'node:path';
import { AppError } from '../errors.js';

/**
 * Repository URLs a project may register. Git accepts many transports, some of which run
 * commands (`ext::`) or talk unauthenticated protocols; we allow exactly: an absolute local path,
 * `file://`, `https://`, `ssh://` and the scp-like `user@host:path`.
 *
 * A local path or file:// URL must not point into Quorum's own data directory: that is where
 * every org's mirrors live, and cloning one would read another tenant's code.
 */
export type RepoUrlKind = 'path' | 'file' | 'https' | 'ssh' | 'scp';

const MAX_URL_LENGTH = 2048;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const SCP_RE = /^([A-Za-z0-9._-]+)@([A-Za-z0-9][A-Za-z0-9.-]*):(.+)$/;

function invalid(message: string): AppError {
  return new AppError('validation_failed', `invalid repo_url: ${message}`, { field: 'repo_url' });
}

export interface ValidRepoUrl {
  url: string;
  kind: RepoUrlKind;
  /** For path/file kinds: the absolute local path. */
  localPath?: string;
}

/** Where repositories may be read from: never the data directory; local ones only under `localRoots` (null: anywhere). */
export interface RepoPolicy {
  dataDir: string;
  localRoots?: readonly string[] | null | undefined;
}

export function validateRepoUrl(url: unknown, opts: RepoPolicy): ValidRepoUrl {
  if (typeof url !== 'string' || url.length === 0) throw invalid('must be a non-empty string');
  if (url.length > MAX_URL_LENGTH) throw invalid(`longer than ${MAX_URL_LENGTH} characters`);
  if (CONTROL.test(url)) throw invalid('contains control characters');
  if (url.startsWith('-')) throw invalid("must not start with '-'");

  if (url.startsWith('/')) return local(url, 'path', opts);

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    let p: string;
    try {
      const u = new URL(url);
      if (u.host !== '') throw invalid('file:// URLs must not name a host');
      p = decodeURIComponent(u.pathname);
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw invalid('malformed file:// URL');
    }
    return local(p, 'file', opts, url);
  }
  if (scheme === 'https' || scheme === 'ssh') {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw invalid(`malformed ${scheme}:// URL`);
    }
    if (!u.hostname || u.hostname.startsWith('-')) throw invalid('missing or invalid host');
    if (u.password) throw invalid('must not embed a password or token; configure git credentials on the server instead');
    if (u.username.startsWith('-')) throw invalid('invalid user name');
    return { url, kind: scheme };
  }
  if (scheme !== undefined || url.includes('::')) throw invalid(`transport ${JSON.stringify(scheme ?? url.split('::')[0])} is not allowed (use https://, ssh://, user@host:path, file:// or an absolute path)`);

  const m = SCP_RE.exec(url);
  if (m) {
    const rest = m[3]!;
    if (rest.startsWith('-')) throw invalid("the path must not start with '-'");
    return { url, kind: 'scp' };
  }
  throw invalid('expected https://, ssh://, user@host:path, file:// or an absolute path');
}

function local(p: string, kind: 'path' | 'file', policy: RepoPolicy, url = p): ValidRepoUrl {
  if (!path.isAbsolute(p)) throw invalid('a local repository must be an absolute path');
  const resolved = path.resolve(p);
  if (isInside(path.resolve(policy.dataDir), resolved)) throw invalid("must not point into Quorum's data directory");
  assertLocalAllowed(resolved, policy.localRoots);
  return { url, kind, localPath: resolved };
}

/** A local repository path against the installation's QUORUM_LOCAL_REPO_ROOTS. */
export function assertLocalAllowed(resolved: string, roots: readonly string[] | null | undefined): void {
  if (roots == null || roots.some((r) => isInside(r, resolved))) return;
  throw invalid(
    roots.length === 0
      ? 'local repositories are disabled on this server (QUORUM_LOCAL_REPO_ROOTS=none); use an https:// or ssh:// URL'
      : 'a local repository must be under a directory this server allows (QUORUM_LOCAL_REPO_ROOTS)',
  );
}

/** True when `child` is `parent` or below it (lexically; callers resolve symlinks where it matters). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
