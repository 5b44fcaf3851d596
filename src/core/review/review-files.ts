import { randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Where a project's files live under the data directory. Directories use ids (stable across
 * renames, never colliding between orgs); file names use the project slug for people.
 */
export function projectReportsDir(dataDir: string, orgId: string, projectId: string): string {
  return path.join(dataDir, 'reports', orgId, projectId);
}

export function latestReportPath(dataDir: string, orgId: string, projectId: string, projectSlug: string, taskId: string): string {
  return path.join(projectReportsDir(dataDir, orgId, projectId), `REVIEW-${projectSlug}-${taskId}.md`);
}

export function reviewReportPath(dataDir: string, orgId: string, projectId: string, reviewId: string, ext: 'md' | 'json' | 'sarif'): string {
  return path.join(projectReportsDir(dataDir, orgId, projectId), 'reviews', `${reviewId}.${ext === 'sarif' ? 'sarif.json' : ext}`);
}

export function knowledgePath(dataDir: string, orgId: string, projectId: string): string {
  return path.join(projectReportsDir(dataDir, orgId, projectId), 'KNOWLEDGE.md');
}

/** Directories this process made (or found) for files: a write into one of them skips the mkdir. */
const madeDirs = new Set<string>();

/**
 * Readers see the old file or the new one, never a torn write: temp file in the same dir + rename.
 * The directory is made when it is missing (the first write into it, or after it was removed).
 * Content is text, bytes, or bytes in pieces (written with one writev, not joined first).
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array | readonly Buffer[]): Promise<void> {
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    if (!madeDirs.has(dir)) {
      await fs.mkdir(dir, { recursive: true });
      madeDirs.add(dir);
    }
    try {
      await writeNew(tmp, content);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await fs.mkdir(dir, { recursive: true });
      await writeNew(tmp, content);
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

async function writeNew(file: string, content: string | Uint8Array | readonly Buffer[]): Promise<void> {
  if (typeof content === 'string' || content instanceof Uint8Array) return fs.writeFile(file, content, { mode: 0o640 });
  const fh = await fs.open(file, 'w', 0o640);
  try {
    await fh.writev(content as Buffer[]);
  } finally {
    await fh.close();
  }
}

/**
 * Files whose bytes add up to at most this are written by writeFilesAtomicSync on the calling
 * thread; more goes through the thread pool (writeFileAtomic), so that the event loop never blocks
 * on a large write.
 */
export const SYNC_WRITE_MAX_BYTES = 1024 * 1024;

/**
 * writeFileAtomic for a few small files, synchronously: for a caller whose thread would otherwise
 * wait (a statement of its own running in the database). Each asynchronous file operation is a
 * hand-off to a thread-pool thread and back (open, write, close, rename: four per file); on a
 * machine with few cores, waking those threads costs the event loop more than the writes do.
 */
export function writeFilesAtomicSync(files: ReadonlyArray<{ path: string; content: string }>): void {
  for (const f of files) {
    const dir = path.dirname(f.path);
    const tmp = `${f.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      if (!madeDirs.has(dir)) {
        fsSync.mkdirSync(dir, { recursive: true });
        madeDirs.add(dir);
      }
      try {
        fsSync.writeFileSync(tmp, f.content, { mode: 0o640 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fsSync.mkdirSync(dir, { recursive: true });
        fsSync.writeFileSync(tmp, f.content, { mode: 0o640 });
      }
      fsSync.renameSync(tmp, f.path);
    } catch (e) {
      fsSync.rmSync(tmp, { force: true });
      throw e;
    }
  }
}
