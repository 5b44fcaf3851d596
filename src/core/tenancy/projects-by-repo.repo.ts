import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { toProject, type Project } from './projects.repo.js';

/** The org's projects registered with exactly this repository location (oldest first). */
export async function findProjectsByRepoUrl(tx: Transaction<Database>, repoUrl: string): Promise<Project[]> {
  const rows = await tx.selectFrom('projects').selectAll().where('repo_url', '=', repoUrl).orderBy('created_at').execute();
  return rows.map(toProject);
}
