import { Logger as GraphileLogger, type LogFunctionFactory } from 'graphile-worker';
import type { Logger } from 'pino';
import { jobLogBindings } from './tenant-task.js';

interface JobLike {
  id?: unknown;
  task_identifier?: unknown;
  attempts?: unknown;
  max_attempts?: unknown;
}

/**
 * graphile-worker logs through our pino logger, so its lines are JSON like ours. Its metadata may
 * hold whole job rows; only ids, counts and error messages are kept (payloads never reach logs).
 */
export function graphileLogger(log: Logger): GraphileLogger {
  const factory: LogFunctionFactory = (scope) => {
    const child = log.child({
      component: 'graphile-worker',
      ...(scope.label ? { gw_label: scope.label } : {}),
      ...(scope.workerId ? { gw_worker_id: scope.workerId } : {}),
      ...(scope.taskIdentifier ? { task: scope.taskIdentifier } : {}),
      ...(scope.jobId ? { job_id: scope.jobId } : {}),
    });
    return (level, message, meta) => {
      const fields = summarize(meta);
      const jobId = fields.job_id ?? scope.jobId;
      const bound = jobId !== undefined ? jobLogBindings.get(String(jobId)) : undefined;
      if (bound) Object.assign(fields, bound);
      // LogLevel is a const enum of strings ("error" | "warning" | "info" | "debug").
      switch (level as string) {
        case 'error':
          child.error(fields, message);
          break;
        case 'warning':
          child.warn(fields, message);
          break;
        case 'info':
          child.info(fields, message);
          break;
        default:
          child.debug(fields, message);
      }
    };
  };
  return new GraphileLogger(factory);
}

function summarize(meta: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!meta) return {};
  const out: Record<string, unknown> = {};
  const job = meta.job as JobLike | undefined;
  if (job && typeof job === 'object') {
    out.job_id = job.id;
    out.task = job.task_identifier;
    out.attempt = job.attempts;
    out.max_attempts = job.max_attempts;
  }
  if (typeof meta.duration === 'number') out.duration_ms = Math.round(meta.duration * 100) / 100;
  const err = meta.error;
  if (err instanceof Error) out.err = { type: err.name, message: err.message };
  else if (err !== undefined) out.err = { message: String(err) };
  return out;
}
