import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, type ErrorCode } from '../../../core/errors.js';
import { classifyDbFault, type DbFault } from '../../../db/availability.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
  correlation_id: string;
}

export function sendError(reply: FastifyReply, req: FastifyRequest, status: number, code: string, message: string, details?: unknown) {
  const body: ErrorBody = { error: { code, message, ...(details !== undefined && { details }) }, correlation_id: req.id };
  return reply.status(status).type('application/json; charset=utf-8').send(body);
}

/** Fastify's own error codes → our codes. Anything unknown is a 500 with a generic message. */
const FASTIFY_CODES: Record<string, [number, ErrorCode]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'bad_request'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'bad_request'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'bad_request'],
  FST_ERR_CTP_EMPTY_TYPE: [400, 'bad_request'],
  FST_ERR_CTP_INVALID_TYPE: [400, 'bad_request'],
  FST_ERR_VALIDATION: [400, 'validation_failed'],
  FST_ERR_BAD_URL: [400, 'bad_request'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'bad_request'],
  FST_ERR_INVALID_URL: [400, 'bad_request'],
};

/** Seconds a client should wait before retrying a request refused because of the database. */
export const DB_RETRY_AFTER_S = 2;

/** 503 for a database fault (see plugins/db-faults.ts): never a 500, never a hang. */
export function sendDbFault(req: FastifyRequest, reply: FastifyReply, fault: DbFault) {
  req.dbFault = fault;
  reply.header('retry-after', String(DB_RETRY_AFTER_S));
  const message = fault === 'database_timeout' ? 'the database did not answer in time; retry shortly' : 'the database is unavailable; retry shortly';
  return sendError(reply, req, 503, fault, message);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError & { code?: string; retryAfter?: number }, req, reply) => {
    if (err instanceof AppError) {
      if (err.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
      return sendError(reply, req, err.status, err.code, err.message, err.details);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'request'}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''}`,
        message: v.message,
      }));
      return sendError(reply, req, 400, 'validation_failed', 'the request is not valid', details);
    }
    if (isResponseSerializationError(err)) {
      req.log.error({ err }, 'response did not match its schema');
      return sendError(reply, req, 500, 'internal', 'internal error');
    }
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped) return sendError(reply, req, mapped[0], mapped[1], err.message);
    if (err.statusCode === 429) {
      return sendError(reply, req, 429, 'rate_limited', err.message || 'too many requests');
    }
    const fault = classifyDbFault(err);
    if (fault) {
      if (fault === 'database_unavailable') req.server.dbAvailability?.markDown();
      req.log.warn({ err: { message: err.message, code: err.code } }, fault === 'database_timeout' ? 'database timed out' : 'database unavailable');
      return sendDbFault(req, reply, fault);
    }
    // PostgreSQL class 22 (data exception: NUL in text, value out of range, bad encoding…) means a
    // request value the database refuses: the client's input, not our failure.
    if (typeof err.code === 'string' && /^22[0-9A-Z]{3}$/.test(err.code)) {
      req.log.warn({ pg_code: err.code }, 'database rejected a request value');
      return sendError(reply, req, 400, 'bad_request', 'a value in the request is not valid');
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, req, err.statusCode, 'bad_request', err.message);
    }
    req.log.error({ err }, 'unhandled error');
    return sendError(reply, req, 500, 'internal', 'internal error');
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, req, 404, 'not_found', `no route for ${req.method} ${req.url.split('?')[0]}`));
}
