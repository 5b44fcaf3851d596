import { AppError } from '../../errors.js';
import { abortReason, type TokenUsage } from '../../gate/gate.js';
import type { Persona, RawFinding } from '../../review/types.js';

/**
 * An LLM provider performs exactly one upstream HTTP request per method call: no retries of its
 * own (the gate decides), no waiting, no logging of prompts or keys. Failures are ProviderErrors
 * with a code the gate can act on; a caller's abort rejects with the signal's reason.
 */

export type ProviderName = 'anthropic' | 'openai-compatible';

export interface ReviewInput {
  persona: Persona;
  /** Unified diff text of one chunk (see review/diff-budget.ts), the only code the model sees. */
  diffChunk: string;
  /** New paths of the files in the chunk; findings on other paths are dropped as hallucinated. */
  files: readonly string[];
  /** Project-specific guidance appended to the persona prompt (trusted: set by project admins). */
  instructions?: string;
  /** Name recorded on each finding; defaults to the persona. */
  reviewer?: string;
  signal?: AbortSignal;
}

export interface ProviderCallMeta {
  usage: TokenUsage;
  /** Response headers with lower-case names (rate-limit state for the gate). */
  headers: Record<string, string>;
  /** The model that answered, as the provider reported it. */
  model: string;
  requestId: string | undefined;
}

export interface ReviewOutput extends ProviderCallMeta {
  findings: RawFinding[];
  /** Findings the model reported on files outside the chunk (dropped, counted for diagnostics). */
  droppedFindings: number;
}

export interface CompleteInput {
  system: string;
  prompt: string;
  maxTokens?: number;
  signal?: AbortSignal;
}

export interface CompleteOutput extends ProviderCallMeta {
  text: string;
}

export interface LlmProvider {
  readonly name: ProviderName;
  readonly model: string;
  /** The `max_tokens` every review call asks for; the gate reserves it against OTPM. */
  readonly maxOutputTokens: number;
  /** Estimated input tokens of `review(input)`, computed from the exact request it will send. */
  estimateReviewTokens(input: ReviewInput): number;
  review(input: ReviewInput): Promise<ReviewOutput>;
  complete(input: CompleteInput): Promise<CompleteOutput>;
}

export type ProviderErrorCode =
  | 'rate_limited'
  | 'provider_spend_limit'
  | 'provider_overloaded'
  | 'provider_error'
  | 'provider_auth'
  | 'provider_bad_output'
  /** The provider refused this request as such (400, 404 model, 413): retrying cannot help. */
  | 'provider_rejected';

/**
 * A failure of one upstream call. `status` is the UPSTREAM HTTP status (undefined for network
 * errors and bad output on a 200); `retryAfterS` is the provider's `retry-after` in seconds.
 * Not an AppError: the gate handles these first; `toAppError()` is for front doors.
 */
export class ProviderError extends Error {
  constructor(
    public readonly code: ProviderErrorCode,
    message: string,
    public readonly status: number | undefined,
    public readonly retryAfterS: number | undefined,
    public readonly headers: Record<string, string>,
    public readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  /** Whether the same request can succeed later (the gate's retry decision starts here). */
  get retryable(): boolean {
    return this.code === 'rate_limited' || this.code === 'provider_overloaded' || this.code === 'provider_error';
  }

  toAppError(): AppError {
    return new AppError(this.code, this.message, this.details, this.retryAfterS);
  }
}

/** Header-object → record with lower-case names. */
export function headersToRecord(headers: Headers | undefined | null): Record<string, string> {
  const out: Record<string, string> = {};
  headers?.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

/**
 * `retry-after` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); `retry-after-ms`
 * (sent by OpenAI-style servers) wins when present because it is more precise.
 */
export function parseRetryAfter(headers: Record<string, string>, nowMs: number = Date.now()): number | undefined {
  const ms = headers['retry-after-ms'];
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms) / 1000;
  const raw = headers['retry-after']?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, (at - nowMs) / 1000);
}

/** Rejection value for a caller's abort: the signal's own reason, like fetch does. */
export const abortError: (signal: AbortSignal) => unknown = abortReason;
