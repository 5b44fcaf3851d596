import type { FastifyInstance } from 'fastify';
import type { CoreDeps } from '../../core/deps.js';

/**
 * Route plugins beyond the foundation (projects, health). Each capability adds its plugin here,
 * so the server, the tests and the OpenAPI-driven isolation matrix all see the same routes.
 */
export const allRoutes: Array<(app: FastifyInstance, deps: CoreDeps) => Promise<void> | void> = [];
