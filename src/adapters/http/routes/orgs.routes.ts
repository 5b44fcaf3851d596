import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CoreDeps } from '../../../core/deps.js';
import { acceptInvite } from '../../../core/tenancy/accept-invite.js';
import { createInvite } from '../../../core/tenancy/create-invite.js';
import { getCurrentOrg } from '../../../core/tenancy/get-current-org.js';
import { listInvites } from '../../../core/tenancy/list-invites.js';
import { listOrgMembers } from '../../../core/tenancy/list-org-members.js';
import {
  AcceptedInviteOut,
  AcceptInviteInput,
  CreatedInviteOut,
  CreateInviteInput,
  InviteOut,
  InviteParam,
  MemberOut,
  MemberParam,
  OrgOut,
  RemovedMemberOut,
  UpdateMemberInput,
  UpdateOrgInput,
} from '../../../core/tenancy/org.schemas.js';
import { removeOrgMember } from '../../../core/tenancy/remove-org-member.js';
import { revokeInvite } from '../../../core/tenancy/revoke-invite.js';
import { updateCurrentOrg } from '../../../core/tenancy/update-current-org.js';
import { updateOrgMember } from '../../../core/tenancy/update-org-member.js';
import { actorOf, ctxOf } from '../plugins/auth.js';
import { ErrorResponse, errorResponses, PageQuery, pageOf } from './common.schemas.js';

export function orgRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['orgs'];
  const inviteErrors = { ...errorResponses, 410: ErrorResponse };

  r.get('/v1/orgs/current', {
    schema: { tags, summary: 'The org your credential acts in, your role and its tier', response: { 200: OrgOut, ...errorResponses } },
  }, async (req) => getCurrentOrg(deps, actorOf(req)));

  r.patch('/v1/orgs/current', {
    schema: { tags, summary: 'Rename the org (owner/admin)', body: UpdateOrgInput, response: { 200: OrgOut, ...errorResponses } },
  }, async (req) => updateCurrentOrg(deps, ctxOf(req), req.body));

  r.get('/v1/orgs/current/members', {
    schema: { tags, summary: 'List org members (any member)', querystring: PageQuery, response: { 200: pageOf(MemberOut), ...errorResponses } },
  }, async (req) => listOrgMembers(deps, actorOf(req), req.query));

  r.put('/v1/orgs/current/members/:user', {
    schema: {
      tags,
      summary: "Change a member's org role (owner/admin; only owners touch the owner role; the last owner stays)",
      params: MemberParam,
      body: UpdateMemberInput,
      response: { 200: MemberOut, ...errorResponses },
    },
  }, async (req) => updateOrgMember(deps, ctxOf(req), req.params.user, req.body));

  r.delete('/v1/orgs/current/members/:user', {
    schema: {
      tags,
      summary: 'Remove a member, with their project roles and API keys in this org (owner/admin)',
      params: MemberParam,
      response: { 200: RemovedMemberOut, ...errorResponses },
    },
  }, async (req) => removeOrgMember(deps, ctxOf(req), req.params.user));

  r.post('/v1/orgs/current/invites', {
    schema: {
      tags,
      summary: 'Invite someone by email (owner/admin); the token is shown once',
      body: CreateInviteInput,
      response: { 201: CreatedInviteOut, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await createInvite(deps, ctxOf(req), req.body)));

  r.get('/v1/orgs/current/invites', {
    schema: { tags, summary: 'List invites (owner/admin)', querystring: PageQuery, response: { 200: pageOf(InviteOut), ...errorResponses } },
  }, async (req) => listInvites(deps, actorOf(req), req.query));

  r.delete('/v1/orgs/current/invites/:id', {
    schema: { tags, summary: 'Revoke a pending invite (owner/admin)', params: InviteParam, response: { 200: InviteOut, ...inviteErrors } },
  }, async (req) => revokeInvite(deps, ctxOf(req), req.params.id));

  r.post('/v1/invites/accept', {
    schema: {
      tags,
      summary: "Join the invite's org (the invite must be addressed to your email)",
      body: AcceptInviteInput,
      response: { 200: AcceptedInviteOut, ...inviteErrors },
    },
  }, async (req) => acceptInvite(deps, ctxOf(req), req.body));
}
