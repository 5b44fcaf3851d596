/**
 * What a provider's response headers say about its limits, per bucket kind. Anthropic:
 * `anthropic-ratelimit-{requests|input-tokens|output-tokens}-{limit|remaining}` (token
 * `remaining` is rounded to the thousand, so it only lowers our view when it is clearly lower).
 * OpenAI-compatible servers: `x-ratelimit-{limit|remaining}-{requests|tokens}`.
 */
export interface HeaderFact {
  kind: 'rpm' | 'itpm' | 'otpm';
  limit?: number | undefined;
  remaining?: number | undefined;
}

const ROUNDING_SLACK = 500;

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function learnFromHeaders(provider: string, h: Record<string, string>): HeaderFact[] {
  const facts: HeaderFact[] = [];
  const push = (kind: HeaderFact['kind'], limit: string | undefined, remaining: string | undefined, slack: number) => {
    const l = num(limit);
    const r = num(remaining);
    if (l === undefined && r === undefined) return;
    facts.push({ kind, limit: l && l > 0 ? l : undefined, remaining: r === undefined ? undefined : r + slack });
  };
  if (provider === 'anthropic') {
    push('rpm', h['anthropic-ratelimit-requests-limit'], h['anthropic-ratelimit-requests-remaining'], 0);
    push('itpm', h['anthropic-ratelimit-input-tokens-limit'], h['anthropic-ratelimit-input-tokens-remaining'], ROUNDING_SLACK);
    push('otpm', h['anthropic-ratelimit-output-tokens-limit'], h['anthropic-ratelimit-output-tokens-remaining'], ROUNDING_SLACK);
  } else {
    push('rpm', h['x-ratelimit-limit-requests'], h['x-ratelimit-remaining-requests'], 0);
    push('itpm', h['x-ratelimit-limit-tokens'], h['x-ratelimit-remaining-tokens'], ROUNDING_SLACK);
  }
  return facts;
}
