import type { Actor } from './actor.js';

interface Entry {
  actor: Actor;
  expiresAt: Date | null;
  cachedUntil: number;
}

/**
 * A short-lived, per-process cache of API-key lookups: the hot path of every request otherwise
 * pays one extra database round trip. Revocation and membership changes made through this
 * process invalidate it at once; other processes see them within `ttlMs` (default 5 s).
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = 5_000,
    private readonly maxEntries = 10_000,
  ) {}

  get(hashHex: string, now: number): Entry | undefined {
    const e = this.entries.get(hashHex);
    if (!e) return undefined;
    if (e.cachedUntil <= now) {
      this.entries.delete(hashHex);
      return undefined;
    }
    return e;
  }

  set(hashHex: string, actor: Actor, expiresAt: Date | null, now: number): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Drop the oldest insertion (Map keeps insertion order).
      const first = this.entries.keys().next();
      if (!first.done) this.entries.delete(first.value);
    }
    this.entries.set(hashHex, { actor, expiresAt, cachedUntil: now + this.ttlMs });
  }

  /** After a key is revoked or changed. */
  deleteKey(keyId: string): void {
    for (const [h, e] of this.entries) if (e.actor.apiKeyId === keyId) this.entries.delete(h);
  }

  /** After a membership change of this user in this org (role change, removal). */
  deleteUser(orgId: string, userId: string): void {
    for (const [h, e] of this.entries) if (e.actor.orgId === orgId && e.actor.userId === userId) this.entries.delete(h);
  }

  clear(): void {
    this.entries.clear();
  }
}
