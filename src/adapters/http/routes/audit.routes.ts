import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CoreDeps } from '../../../core/deps.js';
import { AuditEntryOut, AuditQueryInput } from '../../../core/tenancy/audit.schemas.js';
import { listAuditEntries } from '../../../core/tenancy/list-audit.js';
import { actorOf } from '../plugins/auth.js';
import { errorResponses, pageOf } from './common.schemas.js';

export function auditRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/v1/audit', {
    schema: {
      tags: ['audit'],
      summary: "Read the org's audit trail, newest first (org admin)",
      querystring: AuditQueryInput,
      response: { 200: pageOf(AuditEntryOut), ...errorResponses },
    },
  }, async (req) => listAuditEntries(deps, actorOf(req), req.query));
}
