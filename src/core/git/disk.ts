import fs from 'node:fs/promises';
import path from 'node:path';
import { worktreesRoot } from './paths.js';

/**
 * Disk usage of the worktree root, for the metric and for holding new reviews back when the
 * filesystem is nearly full. The walk is bounded: on a huge root it stops early and says so
 * (the filesystem fraction, which gates reviews, is exact and cheap either way).
 */

export const DEFAULT_DISK_THRESHOLD = 0.8;
export const DEFAULT_MAX_WALK_ENTRIES = 200_000;

export interface WorktreeDiskUsage {
  root: string;
  /** Bytes allocated on disk by files under the worktree root (like `du`), possibly partial. */
  bytesUsed: number;
  entries: number;
  /** The walk hit `maxEntries` before finishing: bytesUsed is a lower bound. */
  partial: boolean;
  /** Used fraction of the filesystem holding the data directory, as `df` computes it. */
  fsUsedFraction: number;
  fsTotalBytes: number;
  fsAvailableBytes: number;
}

interface FsStats {
  fsUsedFraction: number;
  fsTotalBytes: number;
  fsAvailableBytes: number;
}

async function filesystemStats(dataDir: string): Promise<FsStats> {
  // The worktree root may not exist yet; the data directory (or its parent) is on the same filesystem.
  let p = worktreesRoot(dataDir);
  for (;;) {
    try {
      const s = await fs.statfs(p);
      const used = (s.blocks - s.bfree) * s.bsize;
      const avail = s.bavail * s.bsize;
      // df's Use%: used / (used + available to unprivileged users); root-reserved blocks excluded.
      const denom = used + avail;
      return { fsUsedFraction: denom > 0 ? used / denom : 0, fsTotalBytes: s.blocks * s.bsize, fsAvailableBytes: avail };
    } catch (e) {
      const parent = path.dirname(p);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) throw e;
      p = parent;
    }
  }
}

export async function worktreeDiskUsage(dataDir: string, opts: { maxEntries?: number } = {}): Promise<WorktreeDiskUsage> {
  const root = worktreesRoot(dataDir);
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_WALK_ENTRIES;
  let bytesUsed = 0;
  let entries = 0;
  let partial = false;
  const stack = [root];
  walk: while (stack.length > 0) {
    const dir = stack.pop()!;
    const list = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of list) {
      if (entries >= maxEntries) {
        partial = true;
        break walk;
      }
      entries++;
      const p = path.join(dir, e.name);
      // lstat: symlinks count as themselves and are never followed out of the root.
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st) continue;
      bytesUsed += st.blocks * 512;
      if (st.isDirectory()) stack.push(p);
    }
  }
  return { root, bytesUsed, entries, partial, ...(await filesystemStats(dataDir)) };
}

/** Used fraction of the filesystem holding `dataDir`. */
export async function filesystemUsedFraction(dataDir: string): Promise<number> {
  return (await filesystemStats(dataDir)).fsUsedFraction;
}

export async function isDiskAboveThreshold(dataDir: string, threshold = DEFAULT_DISK_THRESHOLD): Promise<boolean> {
  return (await filesystemStats(dataDir)).fsUsedFraction > threshold;
}
