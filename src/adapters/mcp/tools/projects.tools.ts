import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ProjectOut } from '../../../core/tenancy/project.schemas.js';
import { jsonText, type McpContext } from '../context.js';
import { toolError } from '../errors.js';

const ProjectPage = z.object({ items: z.array(ProjectOut), next_cursor: z.string().nullable() });

export function registerProjectTools(server: McpServer, c: McpContext): void {
  server.registerTool(
    'list_projects',
    {
      title: 'List projects',
      description: 'The projects (registered repositories) you can see, with your role in each.',
      inputSchema: {
        cursor: z.string().max(200).optional(),
        limit: z.number().int().min(1).max(200).optional().describe('default 50'),
      },
      outputSchema: ProjectPage,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a) => {
      try {
        await c.ready;
        const page = ProjectPage.parse(await c.backend.listProjects({ cursor: a.cursor, limit: a.limit ?? 50 }));
        const lines = page.items.map((p) => `- ${p.slug} (${p.role ?? 'no role'})${p.repo_url ? ` ${p.repo_url}` : ''}`);
        return { content: jsonText([`${page.items.length} project(s).`, ...lines].join('\n'), page), structuredContent: page };
      } catch (e) {
        return toolError(e, c.logger);
      }
    },
  );
}
