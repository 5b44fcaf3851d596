import { z } from 'zod';

/**
 * Every tenant job carries the org it works for: handlers run inside withTenant(payload.org_id),
 * and the database refuses to enqueue a job for any org but the current one. `correlation_id`
 * carries the request's id into the job's log lines when a request caused the job.
 */
export const TenantJobPayload = z.object({
  org_id: z.uuid(),
  correlation_id: z.string().min(1).max(200).optional(),
});
export type TenantJobPayload = z.infer<typeof TenantJobPayload>;

/** Audit-log retention for one org: deletes its rows older than config.auditRetentionDays. */
export const PurgeAuditPayload = TenantJobPayload;
export type PurgeAuditPayload = z.infer<typeof PurgeAuditPayload>;

/**
 * The payload schema of every tenant job, by task name. enqueueJob validates against it before
 * writing, and the worker validates again before running (a job may outlive the code that wrote it).
 * Later issues add their jobs (reviews) here.
 */
/** Runs (or resumes) one review. */
export const RunReviewPayload = TenantJobPayload.extend({
  review_id: z.uuid(),
  /** For log lines only (every line of the job carries its project); the review row is the truth. */
  project_id: z.uuid().optional(),
});
export type RunReviewPayload = z.infer<typeof RunReviewPayload>;

export const TENANT_JOBS = {
  purge_audit: PurgeAuditPayload,
  run_review: RunReviewPayload,
} as const;

export type TenantJobName = keyof typeof TENANT_JOBS;
export type TenantJobPayloadOf<N extends TenantJobName> = z.infer<(typeof TENANT_JOBS)[N]>;

/**
 * System jobs carry no org: they only iterate orgs through a named cross-org function and enqueue
 * tenant jobs. They are started by graphile-worker's cron, never by enqueueJob.
 */
export const SYSTEM_JOBS = ['audit_retention'] as const;
export type SystemJobName = (typeof SYSTEM_JOBS)[number];
