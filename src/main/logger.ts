import pino, { type Logger } from 'pino';

/** Paths that may carry secrets anywhere we log objects; pino replaces them with "[redacted]". */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.password',
  '*.api_key',
  '*.apiKey',
  '*.token',
  '*.refresh_token',
  '*.access_token',
  'password',
  'api_key',
  'apiKey',
  'token',
  'secret',
  'masterKey',
  'databaseUrl',
];

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
