import { z } from 'zod';
import { PASSWORD_MAX, PASSWORD_MIN } from './password.js';

const Email = z.string().trim().toLowerCase().email().max(320);
/** A display name: PostgreSQL text cannot hold NUL, and control characters have no place in one. */
export const DisplayName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !hasControlChar(s), 'must not contain control characters');

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Signed JWTs are a few hundred bytes; the cap only stops abuse. */
const Jwt = z.string().min(1).max(4096);

export const SignupInput = z.object({
  email: Email,
  password: z.string().min(PASSWORD_MIN, `password: at least ${PASSWORD_MIN} characters`).max(PASSWORD_MAX),
  name: DisplayName,
  /** Open signup: the name of the org created for you (default: "<name>'s org"). */
  org_name: DisplayName.optional(),
  /** Join the inviting org instead of creating one (required when signup is 'invite'). */
  invite_token: z.string().min(1).max(512).optional(),
});
export type SignupInput = z.infer<typeof SignupInput>;

export const LoginInput = z.object({
  email: Email,
  // No policy check at login (old passwords stay usable); only the cap that keeps hashing cheap.
  password: z.string().min(1).max(PASSWORD_MAX),
  org_id: z.string().uuid().optional(),
});
export type LoginInput = z.infer<typeof LoginInput>;

export const RefreshInput = z.object({ refresh_token: Jwt, org_id: z.string().uuid().optional() });
export type RefreshInput = z.infer<typeof RefreshInput>;

export const LogoutInput = z.object({ refresh_token: Jwt });
export type LogoutInput = z.infer<typeof LogoutInput>;

export const OrgRoleEnum = z.enum(['owner', 'admin', 'member']);

export const OrgSummaryOut = z.object({
  id: z.string().uuid(),
  name: z.string(),
  slug: z.string(),
  tier: z.enum(['free', 'pro', 'enterprise']),
  role: OrgRoleEnum,
});
export type OrgSummaryOut = z.infer<typeof OrgSummaryOut>;

export const UserOut = z.object({ id: z.string().uuid(), email: z.string(), name: z.string() });
export type UserOut = z.infer<typeof UserOut>;

export const SessionOut = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('Bearer'),
  /** Seconds until the access token expires. */
  expires_in: z.number().int(),
  user: UserOut,
  org: OrgSummaryOut,
  orgs: z.array(OrgSummaryOut),
});
export type SessionOut = z.infer<typeof SessionOut>;

export const QuotaOut = z.object({
  tier: z.enum(['free', 'pro', 'enterprise']),
  max_projects: z.number().int(),
  max_concurrent_reviews: z.number().int(),
  monthly_budget_usd: z.number(),
});

export const MeOut = z.object({
  user: UserOut,
  org: OrgSummaryOut,
  orgs: z.array(OrgSummaryOut),
  api_key: z
    .object({
      id: z.string().uuid(),
      project_ids: z.array(z.string().uuid()).nullable(),
      max_role: z.enum(['admin', 'reviewer', 'viewer']).nullable(),
    })
    .nullable(),
  quota: QuotaOut,
});
export type MeOut = z.infer<typeof MeOut>;
