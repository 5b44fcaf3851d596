import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CoreDeps } from '../../../core/deps.js';
import { generatePlan } from '../../../core/plan/generate-plan.js';
import { GeneratePlanInput, PlanOut } from '../../../core/plan/plan.schemas.js';
import { getKnowledgeMarkdown } from '../../../core/review/get-knowledge-markdown.js';
import { ctxOf, actorOf } from '../plugins/auth.js';
import { errorResponses, ProjectParam } from './common.schemas.js';

/** POST /v1/plan and a project's KNOWLEDGE.md: what MCP's generate_plan and knowledge:// delegate to. */
export function planRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post('/v1/plan', {
    schema: {
      tags: ['plans'],
      summary: 'Turn a requirements text into a task plan with the configured LLM provider (422 provider_not_configured without one)',
      body: GeneratePlanInput,
      response: { 200: PlanOut, ...errorResponses },
    },
  }, async (req, reply) => {
    // A client that hangs up stops waiting on the model (and on the gate).
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    return generatePlan(deps, ctxOf(req), req.body, abort.signal);
  });

  r.get('/v1/projects/:project/knowledge.md', {
    schema: {
      tags: ['knowledge'],
      summary: "The project's KNOWLEDGE.md (Markdown)",
      params: ProjectParam,
      response: errorResponses,
    },
  }, async (req, reply) => {
    const k = await getKnowledgeMarkdown(deps, actorOf(req), req.params.project);
    return reply.type('text/markdown; charset=utf-8').send(k.markdown as never);
  });
}
