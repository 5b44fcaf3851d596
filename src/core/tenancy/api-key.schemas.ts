import { z } from 'zod';

export const CreateApiKeyInput = z.object({
  name: z.string().trim().min(1).max(200),
  /** Limit the key to these projects (ids or slugs); omitted = every project the user can reach. */
  projects: z.array(z.string().min(1).max(200)).max(100).optional(),
  max_role: z.enum(['admin', 'reviewer', 'viewer']).optional(),
  expires_in_days: z.number().int().min(1).max(3650).optional(),
  /** Org admins may create a key for another member of the org. */
  user_id: z.string().uuid().optional(),
});
export type CreateApiKeyInput = z.infer<typeof CreateApiKeyInput>;

export const ApiKeyOut = z.object({
  id: z.string().uuid(),
  name: z.string(),
  prefix: z.string(),
  user_id: z.string().uuid(),
  project_ids: z.array(z.string().uuid()).nullable(),
  max_role: z.enum(['admin', 'reviewer', 'viewer']).nullable(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  created_at: z.string(),
});
export type ApiKeyOut = z.infer<typeof ApiKeyOut>;

export const CreatedApiKeyOut = ApiKeyOut.extend({
  /** Shown once, never stored in clear. */
  api_key: z.string(),
});
export type CreatedApiKeyOut = z.infer<typeof CreatedApiKeyOut>;
