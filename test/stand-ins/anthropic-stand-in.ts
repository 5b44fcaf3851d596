import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { scriptedFindings } from './scripted-review.js';
import { TokenBucket } from './token-bucket.js';

/**
 * A local server speaking the Anthropic Messages API (`POST /v1/messages`, non-streaming) for
 * tests and benchmarks. Quorum talks to it through the real `@anthropic-ai/sdk` with a base URL.
 * It checks the API key (`x-api-key` or `Authorization: Bearer`) and `anthropic-version` like
 * the real API, enforces RPM / ITPM / OTPM token buckets (OTPM reserved from `max_tokens` at the
 * start of a request and settled to the real output at the end, as Anthropic documents),
 * answers 429 `rate_limit_error` with `retry-after` and the `anthropic-ratelimit-*` headers, and
 * can be told to answer 529 `overloaded_error`, 500 or a spend-limit 429. Every request is
 * recorded for assertions.
 */

export const STAND_IN_API_KEY = 'sk-ant-standin-test-key';

export interface MessagesBody {
  model: string;
  max_tokens: number;
  system?: string | Array<{ type: string; text?: string }>;
  messages: Array<{ role: string; content: string | Array<{ type: string; text?: string }> }>;
  tools?: Array<{ name: string; input_schema?: unknown }>;
  tool_choice?: { type: string; name?: string };
}

export interface RecordedRequest {
  seq: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status?: number;
  /** The client went away before the answer was written (e.g. an aborted call). */
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

export interface AnthropicStandInOptions {
  apiKey?: string;
  /** Per-minute limits; an absent limit is not enforced and not reported. */
  limits?: { rpm?: number; itpm?: number; otpm?: number };
  /** Milliseconds clock, injectable so tests control replenishment exactly. */
  now?: () => number;
  /** The stand-in's "tokenizer": characters / 4 by default (deliberately not Quorum's estimator). */
  countTokens?: (text: string) => number;
  respond?: (ctx: RespondContext) => ScriptedAnswer | Promise<ScriptedAnswer>;
  /** Real token `remaining` headers are rounded to the nearest thousand. */
  roundTokenRemaining?: boolean;
  /** Models generation time: the answer is held for outputTokens × this many ms. */
  msPerOutputToken?: number;
}

type Failure = 'overloaded' | 'spend_limit' | 'server_error';

const textOf = (c: string | Array<{ type: string; text?: string }> | undefined): string =>
  typeof c === 'string' ? c : (c ?? []).map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');

/** Default answer: findings from the scripted reviewer when the report tool is offered, else text. */
export function defaultRespond(ctx: RespondContext): ScriptedAnswer {
  const tool = ctx.body.tool_choice?.name ?? ctx.body.tools?.[0]?.name;
  if (tool) return { type: 'tool_use', name: tool, input: { findings: scriptedFindings(ctx.prompt) } };
  return { type: 'text', text: 'OK' };
}

export class AnthropicStandIn extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  url = '';
  private readonly server: http.Server;
  private readonly failures: Failure[] = [];
  private readonly buckets: { requests?: TokenBucket; input?: TokenBucket; output?: TokenBucket };
  private readonly now: () => number;
  private readonly count: (text: string) => number;
  private seq = 0;

  private constructor(private readonly opts: AnthropicStandInOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.count = opts.countTokens ?? ((t) => Math.ceil(t.length / 4));
    const t0 = this.now();
    const l = opts.limits ?? {};
    this.buckets = {
      ...(l.rpm !== undefined && { requests: new TokenBucket(l.rpm, t0) }),
      ...(l.itpm !== undefined && { input: new TokenBucket(l.itpm, t0) }),
      ...(l.otpm !== undefined && { output: new TokenBucket(l.otpm, t0) }),
    };
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendError(res, {}, 500, 'api_error', `stand-in failure: ${String(err)}`);
      });
    });
  }

  static async start(opts: AnthropicStandInOptions = {}): Promise<AnthropicStandIn> {
    const s = new AnthropicStandIn(opts);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
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
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const rec: RecordedRequest = { seq: ++this.seq, method: req.method ?? '', path: req.url ?? '', headers, body, aborted: false };
    this.requests.push(rec);
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) {
        rec.aborted = true;
        gone.abort();
        this.emit('aborted', rec);
      }
    });
    this.emit('request', rec);

    const reqId = `req_standin_${String(rec.seq).padStart(6, '0')}`;
    const base = { 'request-id': reqId };
    const fail = (status: number, type: string, message: string, extra: Record<string, string> = {}, errorCode?: string) => {
      rec.status = status;
      this.sendError(res, { ...base, ...extra }, status, type, message, errorCode);
    };

    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/messages') return fail(404, 'not_found_error', 'Not found');
    const key = this.opts.apiKey ?? STAND_IN_API_KEY;
    // API version 2023-06-01 clients send `x-api-key`; SDK 1.x (API 2026-10-21) sends `Authorization: Bearer`.
    if (headers['x-api-key'] !== key && headers.authorization !== `Bearer ${key}`) return fail(401, 'authentication_error', 'invalid x-api-key');
    if (!headers['anthropic-version']) return fail(400, 'invalid_request_error', 'anthropic-version: header is required');
    const invalid = validate(body);
    if (invalid) return fail(400, 'invalid_request_error', invalid);
    const mb = body as MessagesBody;

    const failure = this.failures.shift();
    if (failure === 'overloaded') return fail(529, 'overloaded_error', 'Overloaded');
    if (failure === 'server_error') return fail(500, 'api_error', 'Internal server error');
    if (failure === 'spend_limit') {
      return fail(429, 'rate_limit_error', 'You have reached your specified API usage limits.', {}, 'enforced_spend_limit_reached');
    }

    const system = textOf(mb.system);
    const prompt = mb.messages.map((m) => textOf(m.content)).join('\n');
    const toolText = mb.tools ? JSON.stringify(mb.tools) : '';
    const inputTokens = this.count(system) + this.count(prompt) + this.count(toolText);
    const now = this.now();
    const { requests, input, output } = this.buckets;
    const outputReserve = output ? Math.min(mb.max_tokens, output.capacity) : 0;
    const waits = [requests?.waitMs(1, now) ?? 0, input?.waitMs(inputTokens, now) ?? 0, output?.waitMs(outputReserve, now) ?? 0];
    const wait = Math.max(...waits);
    if (wait > 0) {
      const retryAfterS = Number.isFinite(wait) ? Math.max(1, Math.ceil(wait / 1000)) : 60;
      return fail(429, 'rate_limit_error', 'This request would exceed the rate limit for your organization.', {
        ...this.limitHeaders(now),
        'retry-after': String(retryAfterS),
      });
    }
    requests?.take(1, now);
    input?.take(inputTokens, now);
    output?.take(outputReserve, now);

    const answer = await (this.opts.respond ?? defaultRespond)({ body: mb, system, prompt, recorded: rec, signal: gone.signal });
    if (gone.signal.aborted) {
      output?.refund(outputReserve, this.now());
      return;
    }
    if (answer.type === 'error') {
      output?.refund(outputReserve, this.now());
      const extra: Record<string, string> = answer.retryAfterS !== undefined ? { 'retry-after': String(answer.retryAfterS) } : {};
      return fail(answer.status, answer.errorType, answer.message, { ...this.limitHeaders(this.now()), ...extra }, answer.errorCode);
    }
    const produced = answer.outputTokens ?? this.count(answer.type === 'text' ? answer.text : JSON.stringify(answer.input));
    const outputTokens = Math.min(produced, mb.max_tokens);
    if (this.opts.msPerOutputToken) await delay(outputTokens * this.opts.msPerOutputToken, gone.signal);
    if (gone.signal.aborted) return;
    output?.refund(outputReserve - outputTokens, this.now());
    const content =
      answer.type === 'text'
        ? [{ type: 'text', text: answer.text }]
        : [{ type: 'tool_use', id: `toolu_standin_${rec.seq}`, name: answer.name ?? mb.tool_choice?.name ?? 'tool', input: answer.input }];
    const message = {
      id: `msg_standin_${rec.seq}`,
      type: 'message',
      role: 'assistant',
      model: mb.model,
      content,
      stop_reason: produced > mb.max_tokens ? 'max_tokens' : answer.type === 'text' ? 'end_turn' : 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', ...base, ...this.limitHeaders(this.now()) });
    res.end(JSON.stringify(message));
  }

  /** `anthropic-ratelimit-*` for the enforced buckets; `tokens-*` is the more constrained of input/output. */
  private limitHeaders(now: number): Record<string, string> {
    const out: Record<string, string> = {};
    const round = this.opts.roundTokenRemaining ?? true;
    const put = (name: string, b: TokenBucket | undefined, isTokens: boolean) => {
      if (!b) return;
      const left = Math.max(0, Math.floor(b.available(now)));
      out[`anthropic-ratelimit-${name}-limit`] = String(b.capacity);
      out[`anthropic-ratelimit-${name}-remaining`] = String(isTokens && round ? Math.round(left / 1000) * 1000 : left);
      out[`anthropic-ratelimit-${name}-reset`] = new Date(Math.ceil(b.fullAt(now) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    };
    const { requests, input, output } = this.buckets;
    put('requests', requests, false);
    put('input-tokens', input, true);
    put('output-tokens', output, true);
    const tight = [input, output].filter((b): b is TokenBucket => b !== undefined).sort((a, b) => a.available(now) / a.capacity - b.available(now) / b.capacity)[0];
    put('tokens', tight, true);
    return out;
  }

  private sendError(res: http.ServerResponse, headers: Record<string, string>, status: number, type: string, message: string, errorCode?: string): void {
    const error: Record<string, unknown> = { type, message };
    if (errorCode) error.details = { error_code: errorCode };
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ type: 'error', error, request_id: headers['request-id'] ?? null }));
  }
}

function validate(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return 'body: expected a JSON object';
  const b = body as Partial<MessagesBody>;
  if (typeof b.model !== 'string' || !b.model) return 'model: Field required';
  if (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1) return 'max_tokens: Field required';
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'messages: at least one message is required';
  if (b.tool_choice?.type === 'tool' && !b.tools?.some((t) => t.name === b.tool_choice?.name)) return 'tool_choice: unknown tool';
  return undefined;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
