import type { Config } from '../../config.js';
import { AppError, type ErrorCode } from '../../core/errors.js';

/**
 * The CLI is a client of the REST API, never a second implementation. Remote mode (QUORUM_URL)
 * speaks HTTP; local mode builds the same Fastify app in-process over the local runtime and
 * injects the same requests, so both modes run exactly the same routes.
 */
export interface ApiResponse {
  status: number;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

export interface ApiClient {
  request(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  close(): Promise<void>;
  readonly mode: 'remote' | 'local';
  /** Local mode only: run a job worker in this process (returns its stop function). */
  startLocalWorker?: () => Promise<() => Promise<void>>;
}

export interface ClientOptions {
  url?: string | undefined;
  apiKey?: string | undefined;
}

export async function openClient(config: Config, opts: ClientOptions): Promise<ApiClient> {
  const headers: Record<string, string> = { 'user-agent': 'quorum-cli', accept: 'application/json' };
  // An API key (qk_…) or an access token from `quorum auth login` / `auth signup`: the one a new
  // developer holds before they have created their first key.
  if (opts.apiKey) {
    if (opts.apiKey.startsWith('qk_')) headers['x-api-key'] = opts.apiKey;
    else headers.authorization = `Bearer ${opts.apiKey}`;
  }
  if (opts.url) {
    const base = opts.url.replace(/\/+$/, '');
    return {
      mode: 'remote',
      async request(method, path, body) {
        let res: Response;
        try {
          res = await fetch(base + path, {
            method,
            headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
            ...(body !== undefined && { body: JSON.stringify(body) }),
          });
        } catch (e) {
          throw new AppError('database_unavailable', `cannot reach ${base}: ${(e as Error).message}`);
        }
        const text = await res.text();
        return { status: res.status, body: text ? safeJson(text) : undefined, headers: Object.fromEntries(res.headers) };
      },
      close: async () => {},
    };
  }
  const { createLogger } = await import('../../main/logger.js');
  const { openRuntime } = await import('../../main/runtime.js');
  const { buildApp } = await import('../http/app.js');
  const { allRoutes } = await import('../http/all-routes.js');
  const { VERSION } = await import('../../version.js');
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { role: 'cli' });
  const rt = await openRuntime(config, { logger, migrate: true, applicationName: 'quorum-cli', poolSize: 2 });
  const app = await buildApp(rt.deps, { version: VERSION, extraRoutes: allRoutes });
  await app.ready();
  return {
    mode: 'local',
    async request(method, path, body) {
      const res = await app.inject({
        method: method as 'GET',
        url: path,
        headers,
        ...(body !== undefined && { payload: body as object }),
      });
      return { status: res.statusCode, body: res.body ? safeJson(res.body) : undefined, headers: res.headers as ApiResponse["headers"] };
    },
    startLocalWorker: async () => {
      const { startWorker } = await import('../worker/runner.js');
      const w = await startWorker(rt, { concurrency: 2, workerName: 'cli' });
      return () => w.stop();
    },
    close: async () => {
      await app.close();
      await rt.close();
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Throws the API's error as an AppError (its code decides the exit code). */
export function expectOk(res: ApiResponse): unknown {
  if (res.status < 400) return res.body;
  const err = (res.body as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
  throw new AppError((err?.code as ErrorCode) ?? 'internal', err?.message ?? `HTTP ${res.status}`, err?.details);
}
