import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Per-process Prometheus metrics, built by the composition root and passed in CoreDeps (no global
 * registry). Review metrics are labelled by org and project ids, so one tenant's load is visible
 * on its own; ids, not names, keep label values stable and free of user text.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'quorum_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'] as const, registers: [this.registry] });
  readonly httpDuration = new Histogram({
    name: 'quorum_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reviews = new Counter({ name: 'quorum_reviews_total', help: 'Reviews that ended, by outcome', labelNames: ['org', 'project', 'status'] as const, registers: [this.registry] });
  readonly reviewDuration = new Histogram({
    name: 'quorum_review_duration_seconds',
    help: 'Review run time in this process (one attempt)',
    labelNames: ['org', 'project'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly worktreesLive = new Gauge({ name: 'quorum_worktrees_live', help: 'Worktrees this process holds now', labelNames: ['org', 'project'] as const, registers: [this.registry] });
  readonly worktreesRemoved = new Counter({ name: 'quorum_worktrees_swept_total', help: 'Worktrees removed by the sweeper', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly worktreeDiskUsed = new Gauge({ name: 'quorum_worktree_disk_used_ratio', help: 'Used fraction of the filesystem holding the data directory', registers: [this.registry] });

  readonly gateWait = new Histogram({
    name: 'quorum_gate_wait_seconds',
    help: 'Time an LLM call waited in the gate for its turn and capacity, per attempt',
    labelNames: ['pool'] as const,
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly gateCalls = new Counter({ name: 'quorum_gate_calls_total', help: 'LLM calls through the gate, by outcome', labelNames: ['pool', 'outcome'] as const, registers: [this.registry] });
  readonly upstream429 = new Counter({ name: 'quorum_gate_upstream_429_total', help: 'Upstream 429 answers (should stay 0 with correct limits)', labelNames: ['pool'] as const, registers: [this.registry] });
  readonly gateBreakerOpen = new Counter({ name: 'quorum_gate_circuit_open_total', help: 'Times a pool circuit opened after repeated 529/5xx', labelNames: ['pool'] as const, registers: [this.registry] });
  readonly gateTokens = new Counter({ name: 'quorum_gate_tokens_total', help: 'Tokens used by LLM calls', labelNames: ['org', 'model', 'kind'] as const, registers: [this.registry] });
  readonly gateCost = new Counter({ name: 'quorum_gate_cost_usd_total', help: 'Cost of LLM calls in USD', labelNames: ['org', 'model'] as const, registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'quorum_process_' });
  }
}
