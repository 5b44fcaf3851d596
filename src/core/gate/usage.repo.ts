import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { USAGE_GROUPS } from './usage.schemas.js';

export interface UsageFilter {
  from: Date;
  to: Date;
  projectId?: string | undefined;
  userId?: string | undefined;
  projectIds?: string[] | undefined;
}

export interface UsageAggregate {
  key: string | null;
  label: string | null;
  calls: number;
  ok_calls: number;
  failed_calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number;
  avg_latency_ms: number;
  avg_wait_ms: number;
}

const GROUP_EXPR = {
  org: sql<string>`u.org_id::text`,
  project: sql<string>`u.project_id::text`,
  user: sql<string>`u.user_id::text`,
  key: sql<string>`u.api_key_id::text`,
  model: sql<string>`u.model`,
  day: sql<string>`to_char(u.created_at at time zone 'UTC', 'YYYY-MM-DD')`,
} as const;

const LABEL_EXPR = {
  org: sql<string>`(select o.slug from orgs o where o.id = u.org_id)`,
  project: sql<string>`(select p.slug from projects p where p.id = u.project_id)`,
  user: sql<string>`(select x.email from users x where x.id = u.user_id)`,
  key: sql<string>`(select k.name from api_keys k where k.id = u.api_key_id)`,
  model: sql<string | null>`null`,
  day: sql<string | null>`null`,
} as const;

/** Ledger totals grouped one way, most expensive first (RLS scopes it to the org). */
export async function aggregateUsage(tx: Transaction<Database>, group: (typeof USAGE_GROUPS)[number], f: UsageFilter): Promise<UsageAggregate[]> {
  const conds = [sql`u.created_at >= ${f.from}`, sql`u.created_at < ${f.to}`];
  if (f.projectId) conds.push(sql`u.project_id = ${f.projectId}`);
  if (f.userId) conds.push(sql`u.user_id = ${f.userId}`);
  if (f.projectIds) conds.push(sql`u.project_id = any(${f.projectIds}::uuid[])`);
  const g = GROUP_EXPR[group];
  const { rows } = await sql<UsageAggregate>`
    select ${g} as key, max(${LABEL_EXPR[group]}) as label,
           count(*)::int as calls,
           (count(*) filter (where u.outcome = 'ok'))::int as ok_calls,
           (count(*) filter (where u.outcome <> 'ok'))::int as failed_calls,
           coalesce(sum(u.input_tokens), 0)::int as input_tokens,
           coalesce(sum(u.output_tokens), 0)::int as output_tokens,
           coalesce(sum(u.cache_creation_tokens), 0)::int as cache_creation_tokens,
           coalesce(sum(u.cache_read_tokens), 0)::int as cache_read_tokens,
           coalesce(sum(u.cost_usd), 0)::float8 as cost_usd,
           coalesce(avg(u.latency_ms), 0)::float8 as avg_latency_ms,
           coalesce(avg(u.wait_ms), 0)::float8 as avg_wait_ms
      from usage_ledger u
     where ${sql.join(conds, sql` and `)}
     group by 1
     order by cost_usd desc, calls desc, key`.execute(tx);
  return rows;
}
