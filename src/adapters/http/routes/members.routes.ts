import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { getProjectMember } from '../../../core/tenancy/get-project-member.js';
import { listProjectMembers } from '../../../core/tenancy/list-project-members.js';
import { ListMembersQuery, ProjectMemberOut, SetProjectMemberInput } from '../../../core/tenancy/member.schemas.js';
import { removeProjectMember } from '../../../core/tenancy/remove-project-member.js';
import { setProjectMember } from '../../../core/tenancy/set-project-member.js';
import { actorOf, ctxOf } from '../plugins/auth.js';
import { errorResponses, pageOf, ProjectParam } from './common.schemas.js';

// PostgreSQL text cannot hold control characters like NUL: refuse them as bad input, not a 500.
const ProjectRefParam = ProjectParam.extend({ project: ProjectParam.shape.project.regex(/^\P{Cc}+$/u, 'project: an id or a slug') });
const UserRef = z
  .string()
  .max(320)
  .regex(/^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[^\s@\p{Cc}]+@[^\s@\p{Cc}]+)$/iu, 'user: a user id or an email')
  .describe('user id or email of an org member');
const MemberParams = ProjectRefParam.extend({ user: UserRef });

export function memberRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['project members'];

  r.get('/v1/projects/:project/members', {
    schema: {
      tags,
      summary: 'List the members of a project (viewer)',
      params: ProjectRefParam,
      querystring: ListMembersQuery,
      response: { 200: pageOf(ProjectMemberOut), ...errorResponses },
    },
  }, async (req) => listProjectMembers(deps, actorOf(req), req.params.project, req.query));

  r.get('/v1/projects/:project/members/:user', {
    schema: { tags, summary: "Get a member's project role (viewer)", params: MemberParams, response: { 200: ProjectMemberOut, ...errorResponses } },
  }, async (req) => getProjectMember(deps, actorOf(req), req.params.project, req.params.user));

  r.put('/v1/projects/:project/members/:user', {
    schema: {
      tags,
      summary: 'Grant or change a member role on the project (project admin); the user must belong to the org',
      params: MemberParams,
      body: SetProjectMemberInput,
      response: { 200: ProjectMemberOut, ...errorResponses },
    },
  }, async (req) => setProjectMember(deps, ctxOf(req), req.params.project, req.params.user, req.body));

  r.delete('/v1/projects/:project/members/:user', {
    schema: {
      tags,
      summary: 'Remove a member from the project (project admin)',
      params: MemberParams,
      response: { 200: z.object({ project_id: z.string(), user_id: z.string(), removed: z.literal(true) }), ...errorResponses },
    },
  }, async (req) => removeProjectMember(deps, ctxOf(req), req.params.project, req.params.user));
}
