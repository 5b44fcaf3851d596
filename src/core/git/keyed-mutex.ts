/**
 * Serializes async work per key (one mirror, one project). Waiters run in arrival order; a
 * key's entry is dropped when its queue drains, so the map holds only keys in use.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with work queued or running (tests, diagnostics). */
  get size(): number {
    return this.tails.size;
  }
}

/**
 * The locks guarding git repositories on this machine's disk. They are process-wide on purpose:
 * what they protect (a mirror's files) is shared by every CoreDeps instance in the process (an
 * API and a worker in one process, parallel tests), so a per-deps lock would not exclude them.
 * Other processes are excluded by git's own lock files plus retry (see git-exec.ts).
 */
export const repoLocks = new KeyedMutex();

/**
 * Coalesces an idempotent operation per key (fetching a mirror): a caller gets a run that
 * started after it asked. While one run is in flight, every new caller shares one queued run,
 * so 100 concurrent reviews of a project cause at most two fetches, not 100.
 */
export class Coalescer {
  private readonly state = new Map<string, { running: Promise<void>; queued?: Promise<void> }>();

  run(key: string, op: () => Promise<void>): Promise<void> {
    const s = this.state.get(key);
    if (!s) return this.start(key, op);
    if (!s.queued) {
      const queued = s.running.catch(() => {}).then(() => this.start(key, op));
      s.queued = queued;
    }
    return s.queued;
  }

  private start(key: string, op: () => Promise<void>): Promise<void> {
    const running = op().finally(() => {
      const s = this.state.get(key);
      if (s && s.running === running) {
        if (s.queued) this.state.set(key, { running: s.queued });
        else this.state.delete(key);
      }
    });
    this.state.set(key, { running });
    return running;
  }
}

/** Process-wide for the same reason as repoLocks. */
export const fetchCoalescer = new Coalescer();
