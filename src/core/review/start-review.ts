import { randomUUID } from 'node:crypto';
import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import { enqueueJob } from '../jobs/enqueue.js';
import { validateRef } from '../git/refs.js';
import type { RequestContext } from '../tenancy/actor.js';
import { insertAudit } from '../tenancy/audit.repo.js';
import { loadProjectFor } from '../tenancy/project-access.js';
import { resolvePanel } from './panel.js';
import { emitReviewEvent } from './review-events.js';
import type { ReviewOut, StartReviewInput } from './review.schemas.js';
import { reviewOut, type StoredTarget } from './reviews.repo.js';

const JOB_PRIORITY = { high: -10, normal: 0, low: 10 } as const;

/**
 * Queues a review of a change in a project. The review belongs to the caller (developer_id is the
 * authenticated user). The row, its `review.queued` event, the job and the audit row are written in
 * one transaction: a review is never accepted without the job that will run it.
 */
export async function startReview(deps: CoreDeps, ctx: RequestContext, input: StartReviewInput): Promise<ReviewOut> {
  return withTenant(
    deps.db,
    ctx.actor.orgId,
    async (tx) => {
      const { project } = await loadProjectFor(tx, ctx.actor, input.project_id, 'reviewer');
      let target: StoredTarget;
      if (!input.target) target = { kind: 'last_commit', branch: validateRef(project.defaultBranch) };
      else if ('diff' in input.target) target = { kind: 'diff', diff: input.target.diff };
      else target = { kind: 'refs', base: validateRef(input.target.base), head: validateRef(input.target.head) };
      const panel = resolvePanel(project.settings, input.reviewers);
      const id = randomUUID();
      const row = await tx
        .insertInto('reviews')
        .values({
          id,
          org_id: ctx.actor.orgId,
          project_id: project.id,
          task_id: input.task_id,
          developer_id: ctx.actor.userId,
          api_key_id: ctx.actor.apiKeyId,
          priority: input.priority,
          target: JSON.stringify(target),
          panel: JSON.stringify(panel),
          correlation_id: ctx.correlationId,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await emitReviewEvent(tx, row, ctx.correlationId, 'review.queued', { task_id: input.task_id, priority: input.priority, total: panel.length });
      await enqueueJob(
        tx,
        'run_review',
        { org_id: ctx.actor.orgId, review_id: id, correlation_id: ctx.correlationId },
        { jobKey: `review:${id}`, priority: JOB_PRIORITY[input.priority], maxAttempts: 10 },
      );
      await insertAudit(tx, ctx, {
        action: 'review.start',
        projectId: project.id,
        targetType: 'review',
        targetId: id,
        diff: { task_id: input.task_id, target: target.kind, reviewers: panel.map((p) => p.persona), priority: input.priority },
      });
      return reviewOut(row, { completed: 0, findingsCount: 0 });
    },
    { userId: ctx.actor.userId },
  );
}
