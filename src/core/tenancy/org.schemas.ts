import { z } from 'zod';
import { DisplayName, OrgRoleEnum, OrgSummaryOut, QuotaOut } from './auth.schemas.js';

export const OrgOut = OrgSummaryOut.extend({ created_at: z.string(), quota: QuotaOut });
export type OrgOut = z.infer<typeof OrgOut>;

export const UpdateOrgInput = z.object({ name: DisplayName });
export type UpdateOrgInput = z.infer<typeof UpdateOrgInput>;

export const MemberOut = z.object({
  user_id: z.string().uuid(),
  email: z.string(),
  name: z.string(),
  role: OrgRoleEnum,
  joined_at: z.string(),
});
export type MemberOut = z.infer<typeof MemberOut>;

export const MemberParam = z.object({ user: z.string().uuid() });

export const UpdateMemberInput = z.object({ role: OrgRoleEnum });
export type UpdateMemberInput = z.infer<typeof UpdateMemberInput>;

export const RemovedMemberOut = z.object({ user_id: z.string().uuid(), removed: z.literal(true) });

export const CreateInviteInput = z.object({
  email: z.string().trim().toLowerCase().email().max(320),
  // Owners are made by promotion of an existing member, never by invite.
  role: z.enum(['admin', 'member']),
  expires_in_days: z.number().int().min(1).max(90).default(7),
});
export type CreateInviteInput = z.infer<typeof CreateInviteInput>;

export const InviteStatus = z.enum(['pending', 'accepted', 'revoked', 'expired']);

export const InviteOut = z.object({
  id: z.string().uuid(),
  email: z.string(),
  role: z.enum(['admin', 'member']),
  status: InviteStatus,
  expires_at: z.string(),
  accepted_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  created_by: z.string().uuid().nullable(),
  created_at: z.string(),
});
export type InviteOut = z.infer<typeof InviteOut>;

export const CreatedInviteOut = InviteOut.extend({
  /** Shown once; only its SHA-256 hash is stored. */
  token: z.string(),
});
export type CreatedInviteOut = z.infer<typeof CreatedInviteOut>;

export const InviteParam = z.object({ id: z.string().uuid() });

export const AcceptInviteInput = z.object({ token: z.string().min(1).max(512) });
export type AcceptInviteInput = z.infer<typeof AcceptInviteInput>;

export const AcceptedInviteOut = z.object({ org: OrgSummaryOut });
export type AcceptedInviteOut = z.infer<typeof AcceptedInviteOut>;
