import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { KnowledgeEntryOut, SearchKnowledgeQuery } from '../../../core/review/search-knowledge.js';
import { jsonText, projectOf, type McpContext } from '../context.js';
import { toolError } from '../errors.js';

const KnowledgePage = z.object({ items: z.array(KnowledgeEntryOut), next_cursor: z.string().nullable() });

export function registerKnowledgeTools(server: McpServer, c: McpContext): void {
  server.registerTool(
    'search_knowledge',
    {
      title: 'Search project knowledge',
      description:
        "Searches a project's shared knowledge: serious findings of earlier reviews, each attributed to the developer whose change had it. " +
        'Use it before writing code in an area to learn what went wrong there before.',
      inputSchema: {
        project: z.string().min(1).max(200).optional().describe('project id or slug (default: the current repository in local mode)'),
        query: z.string().max(200).optional().describe('text to look for in title, detail, file or category'),
        cursor: z.string().max(200).optional(),
        limit: z.number().int().min(1).max(200).optional().describe('default 20'),
      },
      outputSchema: KnowledgePage,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a) => {
      try {
        await c.ready;
        const q = SearchKnowledgeQuery.parse({ q: a.query, cursor: a.cursor, limit: a.limit ?? 20 });
        const page = KnowledgePage.parse(await c.backend.searchKnowledge(projectOf(c, a.project), q));
        const lines = page.items.map((k) => `- [severity ${k.severity}] ${k.title} — ${k.file} (${k.category}; ${k.developer_name}, ${k.created_at.slice(0, 10)})`);
        return { content: jsonText([`${page.items.length} knowledge entr${page.items.length === 1 ? 'y' : 'ies'}.`, ...lines].join('\n'), page), structuredContent: page };
      } catch (e) {
        return toolError(e, c.logger);
      }
    },
  );
}
