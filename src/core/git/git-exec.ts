import { spawn } from 'node:child_process';

/**
 * Every git invocation goes through here: an argument vector (never a shell), a sanitized
 * environment, and configuration overrides that neutralise whatever the host's git config says
 * about hooks, signing, external diff drivers and dangerous transports.
 */

/** Transports git may use at all (GIT_ALLOW_PROTOCOL): `ext::` and friends can run commands. */
const ALLOWED_PROTOCOLS = 'file:https:ssh';

/** `-c` overrides on every call. Hooks and fsmonitor would run programs chosen by the host config. */
const SAFE_CONFIG = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'protocol.ext.allow=never',
  'diff.noprefix=false',
  'diff.mnemonicPrefix=false',
  'diff.relative=false',
  'color.ui=false',
  'advice.detachedHead=false',
  // A background auto-gc would contend for the locks of concurrent worktree operations.
  'gc.autoDetach=false',
];

/** Inherited variables that would redirect git away from the repository we name explicitly. */
const KEEP_GIT_VARS = new Set(['GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_SSH_VARIANT', 'GIT_EXEC_PATH']);

/**
 * The child's environment: the parent's (PATH, HOME, SSH agent — what any child process
 * inherits by default; this is pass-through, not configuration), minus GIT_* variables such as
 * GIT_DIR or GIT_INDEX_FILE that would retarget git, plus our fixed settings and `extra`
 * (e.g. a developer's GIT_AUTHOR_*: per process, never written to any git config).
 */
function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Not configuration (nothing here is read or interpreted): the environment a child inherits by
  // default, filtered. Exception to house rule 2 pending a config-provided base env (see report).
  // eslint-disable-next-line no-restricted-syntax
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('GIT_') && !KEEP_GIT_VARS.has(k)) continue;
    env[k] = v;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_ALLOW_PROTOCOL = ALLOWED_PROTOCOLS;
  // English messages: lock-contention detection below matches git's wording.
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  return { ...env, ...extra };
}

export interface GitRunOptions {
  /** Working directory (a worktree). Mirror operations pass `--git-dir=` in args instead. */
  cwd?: string | undefined;
  env?: Record<string, string> | undefined;
  input?: string | Buffer | undefined;
  timeoutMs?: number | undefined;
  /** Cap on stdout. Exceeding it fails the call unless `allowTruncation`, which kills git and returns what was read. */
  maxOutputBytes?: number | undefined;
  allowTruncation?: boolean | undefined;
}

export interface GitResult {
  stdout: string;
  stderr: string;
  truncated: boolean;
}

export class GitError extends Error {
  constructor(
    message: string,
    public readonly args: readonly string[],
    public readonly exitCode: number | null,
    public readonly stderr: string,
  ) {
    super(message);
    this.name = 'GitError';
  }
}

const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
const MAX_STDERR = 64 * 1024;

export function runGit(args: readonly string[], o: GitRunOptions = {}): Promise<GitResult> {
  const fullArgs = [...SAFE_CONFIG.flatMap((c) => ['-c', c]), ...args];
  const maxOut = o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise<GitResult>((resolve, reject) => {
    const child = spawn('git', fullArgs, {
      cwd: o.cwd,
      env: childEnv(o.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let truncated = false;
    let overflow = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);

    child.stdout.on('data', (d: Buffer) => {
      if (truncated || overflow) return;
      if (outBytes + d.length > maxOut) {
        out.push(d.subarray(0, maxOut - outBytes));
        outBytes = maxOut;
        if (o.allowTruncation) truncated = true;
        else overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(d);
      outBytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += d.toString('utf8');
    });
    // git may exit before reading all of stdin (e.g. a rejected patch): not an error of ours.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GitError(`could not run git: ${e.message}`, args, null, ''));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      if (truncated) return resolve({ stdout, stderr, truncated: true });
      if (timedOut) return reject(new GitError(`git ${args[0] ?? ''} timed out`, args, code, stderr));
      if (overflow) return reject(new GitError(`git ${args[0] ?? ''} output exceeded ${maxOut} bytes`, args, code, stderr));
      if (code !== 0) return reject(new GitError(firstLines(stderr) || `git ${args[0] ?? ''} exited with ${code}`, args, code, stderr));
      resolve({ stdout, stderr, truncated: false });
    });
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
  });
}

function firstLines(s: string, n = 5): string {
  return s.trim().split('\n').slice(0, n).join('\n');
}

/**
 * Another process (or a concurrent git in this one) holds a lock git needs. Git's locks are
 * create-exclusive files; the holder releases them in milliseconds, so retrying is correct.
 */
export function isLockContention(e: unknown): boolean {
  if (!(e instanceof GitError)) return false;
  return /\.lock'?: File exists|Unable to create '[^']*\.lock'|Another git process seems to be running|unable to lock|is at [0-9a-f]+ but expected|could not write config file|cannot lock ref '[^']*': Unable to create/i.test(
    e.stderr,
  ) || WORKTREE_IN_FLUX.test(e.stderr);
}

/**
 * A worktree of the mirror is being added or removed by another process: `git worktree add` is
 * midway (worktrees/<id>/commondir exists but is still empty — commands listing the mirror's
 * worktrees die: "failed to read …: Success" — or the new HEAD still holds git's placeholder null
 * id: a fetch's connectivity check, which walks every worktree's HEAD, dies: "bad object
 * worktrees/<id>/HEAD"), or `git worktree remove` deleted worktrees/<id> while a fetch listed it
 * ("Invalid path '…/worktrees/<id>': No such file or directory"). The writer finishes in
 * milliseconds: transient, like a lock.
 */
const WORKTREE_IN_FLUX =
  /failed to read [^\n]*\/worktrees\/[^/\n]+\/(?:commondir|gitdir)\b|bad object worktrees\/[^/\s]+\/HEAD\b|Invalid path '[^'\n]*\/worktrees\/[^'/\n]+': No such file or directory/;

export interface RetryOptions {
  attempts?: number;
  /** Observes each retry (logging; tests remove a simulated foreign lock here). */
  onRetry?: ((attempt: number, e: GitError) => void | Promise<void>) | undefined;
}

export async function retryOnLock<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 25;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !isLockContention(e)) throw e;
      await o.onRetry?.(i, e as GitError);
      // Jittered backoff so contending processes do not retry in lockstep.
      const delay = Math.min(500, 10 * 2 ** Math.min(i, 6)) * (0.5 + Math.random());
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Git output for users: absolute server paths (data dir, worktree, temp dirs) replaced. */
export function scrubPaths(message: string, knownRoots: readonly string[]): string {
  let m = message;
  for (const root of [...knownRoots].filter(Boolean).sort((a, b) => b.length - a.length)) {
    m = m.split(root).join('<repo>');
  }
  // Anything else that still looks like an absolute multi-segment path.
  return m.replace(/(^|[\s'"(=])\/(?:[^\s'":/]+\/)+[^\s'":]*/gm, '$1<path>');
}
