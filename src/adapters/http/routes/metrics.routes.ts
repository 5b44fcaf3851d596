import type { FastifyInstance } from 'fastify';
import type { CoreDeps } from '../../../core/deps.js';
import { requireOrgAdmin } from '../../../core/tenancy/rbac.js';
import { actorOf } from '../plugins/auth.js';

/**
 * Prometheus metrics of this process. Org admins see their own org's series (and the unlabelled
 * ones of the process); everything with QUORUM_METRICS_PUBLIC=true or on QUORUM_METRICS_PORT (for a
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
    if (deps.config.metricsPublic) return reply.type(m.registry.contentType).send(await m.scrape());
    // An org admin sees the series of their own org only: ids and activity of other tenants never leak.
    const actor = actorOf(req);
    requireOrgAdmin(actor);
    return reply.type(m.registry.contentType).send(await m.scrapeForOrg(actor.orgId));
  });
}
