import type { CoreDeps } from '../deps.js';
import { heartbeatAges, queueStats } from './cluster-stats.repo.js';

/**
 * Refreshes the cluster-wide gauges (queue depth and age by task, worker heartbeats) from
 * PostgreSQL. Registered as a scrape hook by the composition root, so any process's /metrics shows
 * the whole cluster's queue; a failure (database down) leaves the gauges as they were.
 */
export async function collectClusterMetrics(deps: Pick<CoreDeps, 'db' | 'metrics' | 'config'>): Promise<void> {
  const [queue, beats] = await Promise.all([queueStats(deps.db), heartbeatAges(deps.db)]);
  const m = deps.metrics;
  m.queueJobs.reset();
  m.queueOldestAge.reset();
  for (const q of queue) {
    m.queueJobs.set({ task: q.task, state: 'queued' }, q.queued);
    m.queueJobs.set({ task: q.task, state: 'running' }, q.running);
    m.queueJobs.set({ task: q.task, state: 'failed' }, q.failed);
    if (q.oldestAgeS !== null) m.queueOldestAge.set({ task: q.task }, q.oldestAgeS);
  }
  m.workerHeartbeatAge.reset();
  const lapseS = deps.config.worker.lapseMs / 1000;
  let live = 0;
  for (const b of beats) {
    m.workerHeartbeatAge.set({ worker: b.workerId }, b.ageS);
    if (b.ageS <= lapseS) live++;
  }
  m.workers.set({ state: 'live' }, live);
  m.workers.set({ state: 'lapsed' }, beats.length - live);
}
