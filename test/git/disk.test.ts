import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDiskAboveThreshold, worktreeDiskUsage } from '../../src/core/git/disk.js';
import { tempDir } from './git-fixture.js';

describe('worktree disk usage', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await tempDir('disk');
  });
  afterAll(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('reports filesystem usage even before any worktree exists', async () => {
    const u = await worktreeDiskUsage(dataDir);
    expect(u).toMatchObject({ root: path.join(dataDir, 'worktrees'), bytesUsed: 0, entries: 0, partial: false });
    expect(u.fsUsedFraction).toBeGreaterThan(0);
    expect(u.fsUsedFraction).toBeLessThan(1);
    expect(u.fsTotalBytes).toBeGreaterThan(u.fsAvailableBytes);
  });

  it('counts allocated bytes under the worktree root, does not follow symlinks out of it, and bounds the walk', async () => {
    const dir = path.join(dataDir, 'worktrees', randomUUID(), randomUUID(), 't-1');
    await fs.mkdir(path.join(dir, 'src'), { recursive: true });
    await fs.writeFile(path.join(dir, 'src', 'big.bin'), Buffer.alloc(1024 * 1024, 1));
    await fs.writeFile(path.join(dir, 'small.txt'), 'x');
    // A link to a large directory elsewhere must not be counted.
    const outside = path.join(dataDir, 'outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'huge.bin'), Buffer.alloc(4 * 1024 * 1024, 1));
    await fs.symlink(outside, path.join(dir, 'link'));

    const u = await worktreeDiskUsage(dataDir);
    expect(u.partial).toBe(false);
    expect(u.entries).toBe(7); // org, project, t-1, src, big.bin, small.txt, link
    expect(u.bytesUsed).toBeGreaterThanOrEqual(1024 * 1024);
    expect(u.bytesUsed).toBeLessThan(2 * 1024 * 1024);

    const bounded = await worktreeDiskUsage(dataDir, { maxEntries: 3 });
    expect(bounded).toMatchObject({ partial: true, entries: 3 });
  });

  it('compares the filesystem fraction with a threshold', async () => {
    const { fsUsedFraction } = await worktreeDiskUsage(dataDir);
    expect(await isDiskAboveThreshold(dataDir, 0)).toBe(fsUsedFraction > 0);
    expect(await isDiskAboveThreshold(dataDir, 1)).toBe(false);
    expect(await isDiskAboveThreshold(dataDir, Math.max(0, fsUsedFraction - 0.01))).toBe(true);
    expect(await isDiskAboveThreshold(dataDir, Math.min(1, fsUsedFraction + 0.01))).toBe(false);
  });
});
