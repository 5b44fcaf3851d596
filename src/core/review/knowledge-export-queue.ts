import type { CoreDeps } from '../deps.js';
import type { Project } from '../tenancy/projects.repo.js';
import { exportKnowledge } from './export-knowledge.js';

interface ProjectExports {
  running: Promise<void>;
  /** An export queued behind the running one; every caller that arrives meanwhile shares it. */
  next: Promise<void> | null;
}

/**
 * Per process, by database (deps derived for a job or a request share it): the export in progress
 * and the one queued, per data directory and project.
 */
const byDb = new WeakMap<CoreDeps['db'], Map<string, ProjectExports>>();

/**
 * Re-exports KNOWLEDGE.md for a caller whose transaction has committed: resolves once an export
 * that started after the call has finished, so the file holds the caller's entries. Concurrent
 * callers in one project share exports: while one runs, all that arrive wait for a single next
 * one (it reads the database after all of them committed). Ten reviews finishing together in a
 * project cost two exports, not ten, each of which reads and writes the whole file.
 */
export function exportKnowledgeCoalesced(deps: CoreDeps, orgId: string, project: Pick<Project, 'id' | 'slug'>): Promise<void> {
  let perProject = byDb.get(deps.db);
  if (!perProject) byDb.set(deps.db, (perProject = new Map()));
  const key = `${deps.config.dataDir}\0${orgId}:${project.id}`;
  const state = perProject.get(key);
  const run = async () => {
    await exportKnowledge(deps, orgId, project);
  };
  if (!state) {
    const running = run().finally(() => advance(perProject, key));
    perProject.set(key, { running, next: null });
    return running;
  }
  if (!state.next) {
    // Starts when the running export ends, whether it succeeded or not.
    state.next = state.running.then(run, run);
  }
  return state.next;
}

function advance(perProject: Map<string, ProjectExports>, key: string): void {
  const state = perProject.get(key);
  if (!state) return;
  if (!state.next) {
    perProject.delete(key);
    return;
  }
  const running = state.next.finally(() => advance(perProject, key));
  running.catch(() => undefined); // callers of `next` see its error; this chain only keeps order
  perProject.set(key, { running, next: null });
}
