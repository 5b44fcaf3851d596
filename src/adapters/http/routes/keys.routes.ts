import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { ApiKeyOut, CreateApiKeyInput, CreatedApiKeyOut } from '../../../core/tenancy/api-key.schemas.js';
import { createApiKey } from '../../../core/tenancy/create-api-key.js';
import { listApiKeys, ListApiKeysQuery } from '../../../core/tenancy/list-api-keys.js';
import { revokeApiKey } from '../../../core/tenancy/revoke-api-key.js';
import { actorOf, ctxOf } from '../plugins/auth.js';
import { errorResponses, pageOf } from './common.schemas.js';

const KeyParam = z.object({ id: z.string().uuid() });

export function keyRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['keys'];

  r.get('/v1/keys', {
    schema: {
      tags,
      summary: 'List your API keys (org admins: every key of the org, ?user= to filter)',
      querystring: ListApiKeysQuery,
      response: { 200: pageOf(ApiKeyOut), ...errorResponses },
    },
  }, async (req) => listApiKeys(deps, actorOf(req), req.query));

  r.post('/v1/keys', {
    schema: {
      tags,
      summary: 'Create an API key; the secret is returned once',
      body: CreateApiKeyInput,
      response: { 201: CreatedApiKeyOut, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await createApiKey(deps, ctxOf(req), req.body)));

  r.delete('/v1/keys/:id', {
    schema: { tags, summary: 'Revoke an API key', params: KeyParam, response: { 200: ApiKeyOut, ...errorResponses } },
  }, async (req) => revokeApiKey(deps, ctxOf(req), req.params.id));
}
