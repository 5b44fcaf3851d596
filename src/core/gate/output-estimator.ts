/**
 * Running average of output tokens per (model, purpose) — e.g. the security reviewer on sonnet —
 * bounded by the request's max_tokens. The scheduler charges it to the org's fairness counter at
 * dispatch (corrected when the real usage is known); upstream OTPM is still reserved at
 * max_tokens, because that is what the provider itself reserves until the answer ends.
 */
export class OutputEstimator {
  private readonly averages = new Map<string, number>();

  constructor(
    private readonly alpha = 0.2,
    private readonly initial = 1024,
  ) {}

  estimate(key: string, maxTokens: number): number {
    return Math.max(1, Math.min(maxTokens, Math.round(this.averages.get(key) ?? this.initial)));
  }

  observe(key: string, outputTokens: number): void {
    const prev = this.averages.get(key);
    this.averages.set(key, prev === undefined ? outputTokens : prev + this.alpha * (outputTokens - prev));
  }
}
