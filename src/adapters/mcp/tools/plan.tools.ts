import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { GeneratePlanInput, PlanOut } from '../../../core/plan/plan.schemas.js';
import { jsonText, projectOf, type McpContext } from '../context.js';
import { toolError } from '../errors.js';

export function registerPlanTools(server: McpServer, c: McpContext): void {
  server.registerTool(
    'generate_plan',
    {
      title: 'Generate a task plan',
      description:
        'Turns a requirements text into an ordered plan of small implementation tasks (dependencies, files, acceptance criteria) ' +
        'with the LLM provider configured on the Quorum server. Needs an LLM provider: with only the built-in reviewers it ' +
        'answers the error provider_not_configured.',
      inputSchema: {
        project: z.string().min(1).max(200).optional().describe('project id or slug (default: the current repository in local mode)'),
        requirements: z.string().min(1).max(100_000).describe('what to build'),
        max_tasks: z.number().int().min(1).max(50).optional().describe('default 12'),
      },
      outputSchema: PlanOut,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async (a, extra) => {
      try {
        await c.ready;
        const input = GeneratePlanInput.parse({ project_id: projectOf(c, a.project), requirements: a.requirements, ...(a.max_tasks && { max_tasks: a.max_tasks }) });
        const plan = PlanOut.parse(await c.backend.generatePlan(input, extra.signal));
        const lines = plan.tasks.map((t) => `${t.id}. ${t.title}${t.depends_on.length ? ` (after ${t.depends_on.join(', ')})` : ''}`);
        return { content: jsonText([plan.summary, '', ...lines].join('\n'), plan), structuredContent: plan };
      } catch (e) {
        return toolError(e, c.logger);
      }
    },
  );
}
