import type { CoreDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from '../tenancy/actor.js';
import { findProject } from '../tenancy/projects.repo.js';
import { isOrgAdmin } from '../tenancy/rbac.js';
import { aggregateUsage } from './usage.repo.js';
import type { UsageOut, UsageQueryInput } from './usage.schemas.js';

export function monthStart(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

/**
 * LLM usage and cost from the ledger, grouped by org, project, user, API key, model or day.
 * Org admins with an unrestricted credential see the whole org; everyone else sees their own
 * calls (and a project-limited key only its projects).
 */
export async function getUsage(deps: CoreDeps, actor: Actor, q: UsageQueryInput): Promise<UsageOut> {
  const now = deps.clock.now();
  const from = q.from ? new Date(q.from) : monthStart(now);
  const to = q.to ? new Date(q.to) : now;
  const whole = isOrgAdmin(actor) && actor.keyProjectIds === null;
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      let projectId: string | undefined;
      if (q.project) {
        const p = await findProject(tx, q.project);
        if (!p || (actor.keyProjectIds && !actor.keyProjectIds.includes(p.id))) throw notFound('project');
        projectId = p.id;
      }
      const items = await aggregateUsage(tx, q.group_by, {
        from,
        to,
        projectId,
        userId: whole ? undefined : actor.userId,
        projectIds: actor.keyProjectIds ?? undefined,
      });
      const sum = (k: keyof (typeof items)[number]) => items.reduce((a, r) => a + Number(r[k] ?? 0), 0);
      const calls = sum('calls');
      const weighted = (k: 'avg_latency_ms' | 'avg_wait_ms') => (calls ? items.reduce((a, r) => a + r[k] * r.calls, 0) / calls : 0);
      return {
        group_by: q.group_by,
        from: from.toISOString(),
        to: to.toISOString(),
        scope: whole ? 'org' : 'self',
        items: items.map((r) => ({ ...r, cost_usd: round6(r.cost_usd), avg_latency_ms: Math.round(r.avg_latency_ms), avg_wait_ms: Math.round(r.avg_wait_ms) })),
        total: {
          calls,
          ok_calls: sum('ok_calls'),
          failed_calls: sum('failed_calls'),
          input_tokens: sum('input_tokens'),
          output_tokens: sum('output_tokens'),
          cache_creation_tokens: sum('cache_creation_tokens'),
          cache_read_tokens: sum('cache_read_tokens'),
          cost_usd: round6(sum('cost_usd')),
          avg_latency_ms: Math.round(weighted('avg_latency_ms')),
          avg_wait_ms: Math.round(weighted('avg_wait_ms')),
        },
      };
    },
    { userId: actor.userId },
  );
}

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
