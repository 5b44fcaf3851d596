import type { FastifyInstance } from 'fastify';
import type { CoreDeps } from '../../core/deps.js';
import { authRoutes } from './routes/auth.routes.js';
import { orgRoutes } from './routes/orgs.routes.js';
import { auditRoutes } from './routes/audit.routes.js';
import { keyRoutes } from './routes/keys.routes.js';
import { memberRoutes } from './routes/members.routes.js';
import { reviewRoutes } from './routes/reviews.routes.js';
import { eventRoutes } from './routes/events.routes.js';
import { usageRoutes } from './routes/usage.routes.js';
import { mcpRoutes } from './routes/mcp.routes.js';
import { planRoutes } from './routes/plan.routes.js';

/**
 * Route plugins beyond the foundation (projects, health). Each capability adds its plugin here,
 * so the server, the tests and the OpenAPI-driven isolation matrix all see the same routes.
 */
export const allRoutes: Array<(app: FastifyInstance, deps: CoreDeps) => Promise<void> | void> = [
  authRoutes,
  orgRoutes,
  keyRoutes,
  memberRoutes,
  auditRoutes,
  reviewRoutes,
  eventRoutes,
  usageRoutes,
  planRoutes,
  mcpRoutes,
];
