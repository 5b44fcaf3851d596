/**
 * Every failure a caller can act on is an AppError with a stable machine-readable code.
 * Each front door maps codes once: HTTP status (here), MCP isError, CLI exit code.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  invalid_ref: 422,
  invalid_diff: 422,
  unprocessable: 422,
  unauthenticated: 401,
  invalid_credentials: 401,
  token_expired: 401,
  token_reused: 401,
  forbidden: 403,
  signup_closed: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  already_exists: 409,
  invite_accepted: 409,
  invite_expired: 410,
  invite_revoked: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  budget_exceeded: 429,
  internal: 500,
  database_unavailable: 503,
  not_ready: 503,
  provider_not_configured: 422,
  provider_auth: 502,
  provider_bad_output: 502,
  provider_error: 502,
  provider_overloaded: 503,
  provider_spend_limit: 503,
  provider_rejected: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly details?: unknown,
    /** Seconds, for rate_limited / unavailable answers. */
    public readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
export const forbidden = (why = 'you do not have permission to do this') => new AppError('forbidden', why);

/** CLI exit codes (documented in README). */
export function exitCodeFor(code: ErrorCode | undefined): number {
  switch (code) {
    case undefined:
      return 1;
    case 'bad_request':
    case 'validation_failed':
    case 'invalid_ref':
    case 'invalid_diff':
    case 'unprocessable':
    case 'provider_not_configured':
      return 2;
    case 'unauthenticated':
    case 'invalid_credentials':
    case 'token_expired':
    case 'token_reused':
    case 'forbidden':
    case 'signup_closed':
      return 3;
    case 'not_found':
      return 4;
    case 'conflict':
    case 'already_exists':
      return 5;
    case 'rate_limited':
    case 'budget_exceeded':
      return 6;
    case 'database_unavailable':
    case 'not_ready':
      return 7;
    default:
      return 1;
  }
}
