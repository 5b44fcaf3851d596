import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { CoreDeps } from '../../../core/deps.js';
import { DbAvailability, type DbFault } from '../../../db/availability.js';
import { sendDbFault } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The runtime pool's circuit breaker (see DbAvailability). */
    dbAvailability?: DbAvailability;
  }
  interface FastifyRequest {
    /** Set when this request was answered 503 because of the database (counted in metrics). */
    dbFault: DbFault | null;
  }
}

/** Routes that never touch the database: liveness and metrics keep answering during an outage. */
const EXEMPT = new Set(['/healthz', '/metrics']);

/**
 * Database faults at the HTTP front door. A request that failed because PostgreSQL was down or
 * restarting answers 503 `database_unavailable` with `retry-after` (errors.ts maps it), and opens
 * a breaker: until a background probe reaches the database again, requests are answered 503 at
 * once rather than each waiting out the connect timeout. Statement/read timeouts answer 503
 * `database_timeout` and do not open the breaker. Nothing is half-done: every write is one
 * transaction, so a refused request changed nothing and a retry is safe.
 */
export function registerDbFaults(app: FastifyInstance, deps: CoreDeps): void {
  const avail = new DbAvailability(deps.pool as unknown as pg.Pool, {
    onChange: (up) => {
      deps.metrics.dbUp.set(up ? 1 : 0);
      if (up) deps.logger.info('database reachable again');
      else deps.logger.warn('database unavailable: answering 503 until it is reachable again');
    },
  });
  deps.metrics.dbUp.set(1);
  app.decorate('dbAvailability', avail);
  app.decorateRequest('dbFault', null);
  app.addHook('onClose', async () => avail.close());
  app.addHook('onRequest', async (req, reply) => {
    if (avail.up || EXEMPT.has(req.routeOptions.url ?? '')) return;
    return sendDbFault(req, reply, 'database_unavailable');
  });
  app.addHook('onResponse', async (req) => {
    if (req.dbFault) deps.metrics.dbUnavailable.inc({ code: req.dbFault });
  });
}
