/**
 * Token estimates before a call, for the gate's reservation and the diff splitter's budget.
 *
 * We have no tokenizer for every model we talk to, so we count characters: English prose runs
 * about 4 characters per token, source code and diffs (short identifiers, punctuation, indents)
 * closer to 3–3.5. Dividing by 3.5 errs on the high side for code, which is the safe side: an
 * estimate that is too high holds a little capacity until the real `usage` reconciles it; one
 * that is too low sends calls the provider then refuses with 429.
 */
export const CHARS_PER_TOKEN = 3.5;

/** Same shape as the review engine's TokenEstimator, so it can be passed to splitForBudget. */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/**
 * Fixed per-request input the provider adds around our text: message framing plus, with tool
 * use, the tool-use system prompt (Anthropic documents a few hundred tokens for a forced tool
 * choice). Rounded up: it only feeds reservations.
 */
export const MESSAGE_OVERHEAD_TOKENS = 10;
export const TOOL_USE_OVERHEAD_TOKENS = 350;

/** Estimate of one chat request: system + user text + (serialized) tool/response schema. */
export function estimateRequestTokens(parts: { system: string; prompt: string; schema?: unknown }): number {
  const schemaTokens = parts.schema === undefined ? 0 : estimateTokens(JSON.stringify(parts.schema)) + TOOL_USE_OVERHEAD_TOKENS;
  return estimateTokens(parts.system) + estimateTokens(parts.prompt) + schemaTokens + 2 * MESSAGE_OVERHEAD_TOKENS;
}
