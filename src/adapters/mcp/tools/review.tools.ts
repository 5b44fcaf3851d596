import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { AppError } from '../../../core/errors.js';
import { getWorkingTreeDiff } from '../../../core/git/get-working-tree-diff.js';
import type { ReviewProgress } from '../../../core/review/follow-review-progress.js';
import { ListReviewsQuery, ReviewerInput, ReviewOut, ReviewStatus, StartReviewInput, TaskId } from '../../../core/review/review.schemas.js';
import { jsonText, projectOf, type McpContext } from '../context.js';
import { toolError } from '../errors.js';

const ReviewPage = z.object({ items: z.array(ReviewOut), next_cursor: z.string().nullable() });

function summarize(r: ReviewOut, done: boolean): string {
  if (!done) return `Review ${r.id} is still ${r.status} (${r.progress.completed}/${r.progress.total} reviewers done); call get_review later.`;
  if (r.status !== 'completed') return `Review ${r.id} ${r.status}${r.error ? `: ${r.error.code}: ${r.error.message}` : ''}.`;
  const lines = [`Review ${r.id}: verdict ${r.verdict}, score ${r.score}, ${r.findings_count} finding(s).`];
  for (const f of (r.findings ?? []).slice(0, 20)) {
    lines.push(`- [severity ${f.severity}] ${f.file}:${f.line_start} ${f.title} (${f.category}; ${f.agreement.k}/${f.agreement.n} reviewers)`);
  }
  return lines.join('\n');
}

export function registerReviewTools(server: McpServer, c: McpContext): void {
  server.registerTool(
    'review_code',
    {
      title: 'Review code',
      description: [
        'Runs a panel of code reviewers (security, correctness, performance, maintainability, tests) over a change',
        'and waits for the consensus: verdict, score and findings with file and line. The change is one of:',
        '`diff` (a unified diff, e.g. `git diff` output), `base`+`head` (two refs of the project repository),',
        '`working_tree: true` (the uncommitted changes of the local checkout; only when Quorum runs on this machine),',
        "or nothing (the last commit of the project's default branch). Sends progress notifications k/n as reviewers finish.",
      ].join(' '),
      inputSchema: {
        project: z.string().min(1).max(200).optional().describe('project id or slug (default: the current repository in local mode)'),
        diff: z.string().min(1).max(5 * 1024 * 1024).optional().describe('unified diff to review'),
        base: z.string().min(1).max(256).optional().describe('base ref (with head)'),
        head: z.string().min(1).max(256).optional().describe('head ref (with base)'),
        working_tree: z.boolean().optional().describe('review the uncommitted changes of the local checkout'),
        task_id: TaskId.optional().describe('your label for this piece of work (default "mcp")'),
        reviewers: z.array(ReviewerInput).min(1).max(20).optional().describe('personas to run, e.g. ["security","tests"]'),
        priority: z.enum(['low', 'normal', 'high']).optional(),
        timeout_s: z.number().int().min(1).max(3600).optional().describe('how long to wait (default 300); then the review is returned still running'),
      },
      outputSchema: ReviewOut,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (a, extra) => {
      try {
        await c.ready;
        const kinds = [a.diff !== undefined, a.base !== undefined || a.head !== undefined, a.working_tree === true].filter(Boolean).length;
        if (kinds > 1) throw new AppError('validation_failed', 'give at most one of diff, base+head, working_tree');
        if ((a.base === undefined) !== (a.head === undefined)) throw new AppError('validation_failed', 'base and head go together');
        let diff = a.diff;
        if (a.working_tree) {
          if (!c.workingTreeDir) throw new AppError('bad_request', 'working_tree is only available when `quorum mcp` runs on your machine (stdio); send a diff instead');
          diff = (await getWorkingTreeDiff(c.workingTreeDir)).diff;
        }
        const input = StartReviewInput.parse({
          project_id: projectOf(c, a.project),
          task_id: a.task_id ?? 'mcp',
          ...(diff !== undefined && { target: { diff } }),
          ...(a.base !== undefined && a.head !== undefined && { target: { base: a.base, head: a.head } }),
          ...(a.reviewers && { reviewers: a.reviewers }),
          ...(a.priority && { priority: a.priority }),
          ...(a.timeout_s !== undefined && { timeout_s: a.timeout_s }),
        });
        const token = extra._meta?.progressToken;
        let last = -1;
        const onProgress =
          token === undefined
            ? undefined
            : async (p: ReviewProgress) => {
                if (p.completed <= last) return;
                last = p.completed;
                await extra
                  .sendNotification({
                    method: 'notifications/progress',
                    params: {
                      progressToken: token,
                      progress: p.completed,
                      total: p.total,
                      message: p.reviewer ? `${p.reviewer} ${p.status ?? 'completed'} (${p.completed}/${p.total})` : `queued (0/${p.total})`,
                    },
                  })
                  .catch(() => {});
              };
        const { review, done } = await c.backend.reviewCode(input, onProgress, extra.signal);
        const out = ReviewOut.parse(review);
        return {
          content: [
            ...jsonText(summarize(out, done), out),
            ...(out.status === 'completed'
              ? [{ type: 'resource_link' as const, uri: `review://${input.project_id}/${out.id}`, name: `review ${out.id}`, mimeType: 'text/markdown' }]
              : []),
          ],
          structuredContent: out,
        };
      } catch (e) {
        return toolError(e, c.logger);
      }
    },
  );

  server.registerTool(
    'get_review',
    {
      title: 'Get a review',
      description: 'A review with its status, progress, verdict, score and findings.',
      inputSchema: { review_id: z.string().uuid().describe('the review id (from review_code or list_reviews)') },
      outputSchema: ReviewOut,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ review_id }) => {
      try {
        await c.ready;
        const out = ReviewOut.parse(await c.backend.getReview(review_id));
        const done = ['completed', 'failed', 'cancelled'].includes(out.status);
        return { content: jsonText(summarize(out, done), out), structuredContent: out };
      } catch (e) {
        return toolError(e, c.logger);
      }
    },
  );

  server.registerTool(
    'list_reviews',
    {
      title: 'List reviews',
      description: 'Reviews you can see, newest first, filtered by project, status, task, developer, score or date; page with next_cursor.',
      inputSchema: {
        project: z.string().min(1).max(200).optional().describe('project id or slug'),
        status: ReviewStatus.optional(),
        task_id: z.string().min(1).max(100).optional(),
        developer: z.string().uuid().optional().describe('user id of the developer'),
        min_score: z.number().min(0).max(10).optional(),
        since: z.string().datetime({ offset: true }).optional().describe('ISO date-time'),
        cursor: z.string().max(200).optional(),
        limit: z.number().int().min(1).max(200).optional().describe('default 20'),
      },
      outputSchema: ReviewPage,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a) => {
      try {
        await c.ready;
        const q = ListReviewsQuery.parse({ ...a, limit: a.limit ?? 20 });
        const page = ReviewPage.parse(await c.backend.listReviews(q));
        return { content: jsonText(`${page.items.length} review(s)${page.next_cursor ? '; more with next_cursor' : ''}.`, page), structuredContent: page };
      } catch (e) {
        return toolError(e, c.logger);
      }
    },
  );
}
