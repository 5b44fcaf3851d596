import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { streamMessage, type StreamResult } from './messages-sse.js';
import { RateLimiter, type LimitName, type RateLimits } from './rate-limits.js';
import { personaFromSystem, scriptedFindings } from './scripted-review.js';

/**
 * A local server speaking the Anthropic Messages API (`POST /v1/messages`, plain and streaming,
 * and `POST /v1/messages/count_tokens`) for tests, benchmarks and `quorum dev stand-in`. Quorum
 * talks to it through the real `@anthropic-ai/sdk` with a base URL. It checks the API key
 * (`x-api-key` or `Authorization: Bearer`) and `anthropic-version` like the real API, enforces
 * RPM / ITPM / OTPM token buckets per model class (see rate-limits.ts), answers 429
 * `rate_limit_error` with `retry-after` and the `anthropic-ratelimit-*` headers, and can be told
 * to answer 529 `overloaded_error`, 500, a spend-limit 429, or to fail a stream half-way with an
 * `overloaded_error` event. Generation takes `msPerOutputToken` per output token. Every request
 * is recorded for assertions (unless `recordRequests: false`) and reported as a `response` event.
 */

export const STAND_IN_API_KEY = 'sk-ant-standin-test-key';

/** The real API refuses bodies over 32 MB with 413 `request_too_large`. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

type Block = { type: string; text?: string };

export interface MessagesBody {
  model: string;
  max_tokens: number;
  system?: string | Block[];
  messages: Array<{ role: string; content: string | Block[] }>;
  tools?: Array<{ name: string; input_schema?: unknown }>;
  tool_choice?: { type: string; name?: string };
  stream?: boolean;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status?: number;
  /** The client went away before the answer was complete (e.g. an aborted call). */
  aborted: boolean;
}

export type ScriptedAnswer =
  | { type: 'tool_use'; input: unknown; name?: string; outputTokens?: number }
  | { type: 'text'; text: string; outputTokens?: number }
  | { type: 'error'; status: number; errorType: string; message: string; errorCode?: string; retryAfterS?: number };

export interface RespondContext {
  body: MessagesBody;
  system: string;
  prompt: string;
  recorded: RecordedRequest;
  /** Aborts when the client disconnects: a held answer should stop waiting. */
  signal: AbortSignal;
}

export type { RateLimits } from './rate-limits.js';

export interface AnthropicStandInOptions {
  apiKey?: string;
  /** Per-minute limits, per model class; an absent limit is not enforced and not reported. */
  limits?: RateLimits;
  /** Milliseconds clock for the buckets, injectable so tests control replenishment exactly. */
  now?: () => number;
  /** The stand-in's "tokenizer": characters / 4 by default (deliberately not Quorum's estimator). */
  countTokens?: (text: string) => number;
  respond?: (ctx: RespondContext) => ScriptedAnswer | Promise<ScriptedAnswer>;
  /** Real token `remaining` headers are rounded to the nearest thousand (default true). */
  roundTokenRemaining?: boolean;
  /** Models generation time: an answer takes outputTokens × this many ms (streamed: paced). */
  msPerOutputToken?: number;
  /** About this many output tokens per streamed delta (default 16). */
  streamChunkTokens?: number;
  /** A `ping` event this often while streaming (default 10 000 ms; 0 = only the first). */
  pingIntervalMs?: number;
  /** Listen address; default 127.0.0.1 and a free port. */
  host?: string;
  port?: number;
  /** Keep every request in `requests` (default true; a long-running server turns it off). */
  recordRequests?: boolean;
}

/** What happened to one request: the `response` event, and the CLI's log line. */
export interface ResponseInfo {
  seq: number;
  requestId: string;
  method: string;
  path: string;
  model?: string;
  stream: boolean;
  status: number;
  errorType?: string;
  /** Input tokens charged (admitted requests only). */
  inputTokens?: number;
  /** Output tokens generated (settled; fewer than the answer when a stream failed or the client left). */
  outputTokens?: number;
  retryAfterS?: number;
  limitedBy?: LimitName;
  outcome: 'completed' | 'error' | 'overloaded_midstream' | 'aborted';
  durationMs: number;
}

export interface StandInStats {
  requests: number;
  completed: number;
  rateLimited: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
}

/**
 * Failures for the next requests: `overloaded` (529), `server_error` (500), `spend_limit` (429
 * without retry-after), `overloaded_midstream` (a stream that breaks half-way with an
 * `overloaded_error` event; a non-streaming request gets the 529 instead).
 */
export type Failure = 'overloaded' | 'overloaded_midstream' | 'spend_limit' | 'server_error';

const textOf = (c: string | Block[] | undefined): string =>
  typeof c === 'string' ? c : (c ?? []).map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');

/**
 * Default answer: findings from the scripted reviewer (as the persona named in the system prompt)
 * when a tool is offered; the same findings as JSON text when the prompt holds a diff but no tool;
 * else a short text.
 */
export function defaultRespond(ctx: RespondContext): ScriptedAnswer {
  const tool = ctx.body.tool_choice?.name ?? ctx.body.tools?.[0]?.name;
  const persona = personaFromSystem(ctx.system);
  const findings = () => scriptedFindings(ctx.prompt, persona ? { persona } : {});
  if (tool) return { type: 'tool_use', name: tool, input: { findings: findings() } };
  if (ctx.prompt.includes('<diff>')) return { type: 'text', text: JSON.stringify({ findings: findings() }) };
  return { type: 'text', text: 'OK' };
}

/** The message the real API sends with `enforced_spend_limit_reached`: access returns on the 1st (UTC). */
function spendLimitMessage(nowMs: number): string {
  const d = new Date(nowMs);
  const next = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
  return `You have reached your API usage limits: your organization has crossed its monthly API usage threshold, set based on your organization's API tier. You will regain access on ${next} at 00:00 UTC.`;
}

const LIMIT_WORDS: Record<LimitName, string> = {
  requests: 'requests per minute',
  'input-tokens': 'input tokens per minute',
  'output-tokens': 'output tokens per minute',
};

export class AnthropicStandIn extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  readonly stats: StandInStats = { requests: 0, completed: 0, rateLimited: 0, errors: 0, inputTokens: 0, outputTokens: 0 };
  url = '';
  port = 0;
  private readonly server: http.Server;
  private readonly failures: Failure[] = [];
  private readonly limiter: RateLimiter;
  private readonly now: () => number;
  private readonly count: (text: string) => number;
  private seq = 0;

  private constructor(private readonly opts: AnthropicStandInOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.count = opts.countTokens ?? ((t) => Math.ceil(t.length / 4));
    this.limiter = new RateLimiter(opts.limits ?? {}, this.now);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendError(res, {}, 500, 'api_error', `stand-in failure: ${String(err)}`);
        else res.destroy();
      });
    });
  }

  static async start(opts: AnthropicStandInOptions = {}): Promise<AnthropicStandIn> {
    const s = new AnthropicStandIn(opts);
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(opts.port ?? 0, host, () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    s.port = (s.server.address() as AddressInfo).port;
    s.url = `http://${host.includes(':') ? `[${host}]` : host}:${s.port}`;
    return s;
  }

  /** The real (enforced) limits. */
  get limits(): RateLimits {
    return this.limiter.limits;
  }

  /** Changes the real limits at run time, e.g. below what the gate was configured with. */
  set limits(l: RateLimits) {
    this.limiter.setLimits(l);
  }

  /** The next `count` authenticated, valid requests fail this way (before any rate accounting). */
  failNext(kind: Failure, count = 1): void {
    for (let i = 0; i < count; i++) this.failures.push(kind);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size <= MAX_BODY_BYTES) chunks.push(c as Buffer);
    }
    const raw = size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : '';
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    const rec: RecordedRequest = { seq: ++this.seq, method: req.method ?? '', path: req.url ?? '', headers, body, aborted: false };
    if (this.opts.recordRequests !== false) this.requests.push(rec);
    this.stats.requests += 1;
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) {
        rec.aborted = true;
        gone.abort();
        this.emit('aborted', rec);
      }
    });
    this.emit('request', rec);

    const requestId = `req_standin_${String(rec.seq).padStart(6, '0')}`;
    const base = { 'request-id': requestId };
    const mb = body as Partial<MessagesBody> | undefined;
    const info: ResponseInfo = {
      seq: rec.seq,
      requestId,
      method: rec.method,
      path,
      ...(typeof mb?.model === 'string' && { model: mb.model }),
      stream: mb?.stream === true,
      status: 0,
      outcome: 'error',
      durationMs: 0,
    };
    const done = (patch: Partial<ResponseInfo>) => {
      Object.assign(info, patch, { durationMs: Date.now() - started });
      // What the client saw; nothing when it left before the answer started.
      if (res.headersSent) rec.status = res.statusCode;
      if (info.outcome === 'completed') this.stats.completed += 1;
      else if (info.status === 429 && info.retryAfterS !== undefined) this.stats.rateLimited += 1;
      else this.stats.errors += 1;
      this.stats.inputTokens += info.inputTokens ?? 0;
      this.stats.outputTokens += info.outputTokens ?? 0;
      this.emit('response', { ...info });
    };
    const fail = (status: number, type: string, message: string, extra: Record<string, string> = {}, errorCode?: string, patch: Partial<ResponseInfo> = {}) => {
      this.sendError(res, { ...base, ...extra }, status, type, message, errorCode);
      const retry = extra['retry-after'];
      done({ status, errorType: type, ...(retry !== undefined && { retryAfterS: Number(retry) }), ...patch });
    };

    if (size > MAX_BODY_BYTES) return fail(413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes.');
    const countOnly = path === '/v1/messages/count_tokens';
    if (req.method !== 'POST' || (path !== '/v1/messages' && !countOnly)) return fail(404, 'not_found_error', 'Not found');
    const key = this.opts.apiKey ?? STAND_IN_API_KEY;
    // API version 2023-06-01 clients send `x-api-key`; SDK 1.x (API 2026-10-21) sends `Authorization: Bearer`.
    if (headers['x-api-key'] !== key && headers.authorization !== `Bearer ${key}`) return fail(401, 'authentication_error', 'invalid x-api-key');
    if (!headers['anthropic-version']) return fail(400, 'invalid_request_error', 'anthropic-version: header is required');
    const invalid = validate(body, countOnly);
    if (invalid) return fail(400, 'invalid_request_error', invalid);
    const msg = body as MessagesBody;

    const system = textOf(msg.system);
    const prompt = msg.messages.map((m) => textOf(m.content)).join('\n');
    const toolText = msg.tools ? JSON.stringify(msg.tools) : '';
    const inputTokens = this.count(system) + this.count(prompt) + this.count(toolText);
    if (countOnly) {
      res.writeHead(200, { 'content-type': 'application/json', ...base });
      res.end(JSON.stringify({ input_tokens: inputTokens }));
      return done({ status: 200, outcome: 'completed' });
    }

    const failure = this.failures.shift();
    if (failure === 'overloaded' || (failure === 'overloaded_midstream' && !msg.stream)) return fail(529, 'overloaded_error', 'Overloaded');
    if (failure === 'server_error') return fail(500, 'api_error', 'Internal server error');
    // A spend limit is not a rate limit: no retry-after, because retrying cannot succeed before the month turns.
    if (failure === 'spend_limit') return fail(429, 'rate_limit_error', spendLimitMessage(this.now()), {}, 'enforced_spend_limit_reached');

    const round = this.opts.roundTokenRemaining ?? true;
    const admission = this.limiter.admit(msg.model, inputTokens, msg.max_tokens);
    if (!admission.ok) {
      const retryAfterS = Number.isFinite(admission.waitMs) ? Math.max(1, Math.ceil(admission.waitMs / 1000)) : 60;
      return fail(
        429,
        'rate_limit_error',
        `This request would exceed your organization's rate limit of ${admission.limit} ${LIMIT_WORDS[admission.limitedBy]} for ${msg.model}. Please try again later.`,
        { ...this.limiter.headers(msg.model, round), 'retry-after': String(retryAfterS) },
        undefined,
        { limitedBy: admission.limitedBy },
      );
    }
    const { outputReserve } = admission;

    const answer = await (this.opts.respond ?? defaultRespond)({ body: msg, system, prompt, recorded: rec, signal: gone.signal });
    if (gone.signal.aborted) {
      this.limiter.settle(msg.model, outputReserve, 0);
      return done({ status: 499, outcome: 'aborted', inputTokens, outputTokens: 0 });
    }
    if (answer.type === 'error') {
      this.limiter.settle(msg.model, outputReserve, 0);
      const extra: Record<string, string> = answer.retryAfterS !== undefined ? { 'retry-after': String(answer.retryAfterS) } : {};
      return fail(answer.status, answer.errorType, answer.message, { ...this.limiter.headers(msg.model, round), ...extra }, answer.errorCode, { inputTokens });
    }
    const produced = answer.outputTokens ?? this.count(answer.type === 'text' ? answer.text : JSON.stringify(answer.input));
    const outputTokens = Math.min(produced, msg.max_tokens);
    const stopReason = produced > msg.max_tokens ? 'max_tokens' : answer.type === 'text' ? 'end_turn' : 'tool_use';
    const msPerToken = this.opts.msPerOutputToken ?? 0;
    const toolName = answer.type === 'tool_use' ? (answer.name ?? msg.tool_choice?.name ?? 'tool') : '';

    if (msg.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...base, ...this.limiter.headers(msg.model, round) });
      const full = answer.type === 'text' ? answer.text : JSON.stringify(answer.input);
      // Cut off at max_tokens: only the share of the answer that fits is generated.
      const streamed = produced > msg.max_tokens ? full.slice(0, Math.floor((full.length * msg.max_tokens) / produced)) : full;
      const result: StreamResult = await streamMessage(res, {
        message: { id: `msg_standin_${rec.seq}`, model: msg.model, usage: { input_tokens: inputTokens } },
        block: answer.type === 'text' ? { type: 'text', text: streamed } : { type: 'tool_use', id: `toolu_standin_${rec.seq}`, name: toolName, json: streamed },
        outputTokens,
        stopReason,
        msPerOutputToken: msPerToken,
        chunkTokens: this.opts.streamChunkTokens ?? 16,
        pingIntervalMs: this.opts.pingIntervalMs ?? 10_000,
        failMidstream: failure === 'overloaded_midstream',
        signal: gone.signal,
      });
      this.limiter.settle(msg.model, outputReserve, result.generated);
      if (!res.writableEnded) res.end();
      const outcome = result.outcome === 'overloaded' ? 'overloaded_midstream' : result.outcome;
      return done({
        status: result.outcome === 'aborted' ? 499 : 200,
        outcome,
        ...(result.outcome === 'overloaded' && { errorType: 'overloaded_error' }),
        inputTokens,
        outputTokens: result.generated,
      });
    }

    const genStart = Date.now();
    if (msPerToken > 0) await delay(outputTokens * msPerToken, gone.signal);
    if (gone.signal.aborted) {
      // Tokens are counted as generated: a client that leaves early is charged for what was produced.
      const generated = msPerToken > 0 ? Math.min(outputTokens, Math.floor((Date.now() - genStart) / msPerToken)) : outputTokens;
      this.limiter.settle(msg.model, outputReserve, generated);
      return done({ status: 499, outcome: 'aborted', inputTokens, outputTokens: generated });
    }
    this.limiter.settle(msg.model, outputReserve, outputTokens);
    const content =
      answer.type === 'text' ? [{ type: 'text', text: answer.text }] : [{ type: 'tool_use', id: `toolu_standin_${rec.seq}`, name: toolName, input: answer.input }];
    const message = {
      id: `msg_standin_${rec.seq}`,
      type: 'message',
      role: 'assistant',
      model: msg.model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    res.writeHead(200, { 'content-type': 'application/json', ...base, ...this.limiter.headers(msg.model, round) });
    res.end(JSON.stringify(message));
    done({ status: 200, outcome: 'completed', inputTokens, outputTokens });
  }

  private sendError(res: http.ServerResponse, headers: Record<string, string>, status: number, type: string, message: string, errorCode?: string): void {
    const error: Record<string, unknown> = { type, message };
    if (errorCode) error.details = { error_code: errorCode };
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ type: 'error', error, request_id: headers['request-id'] ?? null }));
  }
}

function validate(body: unknown, countOnly: boolean): string | undefined {
  if (!body || typeof body !== 'object') return 'body: expected a JSON object';
  const b = body as Partial<MessagesBody>;
  if (typeof b.model !== 'string' || !b.model) return 'model: Field required';
  if (!countOnly && (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1)) return 'max_tokens: Field required';
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'messages: at least one message is required';
  if (b.stream !== undefined && typeof b.stream !== 'boolean') return 'stream: Input should be a valid boolean';
  if (b.tool_choice?.type === 'tool' && !b.tools?.some((t) => t.name === b.tool_choice?.name)) return 'tool_choice: unknown tool';
  return undefined;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
