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
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    if (!madeDirs.has(dir)) {
      await fs.mkdir(dir, { recursive: true });
      madeDirs.add(dir);
    }
    try {
      await fs.writeFile(tmp, content, { mode: 0o640 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(tmp, content, { mode: 0o640 });
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
