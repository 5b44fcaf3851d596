import type { Task } from 'graphile-worker';
import type { CoreDeps } from '../../../core/deps.js';
import { scheduleAuditRetention } from '../../../core/jobs/schedule-audit-retention.js';

/**
 * audit_retention (system job, from cron, no org): fans out one purge_audit job per org. graphile-worker's
 * cron schedules it once per day across the whole cluster, however many workers run.
 */
export const auditRetentionTask =
  (deps: CoreDeps): Task =>
  async (_payload, helpers) => {
    const logger = deps.logger.child({ job_id: helpers.job.id, task: 'audit_retention', correlation_id: `job-${helpers.job.id}` });
    const { orgs } = await scheduleAuditRetention({ ...deps, logger });
    logger.info({ orgs }, 'audit retention scheduled for every org');
  };
