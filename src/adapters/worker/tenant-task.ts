import type { Job, JobHelpers, Task } from 'graphile-worker';
import type { CoreDeps } from '../../core/deps.js';
import { AppError } from '../../core/errors.js';
import { TENANT_JOBS, type TenantJobName, type TenantJobPayloadOf } from '../../core/jobs/job.schemas.js';

/** A failure that retrying cannot fix; the job is marked permanently failed on the first attempt. */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/**
 * The front door of a tenant job (house rule 1): parse the payload with the job's Zod schema, call
 * one use case with a logger bound to the job, org and correlation id. The use case does its tenant
 * work through withTenant(deps.db, payload.org_id, …). A payload without a valid org_id, or a
 * client-type AppError (bad input, not found, forbidden), fails permanently instead of being
 * retried 25 times with exponential backoff.
 */
export function tenantTask<N extends TenantJobName>(
  deps: CoreDeps,
  name: N,
  run: (deps: CoreDeps, payload: TenantJobPayloadOf<N>, helpers: JobHelpers) => Promise<unknown>,
): Task {
  return async (rawPayload, helpers) => {
    const parsed = TENANT_JOBS[name].safeParse(rawPayload);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
      await failPermanently(helpers);
      throw new PermanentJobError(
        `job ${name} #${helpers.job.id} has an invalid payload (${why}); every tenant job must carry the org_id it works for`,
      );
    }
    const payload = parsed.data as TenantJobPayloadOf<N>;
    const { review_id: reviewId, project_id: projectId } = payload as { review_id?: unknown; project_id?: unknown };
    const bindings = {
      org_id: payload.org_id,
      correlation_id: payload.correlation_id ?? `job-${helpers.job.id}`,
      ...(typeof projectId === 'string' ? { project_id: projectId } : {}),
      ...(typeof reviewId === 'string' ? { review_id: reviewId } : {}),
    };
    // graphile-worker's own lines about this job ("Completed task …") carry them too.
    jobLogBindings.set(helpers.job.id, bindings);
    const logger = deps.logger.child({ job_id: helpers.job.id, task: name, ...bindings, attempt: helpers.job.attempts });
    try {
      const result = await run({ ...deps, logger }, payload, helpers);
      logger.info({ result }, `job ${name} done`);
    } catch (e) {
      // Graceful shutdown ran past its grace period: the job was aborted, not failed.
      if (helpers.abortSignal.aborted) return handBack(helpers, rawPayload, logger);
      if (e instanceof AppError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        await failPermanently(helpers);
        throw new PermanentJobError(`job ${name} #${helpers.job.id} failed permanently: ${e.code}: ${e.message}`);
      }
      throw e;
    }
  };
}

/**
 * The tenant, correlation id and review of each job running in this process, for the lines
 * graphile-worker logs about it (graphile-logger.ts). The runner drops an entry on job:complete.
 */
export const jobLogBindings = new Map<string, Record<string, string>>();

/** Jobs this process handed back on shutdown (their job:success is not a success; metrics). */
export const handedBack = new WeakSet<Job>();

/**
 * Hands a job aborted by graceful shutdown back to the queue without a failure: a replacement job
 * with the same key, payload, priority, queue and the attempts it had left, runnable now (no retry
 * backoff; another worker takes it at once). graphile-worker's add_job clears the key of the locked
 * original, which then completes. Tenant jobs are idempotent and resume from their checkpoints.
 * If the database is unreachable the error propagates: the job stays locked by this (exiting)
 * process and the lapsed-worker sweeper releases it.
 */
async function handBack(helpers: JobHelpers, payload: unknown, logger: CoreDeps['logger']): Promise<void> {
  const j = helpers.job;
  const { rows } = await helpers.query<{ queue_name: string | null }>('select queue_name from graphile_worker.jobs where id = $1', [j.id]);
  const replacement = await helpers.addJob(j.task_identifier, payload, {
    jobKey: j.key ?? undefined,
    jobKeyMode: 'replace',
    priority: j.priority,
    queueName: rows[0]?.queue_name ?? undefined,
    maxAttempts: Math.max(1, j.max_attempts - j.attempts + 1),
  });
  handedBack.add(j);
  logger.info({ replacement_job_id: replacement.id }, `job ${j.task_identifier} handed back on shutdown`);
}

/**
 * graphile-worker 0.17 has no "don't retry" error; a job whose attempts reached max_attempts is
 * never picked again. The row is locked by this worker, so WorkerUtils.permanentlyFailJobs (which
 * skips locked jobs) cannot be used: set max_attempts = attempts on the row, and on the in-memory
 * job so the worker emits job:failed and logs "attempt 1 of 1".
 */
async function failPermanently(helpers: JobHelpers): Promise<void> {
  await helpers.query('update graphile_worker._private_jobs set max_attempts = attempts where id = $1', [helpers.job.id]);
  helpers.job.max_attempts = helpers.job.attempts;
}
