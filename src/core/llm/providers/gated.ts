import { estimateRequestTokens } from '../../gate/estimate-tokens.js';
import type { Gate, GatePriority, GateRequest } from '../../gate/gate.js';
import type { CompleteInput, CompleteOutput, LlmProvider, ReviewInput, ReviewOutput } from './provider.js';

/**
 * The one way review code calls a provider: through the gate, with the reservation computed from
 * the exact request the provider will send. The provider is called with the gate's signal (which
 * follows the caller's), and hands usage and headers back to the gate for reconciliation.
 */
export interface GateContext {
  orgId: string;
  projectId?: string;
  userId?: string;
  apiKeyId?: string;
  reviewId?: string;
  priority: GatePriority;
  role?: GateRequest['role'];
  purpose?: string;
  wait?: boolean;
  signal?: AbortSignal;
}

function gateRequest(ctx: GateContext, provider: LlmProvider, estimatedInputTokens: number, maxOutputTokens: number): GateRequest {
  return { ...ctx, provider: provider.name, model: provider.model, estimatedInputTokens, maxOutputTokens };
}

export function reviewThroughGate(gate: Gate, provider: LlmProvider, ctx: GateContext, input: Omit<ReviewInput, 'signal'>): Promise<ReviewOutput> {
  const req = gateRequest(ctx, provider, provider.estimateReviewTokens(input), provider.maxOutputTokens);
  return gate.run(req, async (signal) => {
    const out = await provider.review({ ...input, signal });
    return { value: out, usage: out.usage, headers: out.headers };
  });
}

export function completeThroughGate(
  gate: Gate,
  provider: LlmProvider,
  ctx: GateContext,
  input: Omit<CompleteInput, 'signal'>,
): Promise<CompleteOutput> {
  const estimate = estimateRequestTokens({ system: input.system, prompt: input.prompt });
  const req = gateRequest(ctx, provider, estimate, input.maxTokens ?? provider.maxOutputTokens);
  return gate.run(req, async (signal) => {
    const out = await provider.complete({ ...input, signal });
    return { value: out, usage: out.usage, headers: out.headers };
  });
}
