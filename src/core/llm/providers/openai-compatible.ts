import { z } from 'zod';
import type { TokenUsage } from '../../gate/gate.js';
import { estimateRequestTokens, estimateTokens } from '../../gate/estimate-tokens.js';
import { REPORT_TOOL_NAME, buildReviewPrompt, buildSystemPrompt, jsonInTextInstruction } from './prompt.js';
import {
  abortError,
  headersToRecord,
  parseRetryAfter,
  ProviderError,
  type CompleteInput,
  type CompleteOutput,
  type LlmProvider,
  type ProviderCallMeta,
  type ReviewInput,
  type ReviewOutput,
} from './provider.js';
import { badOutput, extractJsonObject, FINDINGS_JSON_SCHEMA, parseFindingsPayload } from './structured-output.js';

/**
 * Any server speaking OpenAI's `POST /v1/chat/completions` (vLLM, Ollama, llama.cpp, LM Studio,
 * OpenAI itself), through plain fetch: one request per call, no SDK, no retries.
 *
 * Structured output, by what the server supports:
 * - `json_schema`: `response_format: {type: 'json_schema', …}` (OpenAI, vLLM, Ollama ≥ 0.5, llama.cpp)
 * - `tools`: a forced `report_findings` function call
 * - `none`: the schema goes into the prompt and the JSON is taken from the text.
 * Whatever the mode, the answer is parsed from a tool call if there is one, else from the text,
 * so a server that ignores `response_format` still works when the model follows the prompt.
 */

export type StructuredOutputMode = 'json_schema' | 'tools' | 'none';

export interface OpenAiCompatibleOptions {
  /** Including the version segment, e.g. `http://localhost:11434/v1`. */
  baseUrl: string;
  apiKey: string | undefined;
  model: string;
  structuredOutput: StructuredOutputMode;
  timeoutMs: number;
  maxOutputTokens: number;
  fetch?: typeof fetch;
}

const ChatResponseSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        finish_reason: z.string().nullish(),
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.string() }) })).nullish(),
        }),
      }),
    )
    .min(1),
  usage: z
    .object({
      prompt_tokens: z.number().int().min(0),
      completion_tokens: z.number().int().min(0),
      prompt_tokens_details: z.object({ cached_tokens: z.number().int().min(0).nullish() }).nullish(),
    })
    .nullish(),
});
type ChatResponse = z.infer<typeof ChatResponseSchema>;

const ErrorBodySchema = z.object({
  error: z.union([z.string(), z.object({ message: z.string().nullish(), type: z.string().nullish(), code: z.union([z.string(), z.number()]).nullish() })]),
});

/** Error body bytes we read at most: enough for any real error message, bounded for a hostile server. */
const MAX_ERROR_BODY = 16 * 1024;

interface ChatRequest {
  body: Record<string, unknown>;
  estimatedInput: number;
}

export class OpenAiCompatibleProvider implements LlmProvider {
  readonly name = 'openai-compatible' as const;
  readonly model: string;
  readonly maxOutputTokens: number;
  private readonly url: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: OpenAiCompatibleOptions) {
    this.model = opts.model;
    this.maxOutputTokens = opts.maxOutputTokens;
    this.url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.fetchFn = opts.fetch ?? fetch;
  }

  private reviewRequest(input: ReviewInput): ChatRequest {
    const mode = this.opts.structuredOutput;
    const system = buildSystemPrompt(input.persona, input.instructions);
    let prompt = buildReviewPrompt(input.diffChunk, input.files);
    const body: Record<string, unknown> = { model: this.model, max_tokens: this.maxOutputTokens, temperature: 0 };
    if (mode === 'json_schema') {
      body.response_format = { type: 'json_schema', json_schema: { name: REPORT_TOOL_NAME, schema: FINDINGS_JSON_SCHEMA } };
    } else if (mode === 'tools') {
      body.tools = [{ type: 'function', function: { name: REPORT_TOOL_NAME, description: 'Report the review findings.', parameters: FINDINGS_JSON_SCHEMA } }];
      body.tool_choice = { type: 'function', function: { name: REPORT_TOOL_NAME } };
    }
    if (mode !== 'tools') prompt += jsonInTextInstruction(FINDINGS_JSON_SCHEMA);
    body.messages = [
      { role: 'system', content: system },
      { role: 'user', content: prompt },
    ];
    return { body, estimatedInput: estimateRequestTokens({ system, prompt, ...(mode !== 'none' && { schema: FINDINGS_JSON_SCHEMA }) }) };
  }

  estimateReviewTokens(input: ReviewInput): number {
    return this.reviewRequest(input).estimatedInput;
  }

  async review(input: ReviewInput): Promise<ReviewOutput> {
    const req = this.reviewRequest(input);
    const { data, meta } = await this.send(req, input.signal);
    const ctx = { status: 200, headers: meta.headers };
    const choice = data.choices[0];
    if (choice?.finish_reason === 'length') throw badOutput('the answer was cut off at max_tokens', ctx, { finish_reason: 'length' });
    const call = choice?.message.tool_calls?.find((c) => c.function.name === REPORT_TOOL_NAME);
    const raw = call ? call.function.arguments : (choice?.message.content ?? '');
    const payload = extractJsonObject(raw);
    if (payload === undefined) throw badOutput('the answer holds no JSON object', ctx, { finish_reason: choice?.finish_reason ?? null });
    const { findings, dropped } = parseFindingsPayload(payload, {
      ...ctx,
      persona: input.persona,
      reviewer: input.reviewer ?? input.persona,
      files: input.files,
    });
    return { ...meta, findings, droppedFindings: dropped };
  }

  async complete(input: CompleteInput): Promise<CompleteOutput> {
    const req: ChatRequest = {
      body: {
        model: this.model,
        max_tokens: input.maxTokens ?? this.maxOutputTokens,
        messages: [
          { role: 'system', content: input.system },
          { role: 'user', content: input.prompt },
        ],
      },
      estimatedInput: estimateRequestTokens({ system: input.system, prompt: input.prompt }),
    };
    const { data, meta } = await this.send(req, input.signal);
    return { ...meta, text: data.choices[0]?.message.content ?? '' };
  }

  /** Exactly one HTTP request; the caller's abort and our timeout both cancel it, body included. */
  private async send(req: ChatRequest, signal: AbortSignal | undefined): Promise<{ data: ChatResponse; meta: ProviderCallMeta }> {
    if (signal?.aborted) throw abortError(signal);
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(this.url, { method: 'POST', headers, body: JSON.stringify(req.body), signal: combined });
      text = res.ok ? await res.text() : await readCapped(res, MAX_ERROR_BODY);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (timeout.aborted) throw new ProviderError('provider_error', 'the request to the OpenAI-compatible server timed out', undefined, undefined, {});
      throw new ProviderError('provider_error', `could not reach the OpenAI-compatible server: ${(err as Error).message}`, undefined, undefined, {});
    }
    const resHeaders = headersToRecord(res.headers);
    if (!res.ok) throw mapHttpError(res.status, text, resHeaders);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw badOutput('the server answered with a body that is not JSON', { status: res.status, headers: resHeaders });
    }
    const parsed = ChatResponseSchema.safeParse(json);
    if (!parsed.success) {
      throw badOutput('the server answered with an unexpected chat completion shape', { status: res.status, headers: resHeaders }, {
        issues: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const data = parsed.data;
    return {
      data,
      meta: {
        usage: usageOf(data, req.estimatedInput),
        headers: resHeaders,
        model: data.model ?? this.model,
        requestId: resHeaders['x-request-id'] ?? resHeaders['request-id'],
      },
    };
  }
}

/**
 * OpenAI counts cached prompt tokens inside `prompt_tokens`; we report them apart, like Anthropic.
 * Servers that send no usage (some llama.cpp builds) get our estimate, so the gate can still reconcile.
 */
function usageOf(data: ChatResponse, estimatedInput: number): TokenUsage {
  if (!data.usage) {
    const out = data.choices[0]?.message;
    const outText = (out?.content ?? '') + (out?.tool_calls ?? []).map((c) => c.function.arguments).join('');
    return { inputTokens: estimatedInput, outputTokens: estimateTokens(outText), cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
  }
  const cached = data.usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    inputTokens: Math.max(0, data.usage.prompt_tokens - cached),
    outputTokens: data.usage.completion_tokens,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: cached,
  };
}

/** Reads at most `max` bytes of an error body and drops the rest of the stream. */
async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < max) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

export function mapHttpError(status: number, body: string, headers: Record<string, string>): ProviderError {
  let message = `HTTP ${status}`;
  let kind: string | undefined;
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(body));
    if (parsed.success) {
      const e = parsed.data.error;
      if (typeof e === 'string') message = e;
      else {
        message = e.message ?? message;
        kind = String(e.code ?? e.type ?? '') || undefined;
      }
    }
  } catch {
    // not JSON: keep the status line as the message
  }
  const details = kind ? { code: kind } : undefined;
  if (status === 429) {
    // OpenAI: quota exhausted is a 429 too, but no amount of waiting fixes it.
    if (kind === 'insufficient_quota') return new ProviderError('provider_spend_limit', `spend limit reached: ${message}`, status, undefined, headers, details);
    return new ProviderError('rate_limited', `rate limited: ${message}`, status, parseRetryAfter(headers), headers, details);
  }
  if (status === 401 || status === 403) return new ProviderError('provider_auth', `credentials refused: ${message}`, status, undefined, headers, details);
  // Ollama and vLLM answer 503 when their queue is full: the server is busy, not broken.
  if (status === 503) return new ProviderError('provider_overloaded', `server busy: ${message}`, status, parseRetryAfter(headers), headers, details);
  if (status >= 500) return new ProviderError('provider_error', `server error ${status}: ${message}`, status, parseRetryAfter(headers), headers, details);
  return new ProviderError('provider_rejected', `request rejected (${status}): ${message}`, status, undefined, headers, details);
}
