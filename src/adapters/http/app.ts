import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { CoreDeps } from '../../core/deps.js';
import { registerAuth } from './plugins/auth.js';
import { registerErrorHandling, sendError } from './plugins/errors.js';
import { registerDbFaults } from './plugins/db-faults.js';
import { healthRoutes, type ProcessHealthSource } from './routes/health.routes.js';
import { projectRoutes } from './routes/projects.routes.js';
import { metricsRoutes } from './routes/metrics.routes.js';

export interface AppOptions {
  version: string;
  /** Extra route plugins (later issues register theirs here). */
  extraRoutes?: Array<(app: FastifyInstance, deps: CoreDeps) => Promise<void> | void>;
  /** What this process is (role, worker, singletons), for /health/detailed; from the composition root. */
  processHealth?: ProcessHealthSource;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Build, don't listen (house rule 7): tests inject requests; main/server.ts listens. */
export async function buildApp(deps: CoreDeps, opts: AppOptions): Promise<FastifyInstance> {
  // Widened to Fastify's logger type so route plugins keep the default instance type.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    logController: new LogController({ requestIdLogLabel: 'correlation_id' }),
    bodyLimit: 10 * 1024 * 1024,
    trustProxy: false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false } },
    routerOptions: { maxParamLength: 500 },
    // Idle keep-alive sockets (and clients that never send a request) must not hold close().
    forceCloseConnections: true,
    // Router-level failures (malformed URL encoding, over-long params) skip setErrorHandler.
    frameworkErrors: (err, req, reply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
      void sendError(reply, req, status, 'bad_request', err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'the request URL is malformed');
    },
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  registerErrorHandling(app);
  // Before auth (whose API-key lookup needs the database): refuses at once while the database is down.
  registerDbFaults(app, deps);

  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  await app.register(cors, { origin: deps.config.http.corsOrigins.length ? deps.config.http.corsOrigins : false });
  // Per-route limits only (login/signup); the gate owns LLM-side limits.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, ctx) => {
      const err = new Error(`too many requests; retry in ${Math.ceil(ctx.ttl / 1000)} s`) as Error & { statusCode: number };
      err.statusCode = 429;
      return err;
    },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Quorum API', version: opts.version, description: 'Multi-tenant AI code review service' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  // Before auth: a refused WebSocket upgrade must still be answered and closed by the plugin.
  await app.register(websocket);
  registerAuth(app, deps);
  // Root scope: its onResponse hook counts every route.
  metricsRoutes(app, deps);
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  await app.register(async (scope) => healthRoutes(scope, deps, opts.version, opts.processHealth));
  await app.register(async (scope) => projectRoutes(scope, deps));
  for (const r of opts.extraRoutes ?? []) await app.register(async (scope) => r(scope, deps));
  return app;
}
