import type { JobHelpers, Task } from 'graphile-worker';
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
    const logger = deps.logger.child({
      job_id: helpers.job.id,
      task: name,
      org_id: payload.org_id,
      correlation_id: payload.correlation_id ?? `job-${helpers.job.id}`,
      attempt: helpers.job.attempts,
    });
    try {
      const result = await run({ ...deps, logger }, payload, helpers);
      logger.info({ result }, `job ${name} done`);
    } catch (e) {
      if (e instanceof AppError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        await failPermanently(helpers);
        throw new PermanentJobError(`job ${name} #${helpers.job.id} failed permanently: ${e.code}: ${e.message}`);
      }
      throw e;
    }
  };
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
