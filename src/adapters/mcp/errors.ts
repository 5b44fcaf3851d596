import { ErrorCode as RpcCode, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { AppError } from '../../core/errors.js';
import { ProviderError } from '../../core/llm/providers/provider.js';

/** Where an error result carries its machine-readable code (besides the `code: message` text). */
export const ERROR_META_KEY = 'quorum/error';

export interface ToolErrorBody {
  /** An ErrorCode (the same string REST answers with). */
  code: string;
  message: string;
  details?: unknown;
}

/** Any failure as the { code, message } a REST client would get for it (same codes as REST). */
export function errorBody(e: unknown): ToolErrorBody {
  if (e instanceof AppError) return { code: e.code, message: e.message, ...(e.details !== undefined && { details: e.details }) };
  if (e instanceof ProviderError) return errorBody(e.toAppError());
  if (e instanceof ZodError) {
    return { code: 'validation_failed', message: e.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ') };
  }
  const pgCode = (e as { code?: unknown }).code;
  if (typeof pgCode === 'string' && /^22/.test(pgCode)) return { code: 'bad_request', message: 'the input holds a value the database refuses' };
  return { code: 'internal', message: 'internal error' };
}

/**
 * An MCP error result: `isError`, the text `code: message` for the model, and the structured error
 * under `_meta` for programs. Not `structuredContent`: clients validate that against the tool's
 * output schema even on errors.
 */
export function toolError(e: unknown, log?: Logger): CallToolResult {
  const body = errorBody(e);
  if (body.code === 'internal') log?.error({ err: e }, 'MCP tool failed');
  return { isError: true, content: [{ type: 'text', text: `${body.code}: ${body.message}` }], _meta: { [ERROR_META_KEY]: body } };
}

/** The SDK's own failures (input validation, unknown tool) as results with a code too. */
export function sdkToolError(message: string): CallToolResult {
  const code = /^(MCP error -?\d+: )?Input validation error/.test(message) ? 'validation_failed' : /not found/.test(message) ? 'not_found' : 'bad_request';
  return toolError(new AppError(code, message));
}

/** JSON-RPC error code for a missing resource (MCP specification, resources). */
const RESOURCE_NOT_FOUND = -32002;

/**
 * Resource reads fail as JSON-RPC errors (resources have no isError result): the message starts
 * with the REST code and `data` carries { code, message }.
 */
export function resourceError(e: unknown, log?: Logger): ResourceReadError {
  const body = errorBody(e);
  if (body.code === 'internal') log?.error({ err: e }, 'MCP resource read failed');
  const rpc =
    body.code === 'not_found' ? RESOURCE_NOT_FOUND : body.code === 'validation_failed' || body.code === 'bad_request' ? RpcCode.InvalidParams : body.code === 'internal' ? RpcCode.InternalError : RpcCode.InvalidRequest;
  return new ResourceReadError(rpc, `${body.code}: ${body.message}`, body);
}

/**
 * What the SDK sends as the JSON-RPC error (its code, message and data). Not an McpError: that
 * prefixes its message with "MCP error <code>: ", which the client's McpError prefixes once more.
 */
export class ResourceReadError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
    this.name = 'ResourceReadError';
  }
}
