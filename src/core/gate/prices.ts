import type { TokenUsage } from './gate.js';

/** US dollars per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

/**
 * List prices per model-name prefix (longest prefix wins), per million tokens. Cache writes are
 * 1.25 × input (5-minute cache), cache reads 0.1 × input. Overridable with QUORUM_GATE_PRICES;
 * an unknown model costs 0 (self-hosted models), which `quorum usage` shows as such.
 */
const anthropic = (input: number, output: number): ModelPrice => ({ input, output, cacheWrite: input * 1.25, cacheRead: input * 0.1 });

export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-opus-4-5': anthropic(5, 25),
  'claude-opus-4-6': anthropic(5, 25),
  'claude-opus-4': anthropic(15, 75),
  'claude-sonnet-4': anthropic(3, 15),
  'claude-3-7-sonnet': anthropic(3, 15),
  'claude-haiku-4': anthropic(1, 5),
  'claude-3-5-haiku': anthropic(0.8, 4),
  'claude-3-haiku': anthropic(0.25, 1.25),
  // Families without a more specific entry: the current list price of the family.
  'claude-opus': anthropic(5, 25),
  'claude-sonnet': anthropic(3, 15),
  'claude-haiku': anthropic(1, 5),
};

export class PriceTable {
  private readonly entries: Array<[string, ModelPrice]>;

  constructor(prices: Readonly<Record<string, ModelPrice>>) {
    this.entries = Object.entries(prices).sort(([a], [b]) => b.length - a.length);
  }

  priceOf(model: string): ModelPrice | undefined {
    return this.entries.find(([prefix]) => model.startsWith(prefix))?.[1];
  }

  cost(model: string, usage: TokenUsage): number {
    const p = this.priceOf(model);
    if (!p) return 0;
    return (
      (usage.inputTokens * p.input + usage.outputTokens * p.output + usage.cacheCreationInputTokens * p.cacheWrite + usage.cacheReadInputTokens * p.cacheRead) /
      1_000_000
    );
  }
}

/** Model class of a model name: Anthropic's limits are per class (opus / sonnet / haiku). */
export function modelClass(provider: string, model: string): string {
  if (provider === 'anthropic') {
    const m = /(opus|sonnet|haiku)/.exec(model);
    if (m?.[1]) return m[1];
  }
  return model.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
}
