import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RecordedRequest } from './anthropic-stand-in.js';
import { scriptedFindings } from './scripted-review.js';

/**
 * A local server speaking OpenAI's `POST /v1/chat/completions` (non-streaming), as vLLM, Ollama
 * and llama.cpp do. It answers with the structure the request asked for: a tool call when a
 * function is forced, otherwise JSON in `message.content`. Scripted per test; records requests.
 */

export interface ChatBody {
  model: string;
  max_tokens?: number;
  messages: Array<{ role: string; content: string }>;
  response_format?: { type: string };
  tools?: Array<{ type: string; function: { name: string } }>;
  tool_choice?: { type: string; function?: { name: string } } | string;
}

export type ChatAnswer =
  | { type: 'content'; content: string; finishReason?: string; usage?: ChatUsage | null }
  | { type: 'tool_call'; name: string; arguments: string; usage?: ChatUsage | null }
  | { type: 'error'; status: number; body: unknown; headers?: Record<string, string> };

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export interface ChatRespondContext {
  body: ChatBody;
  prompt: string;
  recorded: RecordedRequest;
  signal: AbortSignal;
}

export interface OpenAiStandInOptions {
  /** When set, `Authorization: Bearer <apiKey>` is required (401 otherwise), like OpenAI and vLLM --api-key. */
  apiKey?: string;
  respond?: (ctx: ChatRespondContext) => ChatAnswer | Promise<ChatAnswer>;
}

const count = (t: string) => Math.ceil(t.length / 4);

export function defaultChatRespond(ctx: ChatRespondContext): ChatAnswer {
  const payload = JSON.stringify({ findings: scriptedFindings(ctx.prompt) });
  const forced = typeof ctx.body.tool_choice === 'object' ? ctx.body.tool_choice.function?.name : undefined;
  if (forced) return { type: 'tool_call', name: forced, arguments: payload };
  return { type: 'content', content: payload };
}

export class OpenAiStandIn extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  url = '';
  private readonly server: http.Server;
  private seq = 0;

  private constructor(private readonly opts: OpenAiStandInOptions) {
    super();
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: { message: `stand-in failure: ${String(err)}`, type: 'server_error' } });
      });
    });
  }

  static async start(opts: OpenAiStandInOptions = {}): Promise<OpenAiStandIn> {
    const s = new OpenAiStandIn(opts);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
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
    const reply = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
      rec.status = status;
      send(res, status, payload, { 'x-request-id': `chatreq_${rec.seq}`, ...extra });
    };

    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/chat/completions') {
      return reply(404, { error: { message: 'not found', type: 'invalid_request_error', code: null } });
    }
    if (this.opts.apiKey && headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      return reply(401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    const b = body as Partial<ChatBody> | undefined;
    if (!b || typeof b.model !== 'string' || !Array.isArray(b.messages) || b.messages.length === 0) {
      return reply(400, { error: { message: 'model and messages are required', type: 'invalid_request_error', code: null } });
    }
    const cb = b as ChatBody;
    const prompt = cb.messages.map((m) => m.content).join('\n');
    const answer = await (this.opts.respond ?? defaultChatRespond)({ body: cb, prompt, recorded: rec, signal: gone.signal });
    if (gone.signal.aborted) return;
    if (answer.type === 'error') return reply(answer.status, answer.body, answer.headers);
    const text = answer.type === 'content' ? answer.content : answer.arguments;
    const usage = answer.usage === undefined ? { prompt_tokens: count(prompt), completion_tokens: count(text), total_tokens: count(prompt) + count(text) } : answer.usage;
    const message =
      answer.type === 'content'
        ? { role: 'assistant', content: answer.content }
        : { role: 'assistant', content: null, tool_calls: [{ id: `call_${rec.seq}`, type: 'function', function: { name: answer.name, arguments: answer.arguments } }] };
    reply(200, {
      id: `chatcmpl-${rec.seq}`,
      object: 'chat.completion',
      created: 1_700_000_000,
      model: cb.model,
      choices: [{ index: 0, message, finish_reason: answer.type === 'content' ? (answer.finishReason ?? 'stop') : 'tool_calls' }],
      ...(usage !== null && { usage }),
    });
  }
}

function send(res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(payload));
}
