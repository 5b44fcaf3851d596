import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { McpContext } from '../context.js';
import { resourceError } from '../errors.js';
import { one } from './review.resources.js';

export function registerKnowledgeResources(server: McpServer, c: McpContext): void {
  server.registerResource(
    'knowledge',
    new ResourceTemplate('knowledge://{project}', {
      list: async () => {
        try {
          await c.ready;
          const projects = await c.backend.listProjects({ limit: 200 });
          return {
            resources: projects.items.map((p) => ({
              uri: `knowledge://${p.slug}`,
              name: `KNOWLEDGE.md of ${p.slug}`,
              mimeType: 'text/markdown',
            })),
          };
        } catch (e) {
          throw resourceError(e, c.logger);
        }
      },
    }),
    { title: 'Project knowledge', description: "A project's KNOWLEDGE.md: serious findings kept from its reviews, newest first.", mimeType: 'text/markdown' },
    async (uri, vars) => {
      try {
        await c.ready;
        const k = await c.backend.knowledgeMarkdown(one(vars.project));
        return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: k.markdown }] };
      } catch (e) {
        throw resourceError(e, c.logger);
      }
    },
  );
}
