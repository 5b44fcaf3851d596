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

/**
 * Readers see the old file or the new one, never a torn write: temp file in the same dir + rename.
 * Content is a string, or the file's bytes in pieces (written with one writev, not joined first).
 */
export async function writeFileAtomic(file: string, content: string | readonly Buffer[]): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    if (typeof content === 'string') await fs.writeFile(tmp, content, { mode: 0o640 });
    else {
      const fh = await fs.open(tmp, 'w', 0o640);
      try {
        await fh.writev(content);
      } finally {
        await fh.close();
      }
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
