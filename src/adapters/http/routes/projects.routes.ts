import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { createProject } from '../../../core/tenancy/create-project.js';
import { deleteProject } from '../../../core/tenancy/delete-project.js';
import { getProject } from '../../../core/tenancy/get-project.js';
import { listProjects } from '../../../core/tenancy/list-projects.js';
import { CreateProjectInput, ProjectOut, UpdateProjectInput } from '../../../core/tenancy/project.schemas.js';
import { updateProject } from '../../../core/tenancy/update-project.js';
import { actorOf, ctxOf } from '../plugins/auth.js';
import { errorResponses, PageQuery, pageOf, ProjectParam } from './common.schemas.js';

export function projectRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['projects'];

  r.get('/v1/projects', {
    schema: { tags, summary: 'List projects you can see', querystring: PageQuery, response: { 200: pageOf(ProjectOut), ...errorResponses } },
  }, async (req) => listProjects(deps, actorOf(req), req.query));

  r.post('/v1/projects', {
    schema: { tags, summary: 'Create a project (org admin)', body: CreateProjectInput, response: { 201: ProjectOut, ...errorResponses } },
  }, async (req, reply) => reply.status(201).send(await createProject(deps, ctxOf(req), req.body)));

  r.get('/v1/projects/:project', {
    schema: { tags, summary: 'Get a project by id or slug', params: ProjectParam, response: { 200: ProjectOut, ...errorResponses } },
  }, async (req) => getProject(deps, actorOf(req), req.params.project));

  r.patch('/v1/projects/:project', {
    schema: { tags, summary: 'Update a project (project admin)', params: ProjectParam, body: UpdateProjectInput, response: { 200: ProjectOut, ...errorResponses } },
  }, async (req) => updateProject(deps, ctxOf(req), req.params.project, req.body));

  r.delete('/v1/projects/:project', {
    schema: {
      tags,
      summary: 'Delete a project and everything in it (org admin)',
      params: ProjectParam,
      response: { 200: z.object({ id: z.string(), deleted: z.literal(true) }), ...errorResponses },
    },
  }, async (req) => deleteProject(deps, ctxOf(req), req.params.project));
}
