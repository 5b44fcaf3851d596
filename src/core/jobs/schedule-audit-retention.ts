import { withTenant } from '../../db/client.js';
import type { CoreDeps } from '../deps.js';
import { enqueueJob } from './enqueue.js';
import { listOrgIds } from './system.repo.js';

/**
 * The daily retention fan-out (system job): one purge_audit job per org, each enqueued inside
 * that org's tenant transaction. The per-org job key makes a second fan-out on the same day
 * replace the pending job instead of adding a duplicate.
 */
export async function scheduleAuditRetention(deps: CoreDeps): Promise<{ orgs: number }> {
  const orgIds = await listOrgIds(deps.db);
  for (const orgId of orgIds) {
    await withTenant(deps.db, orgId, (tx) =>
      enqueueJob(tx, 'purge_audit', { org_id: orgId }, { jobKey: 'purge_audit', maxAttempts: 5, priority: 10 }),
    );
  }
  return { orgs: orgIds.length };
}
