import { randomBytes } from 'node:crypto';
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
