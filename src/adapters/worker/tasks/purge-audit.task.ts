import type { Task } from 'graphile-worker';
import type { CoreDeps } from '../../../core/deps.js';
import { purgeAudit } from '../../../core/tenancy/purge-audit.js';
import { tenantTask } from '../tenant-task.js';

/** purge_audit {org_id}: one org's audit retention. */
export const purgeAuditTask = (deps: CoreDeps): Task => tenantTask(deps, 'purge_audit', purgeAudit);
