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

  // Cluster (jobs, queue, workers, singletons, database). Queue and worker gauges are cluster-wide,
  // read from PostgreSQL at scrape time by the hooks the composition root registers (onScrape).
  readonly jobs = new Counter({ name: 'quorum_jobs_total', help: 'Jobs run by this process, by task and outcome (success, retry, failed, handed_back)', labelNames: ['task', 'outcome'] as const, registers: [this.registry] });
  readonly jobDuration = new Histogram({
    name: 'quorum_job_duration_seconds',
    help: 'Job run time in this process (one attempt)',
    labelNames: ['task'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly queueJobs = new Gauge({ name: 'quorum_queue_jobs', help: 'Jobs in the queue (cluster-wide) by task and state: queued, running, failed', labelNames: ['task', 'state'] as const, registers: [this.registry] });
  readonly queueOldestAge = new Gauge({ name: 'quorum_queue_oldest_age_seconds', help: 'Age of the oldest job waiting to run, by task (cluster-wide)', labelNames: ['task'] as const, registers: [this.registry] });
  readonly workers = new Gauge({ name: 'quorum_workers', help: 'Worker processes with a heartbeat row (cluster-wide), by state: live, lapsed', labelNames: ['state'] as const, registers: [this.registry] });
  readonly workerHeartbeatAge = new Gauge({ name: 'quorum_worker_heartbeat_age_seconds', help: 'Seconds since each worker process last beat (cluster-wide)', labelNames: ['worker'] as const, registers: [this.registry] });
  readonly heartbeats = new Counter({ name: 'quorum_worker_heartbeats_total', help: "This process's heartbeat writes, by result", labelNames: ['result'] as const, registers: [this.registry] });
  readonly sweptWorkers = new Counter({ name: 'quorum_swept_workers_total', help: 'Lapsed worker processes removed by this process (as sweeper holder)', registers: [this.registry] });
  readonly sweptJobs = new Counter({ name: 'quorum_swept_jobs_total', help: 'Jobs of lapsed workers unlocked by this process (as sweeper holder)', registers: [this.registry] });
  readonly singletonHeld = new Gauge({ name: 'quorum_singleton_held', help: '1 while this process holds the singleton', labelNames: ['name'] as const, registers: [this.registry] });
  readonly singletonAcquisitions = new Counter({ name: 'quorum_singleton_acquisitions_total', help: 'Times this process acquired the singleton', labelNames: ['name'] as const, registers: [this.registry] });
  readonly dbPool = new Gauge({ name: 'quorum_db_pool_connections', help: "This process's database pools, by pool and state: total, idle, waiting", labelNames: ['pool', 'state'] as const, registers: [this.registry] });
  readonly dbUp = new Gauge({ name: 'quorum_db_up', help: '1 when this process last reached the database, 0 while it is unavailable', registers: [this.registry] });
  readonly dbUnavailable = new Counter({ name: 'quorum_db_unavailable_total', help: 'Requests answered 503 because the database was unavailable or timed out', labelNames: ['code'] as const, registers: [this.registry] });
  private readonly scrapeHooks: Array<() => Promise<void> | void> = [];

  /** Registers work to do before each scrape (reading cluster-wide gauges from the database). */
  onScrape(fn: () => Promise<void> | void): void {
    this.scrapeHooks.push(fn);
  }

  /** The exposition text; scrape hooks run first, each bounded, and a failing one only leaves its gauges as they were. */
  /**
   * The exposition as one org may see it: series labelled with another org (their org and project
   * ids, their activity) are left out; unlabelled series (this process, the queue) stay.
   */
  async scrapeForOrg(orgId: string): Promise<string> {
    const text = await this.scrape();
    return text
      .split('\n')
      .filter((line) => {
        if (line.startsWith('#')) return true;
        const m = /[{,]org="((?:[^"\\]|\\.)*)"/.exec(line);
        return !m || m[1] === orgId;
      })
      .join('\n');
  }

  async scrape(timeoutMs = 2_000): Promise<string> {
    await Promise.all(
      this.scrapeHooks.map(async (fn) => {
        let t: NodeJS.Timeout | undefined;
        await Promise.race([Promise.resolve().then(fn), new Promise((r) => (t = setTimeout(r, timeoutMs)))]).catch(() => {});
        clearTimeout(t);
      }),
    );
    return this.registry.metrics();
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'quorum_process_' });
  }
}
