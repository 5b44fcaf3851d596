import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { CoreDeps } from '../../../core/deps.js';
import type { Actor, RequestContext } from '../../../core/tenancy/actor.js';
import { authenticate } from '../../../core/tenancy/authenticate.js';
import { AppError } from '../../../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
  interface FastifyContextConfig {
    /** Routes are authenticated unless they say `public: true`. */
    public?: boolean;
  }
}

/** Authenticates every non-public route before its body is even parsed; the actor never comes from the body. */
export function registerAuth(app: FastifyInstance, deps: CoreDeps): void {
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public || req.is404) return;
    const apiKey = req.headers['x-api-key'];
    req.actor = await authenticate(deps, {
      apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey,
      authorization: req.headers.authorization,
    });
    // Every later line of this request carries the tenant (setBindings: no new child per request).
    (req.log as unknown as Logger).setBindings({ org_id: req.actor.orgId, user_id: req.actor.userId });
  });
}

export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new AppError('unauthenticated', 'authentication required');
  return req.actor;
}

export function ctxOf(req: FastifyRequest): RequestContext {
  const ua = req.headers['user-agent'];
  return { actor: actorOf(req), ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null, correlationId: req.id };
}
