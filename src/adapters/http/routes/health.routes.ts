import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { CoreDeps } from '../../../core/deps.js';
import { loadMigrations } from '../../../db/migrate.js';
import { sendDbFault, sendError } from '../plugins/errors.js';
import { getHealthDetails, type ProcessHealth } from '../../../core/tenancy/get-health-details.js';
import { actorOf } from '../plugins/auth.js';

/** Filled in by the composition root: what this process is (role, its worker, its singletons). */
export type ProcessHealthSource = () => Omit<ProcessHealth, 'database_reachable'>;

export function healthRoutes(app: FastifyInstance, deps: CoreDeps, version: string, processHealth?: ProcessHealthSource): void {
  const hide = { hide: true };
  const expected = loadMigrations();
  app.get('/healthz', { config: { public: true }, schema: hide }, async () => ({ status: 'ok', version }));

  app.get('/readyz', { config: { public: true }, schema: hide }, async (req, reply) => {
    try {
      const { rows } = await sql<{ n: string; v: number | null }>`select count(*)::text as n, max(version) as v from quorum_migrations`.execute(deps.db);
      const pending = expected.length - Number(rows[0]?.n ?? 0);
      const st = { pending, current: rows[0]?.v ?? 0 };
      if (st.pending > 0) return sendError(reply, req, 503, 'not_ready', `${st.pending} migration(s) pending`);
      return { status: 'ready', schema_version: st.current };
    } catch {
      return sendDbFault(req, reply, 'database_unavailable');
    }
  });

  app.get('/health/detailed', { schema: { hide: true } }, async (req) => {
    const p = processHealth?.();
    const proc = p ? { ...p, database_reachable: app.dbAvailability?.up ?? true } : undefined;
    return getHealthDetails(deps, actorOf(req), version, proc);
  });
}
