import { withTenant } from '../../db/client.js';
import type { CoreDeps } from '../deps.js';
import type { PurgeAuditPayload } from '../jobs/job.schemas.js';
import { purgeAuditOlderThan } from './audit.repo.js';

const DAY_MS = 86_400_000;

export interface PurgeAuditOutput {
  org_id: string;
  before: string;
  deleted: number;
}

/** Audit-log retention for one org: deletes rows older than now − config.auditRetentionDays. */
export async function purgeAudit(deps: CoreDeps, input: PurgeAuditPayload): Promise<PurgeAuditOutput> {
  const before = new Date(deps.clock.now().getTime() - deps.config.auditRetentionDays * DAY_MS);
  const deleted = await withTenant(deps.db, input.org_id, (tx) => purgeAuditOlderThan(tx, input.org_id, before));
  return { org_id: input.org_id, before: before.toISOString(), deleted };
}
