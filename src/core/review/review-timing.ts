/**
 * Phase timings of one review's orchestration (what the review bench reports and what a debug log
 * shows when a review is slow): each mark closes the phase since the previous mark.
 */
export class Spans {
  private last = performance.now();
  readonly ms: Record<string, number> = {};

  mark(phase: string): void {
    const now = performance.now();
    this.ms[phase] = (this.ms[phase] ?? 0) + (now - this.last);
    this.last = now;
  }

  /** Rounded to 0.1 ms, for logs. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.ms).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  }
}
