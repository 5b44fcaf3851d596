import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { removeLimit } from '../../../core/gate/delete-limit.js';
import { getUsage } from '../../../core/gate/get-usage.js';
import { listLimits } from '../../../core/gate/list-limits.js';
import { setLimit } from '../../../core/gate/set-limit.js';
import { LimitOut, LimitsOut, SetLimitInput, UsageOut, UsageQueryInput } from '../../../core/gate/usage.schemas.js';
import { actorOf, ctxOf } from '../plugins/auth.js';
import { errorResponses } from './common.schemas.js';

const LimitParam = z.object({ id: z.string().uuid() });
const Removed = z.object({ removed: z.literal(true), scope: z.string(), subject_id: z.string() });

export function usageRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/v1/usage', {
    schema: {
      tags: ['usage'],
      summary: 'LLM usage and cost from the ledger, grouped by org, project, user, key, model or day (members: their own calls)',
      querystring: UsageQueryInput,
      response: { 200: UsageOut, ...errorResponses },
    },
  }, async (req) => getUsage(deps, actorOf(req), req.query));

  r.get('/v1/limits', {
    schema: {
      tags: ['usage'],
      summary: "The org's monthly budgets and rate limits with month-to-date spend (org admin)",
      response: { 200: LimitsOut, ...errorResponses },
    },
  }, async (req) => listLimits(deps, actorOf(req)));

  r.put('/v1/limits', {
    schema: {
      tags: ['usage'],
      summary: 'Set a monthly budget and/or rate limits for the org, a project, a member or an API key (org admin); null clears a value',
      body: SetLimitInput,
      response: { 200: z.union([LimitOut, Removed]), ...errorResponses },
    },
  }, async (req) => setLimit(deps, ctxOf(req), req.body));

  r.delete('/v1/limits/:id', {
    schema: { tags: ['usage'], summary: 'Remove a limit row: its subject falls back to the defaults (org admin)', params: LimitParam, response: { 200: LimitOut, ...errorResponses } },
  }, async (req) => removeLimit(deps, ctxOf(req), req.params.id));
}
