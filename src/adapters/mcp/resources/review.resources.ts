import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AppError } from '../../../core/errors.js';
import { ListReviewsQuery } from '../../../core/review/review.schemas.js';
import type { McpContext } from '../context.js';
import { resourceError } from '../errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LISTED = 50;

export const one = (v: string | string[] | undefined): string => decodeURIComponent((Array.isArray(v) ? v[0] : v) ?? '');

export function registerReviewResources(server: McpServer, c: McpContext): void {
  server.registerResource(
    'review',
    new ResourceTemplate('review://{project}/{review_id}', {
      // The most recent completed reviews you can see (older ones stay readable by URI).
      list: async () => {
        try {
          await c.ready;
          const [projects, reviews] = await Promise.all([
            c.backend.listProjects({ limit: 200 }),
            c.backend.listReviews(ListReviewsQuery.parse({ status: 'completed', limit: LISTED })),
          ]);
          const slug = new Map(projects.items.map((p) => [p.id, p.slug]));
          return {
            resources: reviews.items.map((r) => {
              const project = slug.get(r.project_id) ?? r.project_id;
              return {
                uri: `review://${project}/${r.id}`,
                name: `review ${project}/${r.task_id}`,
                title: `Review of ${project} (${r.task_id}): ${r.verdict ?? r.status}, score ${r.score ?? '-'}`,
                mimeType: 'text/markdown',
                ...(r.completed_at && { annotations: { lastModified: r.completed_at } }),
              };
            }),
          };
        } catch (e) {
          throw resourceError(e, c.logger);
        }
      },
    }),
    { title: 'Review report', description: 'The Markdown report of a completed review: verdict, score, findings.', mimeType: 'text/markdown' },
    async (uri, vars) => {
      try {
        await c.ready;
        const reviewId = one(vars.review_id);
        if (!UUID_RE.test(reviewId)) throw new AppError('not_found', 'review not found');
        const text = await c.backend.reviewMarkdown(one(vars.project), reviewId);
        return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text }] };
      } catch (e) {
        throw resourceError(e, c.logger);
      }
    },
  );
}
