import { z } from 'zod';

export const USAGE_GROUPS = ['org', 'project', 'user', 'key', 'model', 'day'] as const;

export const UsageQueryInput = z
  .object({
    group_by: z.enum(USAGE_GROUPS).default('org'),
    from: z.string().datetime({ offset: true }).optional().describe('inclusive; default: the start of the current month (UTC)'),
    to: z.string().datetime({ offset: true }).optional().describe('exclusive; default: now'),
    project: z.string().min(1).max(200).regex(/^\P{Cc}*$/u).optional().describe('only this project (id or slug)'),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), { message: 'from must be before to', path: ['from'] });
export type UsageQueryInput = z.infer<typeof UsageQueryInput>;

const Totals = {
  calls: z.number().int(),
  ok_calls: z.number().int(),
  failed_calls: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cache_creation_tokens: z.number().int(),
  cache_read_tokens: z.number().int(),
  cost_usd: z.number(),
  avg_latency_ms: z.number(),
  avg_wait_ms: z.number(),
};

export const UsageRowOut = z.object({
  key: z.string().nullable().describe('the group: an id, a model name or a day (YYYY-MM-DD); null = not attributed'),
  label: z.string().nullable().describe('project slug, user email or key name when the group has one'),
  ...Totals,
});
export type UsageRowOut = z.infer<typeof UsageRowOut>;

export const UsageOut = z.object({
  group_by: z.enum(USAGE_GROUPS),
  from: z.string(),
  to: z.string(),
  /** Only the caller's own calls (members who are not org admins). */
  scope: z.enum(['org', 'self']),
  items: z.array(UsageRowOut),
  total: z.object(Totals),
});
export type UsageOut = z.infer<typeof UsageOut>;

export const LIMIT_SCOPES = ['org', 'project', 'user', 'key'] as const;

const money = z.number().min(0).max(1_000_000_000);
export const SetLimitInput = z
  .strictObject({
    scope: z.enum(LIMIT_SCOPES),
    subject: z.string().min(1).max(200).regex(/^\P{Cc}*$/u).optional().describe('project id or slug, user id or email, API key id; omitted for the org'),
    monthly_budget_usd: money.nullable().optional().describe('null removes the budget at this level'),
    rpm: z.number().int().min(1).max(10_000_000).nullable().optional(),
    tpm: z.number().int().min(1).max(10_000_000_000).nullable().optional(),
  })
  .refine((v) => v.scope === 'org' || v.subject !== undefined, { message: 'subject is required for this scope', path: ['subject'] })
  .refine((v) => v.scope !== 'project' || (v.rpm == null && v.tpm == null), { message: 'projects have budgets, not rate limits', path: ['rpm'] })
  .refine((v) => v.scope !== 'key' || v.monthly_budget_usd == null, { message: 'API keys have rate limits, not budgets', path: ['monthly_budget_usd'] });
export type SetLimitInput = z.infer<typeof SetLimitInput>;

export const LimitOut = z.object({
  id: z.string(),
  scope: z.enum(LIMIT_SCOPES),
  subject_id: z.string(),
  monthly_budget_usd: z.number().nullable(),
  rpm: z.number().int().nullable(),
  tpm: z.number().int().nullable(),
  spent_this_month_usd: z.number().nullable().describe('month-to-date spend of this subject (budget scopes)'),
  updated_at: z.string(),
});
export type LimitOut = z.infer<typeof LimitOut>;

export const LimitsOut = z.object({
  month: z.string(),
  tier: z.enum(['free', 'pro', 'enterprise']),
  /** What applies where there is no row: the tier's org budget and the server's configured rate limits. */
  defaults: z.object({
    org_monthly_budget_usd: z.number(),
    org: z.object({ rpm: z.number().nullable(), tpm: z.number().nullable() }),
    user: z.object({ rpm: z.number().nullable(), tpm: z.number().nullable() }),
    key: z.object({ rpm: z.number().nullable(), tpm: z.number().nullable() }),
  }),
  org_spent_this_month_usd: z.number(),
  items: z.array(LimitOut),
});
export type LimitsOut = z.infer<typeof LimitsOut>;
