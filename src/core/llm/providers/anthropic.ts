import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type { Message, MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import type { TokenUsage } from '../../gate/gate.js';
import { estimateRequestTokens } from '../../gate/estimate-tokens.js';
import { REPORT_TOOL_NAME, buildReviewPrompt, buildSystemPrompt } from './prompt.js';
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
import { badOutput, FINDINGS_JSON_SCHEMA, parseFindingsPayload } from './structured-output.js';

export interface AnthropicProviderOptions {
  apiKey: string;
  /** Always explicit: the SDK would otherwise read ANTHROPIC_BASE_URL itself (config.ts owns env). */
  baseUrl: string;
  model: string;
  timeoutMs: number;
  maxOutputTokens: number;
  /** For tests that need to observe the wire; production uses the global fetch. */
  fetch?: typeof fetch;
}

/** 429 causes that retrying cannot fix (SDK `APIError.errorCode`, from `error.details.error_code`). */
const SPEND_LIMIT_CODES = new Set(['enforced_spend_limit_reached', 'contract_spend_limit_reached', 'linked_organization_spend_limit_reached']);

const TOOL_DESCRIPTION = 'Report the review findings for the diff. Call exactly once; use an empty list when there is nothing to report.';

export class AnthropicProvider implements LlmProvider {
  readonly name = 'anthropic' as const;
  readonly model: string;
  readonly maxOutputTokens: number;
  private readonly client: Anthropic;

  constructor(opts: AnthropicProviderOptions) {
    this.model = opts.model;
    this.maxOutputTokens = opts.maxOutputTokens;
    this.client = new Anthropic({
      apiKey: opts.apiKey,
      baseURL: opts.baseUrl,
      // Every retry goes through the gate: a hidden SDK retry would bypass its buckets and fairness.
      maxRetries: 0,
      timeout: opts.timeoutMs,
      // The SDK's own logger writes to the console; our errors are mapped and logged by callers.
      logLevel: 'off',
      ...(opts.fetch && { fetch: opts.fetch }),
    });
  }

  private reviewRequest(input: ReviewInput): MessageCreateParamsNonStreaming {
    return {
      model: this.model,
      max_tokens: this.maxOutputTokens,
      system: buildSystemPrompt(input.persona, input.instructions),
      messages: [{ role: 'user', content: buildReviewPrompt(input.diffChunk, input.files) }],
      tools: [{ name: REPORT_TOOL_NAME, description: TOOL_DESCRIPTION, input_schema: FINDINGS_JSON_SCHEMA as Anthropic.Tool.InputSchema }],
      tool_choice: { type: 'tool', name: REPORT_TOOL_NAME },
    };
  }

  estimateReviewTokens(input: ReviewInput): number {
    const req = this.reviewRequest(input);
    return estimateRequestTokens({ system: req.system as string, prompt: req.messages[0]?.content as string, schema: req.tools });
  }

  async review(input: ReviewInput): Promise<ReviewOutput> {
    const { message, meta } = await this.send(this.reviewRequest(input), input.signal);
    const ctx = { status: 200, headers: meta.headers };
    const block = message.content.find((b) => b.type === 'tool_use' && b.name === REPORT_TOOL_NAME);
    if (!block || block.type !== 'tool_use') {
      const why = message.stop_reason === 'max_tokens' ? 'the answer was cut off at max_tokens' : `no ${REPORT_TOOL_NAME} tool call in the answer`;
      throw badOutput(why, ctx, { stop_reason: message.stop_reason });
    }
    if (message.stop_reason === 'max_tokens') {
      throw badOutput('the answer was cut off at max_tokens', ctx, { stop_reason: message.stop_reason });
    }
    const { findings, dropped } = parseFindingsPayload(block.input, {
      ...ctx,
      persona: input.persona,
      reviewer: input.reviewer ?? input.persona,
      files: input.files,
    });
    return { ...meta, findings, droppedFindings: dropped };
  }

  async complete(input: CompleteInput): Promise<CompleteOutput> {
    const { message, meta } = await this.send(
      {
        model: this.model,
        max_tokens: input.maxTokens ?? this.maxOutputTokens,
        system: input.system,
        messages: [{ role: 'user', content: input.prompt }],
      },
      input.signal,
    );
    const text = message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
    return { ...meta, text };
  }

  /** Exactly one HTTP request. */
  private async send(body: MessageCreateParamsNonStreaming, signal: AbortSignal | undefined): Promise<{ message: Message; meta: ProviderCallMeta }> {
    if (signal?.aborted) throw abortError(signal);
    try {
      const { data, response, request_id } = await this.client.messages
        .create(body, { maxRetries: 0, ...(signal && { signal }) })
        .withResponse();
      return {
        message: data,
        meta: { usage: usageOf(data), headers: headersToRecord(response.headers), model: data.model, requestId: request_id ?? undefined },
      };
    } catch (err) {
      throw mapAnthropicError(err, signal);
    }
  }
}

function usageOf(m: Message): TokenUsage {
  return {
    inputTokens: m.usage.input_tokens,
    outputTokens: m.usage.output_tokens,
    cacheCreationInputTokens: m.usage.cache_creation_input_tokens ?? 0,
    cacheReadInputTokens: m.usage.cache_read_input_tokens ?? 0,
  };
}

/** SDK error → ProviderError (or the caller's abort reason). Exported for tests of the mapping. */
export function mapAnthropicError(err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return abortError(signal);
  if (err instanceof APIConnectionTimeoutError) return new ProviderError('provider_error', 'the request to Anthropic timed out', undefined, undefined, {});
  if (err instanceof APIConnectionError) return new ProviderError('provider_error', `could not reach Anthropic: ${err.message}`, undefined, undefined, {});
  if (!(err instanceof APIError) || err.status === undefined) {
    const message = err instanceof Error ? err.message : String(err);
    return new ProviderError('provider_rejected', `the Anthropic request failed: ${message}`, undefined, undefined, {});
  }
  const headers = headersToRecord(err.headers);
  const details = { type: err.type, error_code: err.errorCode, request_id: err.requestID ?? undefined };
  const message = err.apiMessage ?? err.message;
  const status = err.status;
  if (status === 429 || status === 402) {
    if (status === 402 || (err.errorCode !== null && SPEND_LIMIT_CODES.has(err.errorCode))) {
      return new ProviderError('provider_spend_limit', `Anthropic spend limit reached: ${message}`, status, undefined, headers, details);
    }
    return new ProviderError('rate_limited', `Anthropic rate limit: ${message}`, status, parseRetryAfter(headers), headers, details);
  }
  if (status === 401 || status === 403) {
    return new ProviderError('provider_auth', `Anthropic refused the credentials: ${message}`, status, undefined, headers, details);
  }
  if (status === 529 || err.type === 'overloaded_error') {
    return new ProviderError('provider_overloaded', `Anthropic is overloaded: ${message}`, status, parseRetryAfter(headers), headers, details);
  }
  if (status >= 500) {
    return new ProviderError('provider_error', `Anthropic error ${status}: ${message}`, status, parseRetryAfter(headers), headers, details);
  }
  return new ProviderError('provider_rejected', `Anthropic rejected the request (${status}): ${message}`, status, undefined, headers, details);
}
