import { z } from 'zod';

export const ProjectRoleEnum = z.enum(['admin', 'reviewer', 'viewer']);

export const SetProjectMemberInput = z.object({ role: ProjectRoleEnum });
export type SetProjectMemberInput = z.infer<typeof SetProjectMemberInput>;

/** An explicit project membership. Org owners/admins are admins of every project without a row here. */
export const ProjectMemberOut = z.object({
  project_id: z.string().uuid(),
  user_id: z.string().uuid(),
  email: z.string(),
  name: z.string(),
  role: ProjectRoleEnum,
  created_at: z.string(),
});
export type ProjectMemberOut = z.infer<typeof ProjectMemberOut>;

export const ListMembersQuery = z.object({
  /** The last user_id of the previous page. */
  cursor: z.string().uuid().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListMembersQuery = z.infer<typeof ListMembersQuery>;
