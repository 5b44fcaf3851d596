import type { CoreDeps } from '../deps.js';
import { AppError } from '../errors.js';
import { estimateTokens } from '../gate/estimate-tokens.js';
import { reviewThroughGate } from '../llm/providers/gated.js';
import { ProviderError } from '../llm/providers/provider.js';
import { developerRole } from '../tenancy/developer-role.js';
import { splitForBudget } from './diff.js';
import { reviewerKey } from './panel.js';
import type { ReviewerRunner } from './run-reviewer.js';
import type { RawFinding } from './types.js';

/** Tokens of diff per model call, and the most calls one reviewer makes on one review. */
const CHUNK_TOKEN_BUDGET = 48_000;
const MAX_CHUNKS = 12;

/**
 * An LLM-backed reviewer: the diff is split into chunks that fit the context budget (files that do
 * not fit are reported as clipped, never silently dropped), and every call goes through the gate.
 */
export const runLlmReviewer: ReviewerRunner = async (deps: CoreDeps, spec, ctx) => {
  if (spec.provider === 'builtin') throw new Error('runLlmReviewer is for model providers');
  const provider = deps.llm.get(spec.provider, spec.model);
  const split = splitForBudget(ctx.files, CHUNK_TOKEN_BUDGET, estimateTokens, { maxChunks: MAX_CHUNKS });
  const findings: RawFinding[] = [];
  const role = await developerRole(deps.db, ctx.orgId, ctx.projectId, ctx.userId);
  const usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, calls: 0 };
  for (const chunk of split.chunks) {
    try {
      const out = await reviewThroughGate(
        deps.gate,
        provider,
        {
          orgId: ctx.orgId,
          projectId: ctx.projectId,
          userId: ctx.userId,
          ...(ctx.apiKeyId && { apiKeyId: ctx.apiKeyId }),
          reviewId: ctx.reviewId,
          priority: ctx.priority,
          role,
          purpose: `review:${reviewerKey(spec)}`,
          signal: ctx.signal,
        },
        { persona: spec.persona, diffChunk: chunk.text, files: chunk.files.map((f) => f.path), reviewer: reviewerKey(spec) },
      );
      findings.push(...out.findings);
      usage.input_tokens += out.usage.inputTokens;
      usage.output_tokens += out.usage.outputTokens;
      usage.cache_creation_input_tokens += out.usage.cacheCreationInputTokens;
      usage.cache_read_input_tokens += out.usage.cacheReadInputTokens;
      usage.calls++;
    } catch (e) {
      if (e instanceof ProviderError) throw e.toAppError();
      if (e instanceof AppError) throw e;
      throw e;
    }
  }
  return { findings, usage, coverage: split.coverage };
};
