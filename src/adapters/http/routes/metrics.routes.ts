import type { FastifyInstance } from 'fastify';
import type { CoreDeps } from '../../../core/deps.js';
import { requireOrgAdmin } from '../../../core/tenancy/rbac.js';
import { actorOf } from '../plugins/auth.js';

/**
 * Prometheus metrics of this process. Org admins only, unless QUORUM_METRICS_PUBLIC=true (for a
 * scraper on a private network). Every request is counted by route template, never by raw URL.
 */
export function metricsRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const m = deps.metrics;
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    m.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    m.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { public: deps.config.metricsPublic }, schema: { hide: true } }, async (req, reply) => {
    if (!deps.config.metricsPublic) requireOrgAdmin(actorOf(req));
    return reply.type(m.registry.contentType).send(await m.scrape());
  });
}
