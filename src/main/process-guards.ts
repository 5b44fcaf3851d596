import type { Logger } from 'pino';
import { classifyDbFault } from '../db/availability.js';

let installed = false;

/**
 * graphile-worker 0.17 fires its job-completion writes without awaiting or catching them; when
 * PostgreSQL is down at that moment the rejection is unhandled and Node would end the process.
 * For database faults only, log instead: the worker reconciles such jobs itself (runner.ts).
 * Any other unhandled rejection still ends the process, as Node does by default.
 */
export function guardDatabaseFaultRejections(logger: Logger): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    if (classifyDbFault(reason)) {
      logger.warn({ err: { message: (reason as Error)?.message } }, 'a database write failed while the database was unavailable (unhandled by a library); recovering');
      return;
    }
    throw reason;
  });
}
