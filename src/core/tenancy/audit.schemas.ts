import { z } from 'zod';

// Query strings arrive as strings; dates are validated here and parsed in the use case, so the
// OpenAPI document shows plain date-time strings rather than an unrepresentable transform.
export const AuditQueryInput = z.object({
  actor: z.string().uuid().optional(),
  /** Project id or slug. */
  project: z.string().min(1).max(200).regex(/^\P{Cc}+$/u, 'project: an id or a slug').optional(),
  action: z.string().min(1).max(100).regex(/^[A-Za-z0-9._:-]+$/, 'action: letters, digits, ".", "_", ":" or "-"').optional(),
  since: z.string().datetime({ offset: true }).optional(),
  until: z.string().datetime({ offset: true }).optional(),
  /** The id of the last entry of the previous page. */
  cursor: z.string().regex(/^[1-9][0-9]{0,17}$/, 'cursor: an audit entry id').optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type AuditQueryInput = z.infer<typeof AuditQueryInput>;

export const AuditEntryOut = z.object({
  id: z.string(),
  org_id: z.string().uuid(),
  actor_user_id: z.string().uuid().nullable(),
  api_key_id: z.string().uuid().nullable(),
  project_id: z.string().uuid().nullable(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  correlation_id: z.string().nullable(),
  diff: z.record(z.string(), z.unknown()).nullable(),
  created_at: z.string(),
});
export type AuditEntryOut = z.infer<typeof AuditEntryOut>;
