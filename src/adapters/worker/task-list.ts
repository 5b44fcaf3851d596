import type { TaskList } from 'graphile-worker';
import type { CoreDeps } from '../../core/deps.js';
import type { SystemJobName, TenantJobName } from '../../core/jobs/job.schemas.js';
import { auditRetentionTask } from './tasks/audit-retention.task.js';
import { purgeAuditTask } from './tasks/purge-audit.task.js';
import { runReviewTask, type WorkerContext } from './tasks/run-review.task.js';

/** Every production task; the Record types make a job declared in job.schemas.ts without a handler a type error. */
export function buildTaskList(deps: CoreDeps, ctx: WorkerContext): TaskList {
  const tenant: Record<TenantJobName, TaskList[string]> = {
    purge_audit: purgeAuditTask(deps),
    run_review: runReviewTask(deps, ctx),
  };
  const system: Record<SystemJobName, TaskList[string]> = {
    audit_retention: auditRetentionTask(deps),
  };
  return { ...tenant, ...system };
}

/**
 * Daily at 03:00 UTC (graphile-worker's cron matches in UTC); it runs each item once across the
 * cluster. `fill=1d` backfills a run missed while no worker was up (a laptop asleep at 03:00).
 */
export const CRONTAB = '0 3 * * * audit_retention ?fill=1d';
