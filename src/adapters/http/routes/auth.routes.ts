import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { LoginInput, LogoutInput, MeOut, RefreshInput, SessionOut, SignupInput } from '../../../core/tenancy/auth.schemas.js';
import { getMe } from '../../../core/tenancy/get-me.js';
import { login } from '../../../core/tenancy/login.js';
import { logout } from '../../../core/tenancy/logout.js';
import { refreshSession } from '../../../core/tenancy/refresh-session.js';
import type { RequestInfo } from '../../../core/tenancy/session.js';
import { signup } from '../../../core/tenancy/signup.js';
import { actorOf } from '../plugins/auth.js';
import { ErrorResponse, errorResponses } from './common.schemas.js';

function requestInfo(req: FastifyRequest): RequestInfo {
  const ua = req.headers['user-agent'];
  return { ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null, correlationId: req.id };
}

export function authRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['auth'];
  // Per IP and per route, in this process's memory: with several API processes each allows the limit.
  const limited = { public: true, rateLimit: { max: deps.config.auth.rateLimitPerMinute, timeWindow: '1 minute' } };
  const authErrors = { ...errorResponses, 410: ErrorResponse };

  r.post('/v1/auth/signup', {
    config: limited,
    schema: {
      tags,
      summary: 'Create an account (open signup: with your own org; invite signup: joining the inviting org)',
      security: [],
      body: SignupInput,
      response: { 201: SessionOut, ...authErrors },
    },
  }, async (req, reply) => reply.status(201).send(await signup(deps, requestInfo(req), req.body)));

  r.post('/v1/auth/login', {
    config: limited,
    schema: { tags, summary: 'Log in with email and password', security: [], body: LoginInput, response: { 200: SessionOut, ...errorResponses } },
  }, async (req) => login(deps, req.body));

  r.post('/v1/auth/refresh', {
    config: limited,
    schema: {
      tags,
      summary: 'Rotate a refresh token (each is good once; reuse revokes the whole family)',
      security: [],
      body: RefreshInput,
      response: { 200: SessionOut, ...errorResponses },
    },
  }, async (req) => refreshSession(deps, req.body));

  r.post('/v1/auth/logout', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Revoke a refresh token and every token rotated from the same login',
      security: [],
      body: LogoutInput,
      response: { 200: z.object({ ok: z.literal(true), revoked: z.number().int() }), ...errorResponses },
    },
  }, async (req) => logout(deps, req.body));

  r.get('/v1/auth/me', {
    schema: { tags, summary: 'The caller: user, current org and role, all orgs, API key limits, quota', response: { 200: MeOut, ...errorResponses } },
  }, async (req) => getMe(deps, actorOf(req)));
}
