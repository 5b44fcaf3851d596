import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { AppError } from '../errors.js';
import { TENANT_JOBS, type TenantJobName, type TenantJobPayloadOf } from './job.schemas.js';

export interface EnqueueOptions {
  /** Dedupe/replace key, namespaced by org in the database (graphile-worker job_key, mode "replace"). */
  jobKey?: string;
  /** Lower runs first (graphile-worker priority; default 0). */
  priority?: number;
  /** Attempts before the job fails permanently (default 25). */
  maxAttempts?: number;
  runAt?: Date;
  /** Jobs sharing a queue name (within the org) run one at a time. */
  queueName?: string;
}

/**
 * Transactional enqueue (house rule 5): the job is written by graphile_worker.add_job in the
 * caller's withTenant transaction, through quorum.enqueue_job (0004), so it exists if and only if
 * the transaction commits. Returns the job id.
 */
export async function enqueueJob<N extends TenantJobName>(
  tx: Transaction<Database>,
  name: N,
  payload: TenantJobPayloadOf<N>,
  opts: EnqueueOptions = {},
): Promise<string> {
  const res = await sql<{ id: string }>`select ${enqueueJobCall(name, payload, opts)} as id`.execute(tx);
  const id = res.rows[0]?.id;
  if (!id) throw new Error(`enqueue of ${name} returned no job id`);
  return id;
}

/**
 * The quorum.enqueue_job call of enqueueJob (the job id) as an expression, validated the same way,
 * for a statement that writes the job along with other rows.
 */
export function enqueueJobCall<N extends TenantJobName>(name: N, payload: TenantJobPayloadOf<N>, opts: EnqueueOptions = {}): RawBuilder<string> {
  const schema = TENANT_JOBS[name];
  if (!schema) throw new AppError('validation_failed', `unknown job "${String(name)}"`);
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new AppError('validation_failed', `invalid payload for job ${name}`, parsed.error.issues);
  }
  if (opts.maxAttempts !== undefined && !(Number.isInteger(opts.maxAttempts) && opts.maxAttempts >= 1)) {
    throw new AppError('validation_failed', 'maxAttempts must be a positive integer');
  }
  return sql<string>`quorum.enqueue_job(
      ${name}, ${JSON.stringify(parsed.data)}::jsonb, ${opts.jobKey ?? null}::text,
      ${opts.priority ?? null}::integer, ${opts.maxAttempts ?? null}::integer,
      ${opts.runAt ?? null}::timestamptz, ${opts.queueName ?? null}::text
    )`;
}

/**
 * Takes back a queued job by its key (quorum.remove_job, 0009), in the caller's transaction: gone
 * if and only if the transaction commits. A job a worker holds right now is left alone. Returns
 * whether a job was removed.
 */
export async function removeJob(tx: Transaction<Database>, jobKey: string): Promise<boolean> {
  const res = await sql<{ removed: boolean }>`select ${removeJobCall(jobKey)} as removed`.execute(tx);
  return res.rows[0]?.removed === true;
}

/** The quorum.remove_job call of removeJob (whether a job was removed), for a larger statement. */
export function removeJobCall(jobKey: string): RawBuilder<boolean> {
  return sql<boolean>`quorum.remove_job(${jobKey}::text)`;
}
