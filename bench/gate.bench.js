// The gate against the Anthropic stand-in (real SDK, real HTTP, token buckets as documented):
// 3 orgs with different loads, tiers and roles keep the provider saturated for BENCH_GATE_SECONDS
// (default 120). Printed: upstream 429s, utilisation of the binding limit (ITPM here), Jain's index
// between the two backlogged equal orgs, the weighted org's share, p50/p95 wait per role, and the
// gate's own overhead per call. Then the SAME load without the gate — the SDK's default retries
// (maxRetries 2, honouring retry-after) — on a fresh stand-in, so the ratio is visible.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import Anthropic from '@anthropic-ai/sdk';
import { loadConfig } from '../dist/config.js';
import { openRuntime } from '../dist/main/runtime.js';
import { bootstrapOwner } from '../dist/core/tenancy/bootstrap.js';
import { AnthropicStandIn, STAND_IN_API_KEY } from '../dist/dev/stand-ins/anthropic-stand-in.js';
import { SchedulingGate } from '../dist/core/gate/scheduling-gate.js';
import { MemoryBucketStore } from '../dist/core/gate/buckets.js';
import { estimateRequestTokens } from '../dist/core/gate/estimate-tokens.js';
import { ProviderError, headersToRecord, parseRetryAfter } from '../dist/core/llm/providers/provider.js';
import pg from 'pg';
import { sql } from 'kysely';

const SECONDS = Number(process.env.BENCH_GATE_SECONDS ?? 120);
const MODEL = 'claude-sonnet-4-6';
const LIMITS = { rpm: 1_000, itpm: 300_000, otpm: 100_000 };
const MAX_TOKENS = 512;
const OUTPUT_TOKENS = 100;
const PROMPT = 'Review the following change for problems and report them. '.repeat(100); // ≈ 1,500 tokens for the stand-in
const SYSTEM = 'You are a terse code reviewer.';

// Closed-loop clients: each keeps `outstanding` calls in flight all the time.
const LOAD = [
  { org: 'heavy', tier: 'free', outstanding: 24, roles: ['admin', 'viewer'] },
  { org: 'light', tier: 'free', outstanding: 6, roles: ['reviewer'] },
  { org: 'paying', tier: 'pro', outstanding: 6, roles: ['reviewer'] },
];

const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const jain = (xs) => {
  const sum = xs.reduce((a, b) => a + b, 0);
  return (sum * sum) / (xs.length * xs.reduce((a, b) => a + b * b, 0));
};
const f = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

/** Tracks what the stand-in admitted within the measured window. */
const SETTLE_S = Number(process.env.BENCH_GATE_WARMUP_SECONDS ?? 15);

function meter(standIn, t0, t1) {
  const arrivals = new Map();
  // byOrg: service (input + 2 × output) after the first SETTLE_S seconds, when the full bucket's
  // initial burst (which serves everyone at once) is spent and the orgs really compete.
  const served = { input: 0, byOrg: new Map(), ok: 0, refused: 0, limitedBy: {} };
  standIn.on('request', (r) => arrivals.set(r.seq, { at: Date.now(), org: r.headers['x-bench-org'] }));
  standIn.on('response', (r) => {
    const a = arrivals.get(r.seq);
    if (!a || a.at < t0 || a.at > t1()) return;
    if (r.status === 429) {
      served.refused++;
      served.limitedBy[r.limitedBy ?? 'other'] = (served.limitedBy[r.limitedBy ?? 'other'] ?? 0) + 1;
    }
    if (r.status !== 200) return;
    served.ok++;
    served.input += r.inputTokens ?? 0;
    if (a.at < t0 + SETTLE_S * 1000) return;
    const svc = (r.inputTokens ?? 0) + 2 * (r.outputTokens ?? 0);
    served.byOrg.set(a.org, (served.byOrg.get(a.org) ?? 0) + svc);
  });
  return served;
}

async function closedLoop(seconds, one) {
  const t0 = Date.now();
  const until = t0 + seconds * 1000;
  const loops = [];
  for (const l of LOAD) {
    for (let i = 0; i < l.outstanding; i++) {
      const role = l.roles[i % l.roles.length];
      loops.push(
        (async () => {
          while (Date.now() < until) await one(l, role).catch(() => undefined);
        })(),
      );
    }
  }
  return { t0, until, done: Promise.all(loops) };
}

async function gatePhase(rt, orgs) {
  const standIn = await AnthropicStandIn.start({
    limits: LIMITS,
    msPerOutputToken: 2,
    recordRequests: false,
    respond: () => ({ type: 'text', text: 'x'.repeat(OUTPUT_TOKENS * 4), outputTokens: OUTPUT_TOKENS }),
  });
  const client = new Anthropic({ apiKey: STAND_IN_API_KEY, baseURL: standIn.url, maxRetries: 0 });
  const waits = new Map();
  const estimate = estimateRequestTokens({ system: SYSTEM, prompt: PROMPT });
  const one = async (l, role) => {
    const o = orgs.get(l.org);
    const started = performance.now();
    await rt.deps.gate.run(
      { orgId: o.org_id, userId: o.user_id, provider: 'anthropic', model: MODEL, priority: 'normal', role, purpose: 'bench', estimatedInputTokens: estimate, maxOutputTokens: MAX_TOKENS },
      async (signal) => {
        const w = waits.get(role) ?? [];
        w.push(performance.now() - started);
        waits.set(role, w);
        const { data, response } = await client.messages
          .create({ model: MODEL, max_tokens: MAX_TOKENS, system: SYSTEM, messages: [{ role: 'user', content: PROMPT }] }, { signal, headers: { 'x-bench-org': l.org } })
          .withResponse()
          .catch((e) => {
            throw toProviderError(e);
          });
        const headers = {};
        response.headers.forEach((v, k) => (headers[k] = v));
        return { value: data, usage: { inputTokens: data.usage.input_tokens, outputTokens: data.usage.output_tokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }, headers };
      },
    );
  };
  let endAt = Infinity;
  const t0 = Date.now();
  const served = meter(standIn, t0, () => endAt);
  const run = await closedLoop(SECONDS, one);
  endAt = run.until;
  await run.done;
  const stats = { ...standIn.stats };
  await standIn.close();
  return { served, waits, stats };
}

async function baselinePhase() {
  const standIn = await AnthropicStandIn.start({
    limits: LIMITS,
    msPerOutputToken: 2,
    recordRequests: false,
    respond: () => ({ type: 'text', text: 'x'.repeat(OUTPUT_TOKENS * 4), outputTokens: OUTPUT_TOKENS }),
  });
  const client = new Anthropic({ apiKey: STAND_IN_API_KEY, baseURL: standIn.url }); // SDK defaults: maxRetries 2
  let failed = 0;
  const one = async (l) => {
    await client.messages.create({ model: MODEL, max_tokens: MAX_TOKENS, system: SYSTEM, messages: [{ role: 'user', content: PROMPT }] }, { headers: { 'x-bench-org': l.org } }).catch((e) => {
      failed++;
      throw e;
    });
  };
  let endAt = Infinity;
  const t0 = Date.now();
  const served = meter(standIn, t0, () => endAt);
  const run = await closedLoop(SECONDS, one);
  endAt = run.until;
  await run.done;
  const stats = { ...standIn.stats };
  await standIn.close();
  return { served, stats, failed };
}

/** The SDK's error as the gate understands it (what src/core/llm/providers/anthropic.ts does for real calls). */
function toProviderError(e) {
  const headers = headersToRecord(e?.headers);
  const status = e?.status;
  const code = status === 429 ? 'rate_limited' : status === 529 ? 'provider_overloaded' : 'provider_error';
  return new ProviderError(code, String(e?.message ?? e), status, parseRetryAfter(headers), headers);
}

/**
 * The gate's own cost per call: the time of gate.run minus the time inside the upstream call, on
 * calls that never wait. Measured the same way in the same run: one bare database round trip made
 * between the same upstream calls (`select 1`) — the floor for anything that shares its state
 * through PostgreSQL, since a process that was waiting on HTTP must wake a database backend.
 */
async function overhead(rt, org, gate, label) {
  const standIn = await AnthropicStandIn.start({ recordRequests: false, respond: () => ({ type: 'text', text: 'ok', outputTokens: 1 }) });
  const client = new Anthropic({ apiKey: STAND_IN_API_KEY, baseURL: standIn.url, maxRetries: 0 });
  const upstream = () => client.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  const over = [];
  const roundTrip = [];
  for (let i = 0; i < 340; i++) {
    let inside = 0;
    const t0 = performance.now();
    await gate.run({ orgId: org.org_id, userId: org.user_id, provider: 'anthropic', model: MODEL, priority: 'normal', estimatedInputTokens: 20, maxOutputTokens: 16 }, async () => {
      const c0 = performance.now();
      const data = await upstream();
      inside = performance.now() - c0;
      return { value: data, usage: { inputTokens: data.usage.input_tokens, outputTokens: data.usage.output_tokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 } };
    });
    if (i >= 20) over.push(performance.now() - t0 - inside);
    await upstream();
    const r0 = performance.now();
    await sql`select 1`.execute(rt.deps.db);
    if (i >= 20) roundTrip.push(performance.now() - r0);
  }
  await gate.drain?.();
  await standIn.close();
  console.log(`  gate overhead per call (${label}): p50 ${f(pct(over, 50), 2)} ms, p99 ${f(pct(over, 99), 2)} ms  (target p50 < 1 ms)`);
  return { p50: pct(over, 50), roundTripP50: pct(roundTrip, 50) };
}

export default async function run() {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-bench-gate-'));
  const env = {
    QUORUM_DATA_DIR: dataDir,
    QUORUM_LOG_LEVEL: 'silent',
    QUORUM_DB_POOL_SIZE: '20',
    ANTHROPIC_API_KEY: STAND_IN_API_KEY,
    ANTHROPIC_RPM: String(LIMITS.rpm),
    ANTHROPIC_ITPM: String(LIMITS.itpm),
    ANTHROPIC_OTPM: String(LIMITS.otpm),
    QUORUM_GATE_AGING_MS: '20000',
    QUORUM_TIER_LIMITS: JSON.stringify({ free: { monthly_budget_usd: 100000 }, pro: { monthly_budget_usd: 100000 } }),
  };
  const config = loadConfig({}, env);
  const rt = await openRuntime(config, { logger: pino({ level: 'silent' }), migrate: true });
  try {
    const orgs = new Map();
    for (const l of LOAD) {
      const o = await bootstrapOwner(rt.deps, { email: `${l.org}@bench.test`, org: l.org });
      if (l.tier !== 'free') {
        const c = new pg.Client({ connectionString: rt.adminUrl });
        await c.connect();
        await c.query('update orgs set tier = $2 where id = $1', [o.org_id, l.tier]);
        await c.end();
      }
      orgs.set(l.org, o);
    }
    console.log(`gate bench: ${SECONDS} s per phase · stand-in limits RPM ${LIMITS.rpm}, ITPM ${LIMITS.itpm}, OTPM ${LIMITS.otpm} · ~1,500 input / ${OUTPUT_TOKENS} output tokens per call, max_tokens ${MAX_TOKENS}`);
    console.log(`load: ${LOAD.map((l) => `${l.org} (${l.tier}, ${l.outstanding} in flight, ${l.roles.join('/')})`).join(' · ')}`);
    console.log('overhead (uncontended calls, no waiting):');
    const shared = await overhead(rt, orgs.get('light'), rt.deps.gate, 'buckets in PostgreSQL, the default');
    const memGate = new SchedulingGate({ db: rt.deps.db, store: new MemoryBucketStore(), config: config.gate, tierLimits: config.tierLimits, logger: pino({ level: 'silent' }) });
    await overhead(rt, orgs.get('light'), memGate, 'buckets in process, QUORUM_GATE_STORE=memory');
    await memGate.close();
    console.log(`  baseline, one bare database round trip between the same calls: p50 ${f(shared.roundTripP50, 2)} ms → shared-bucket overhead = ${f(shared.p50 / shared.roundTripP50, 1)} round trips`);

    const g = await gatePhase(rt, orgs);
    const b = await baselinePhase();
    const capacity = LIMITS.itpm + (LIMITS.itpm * SECONDS) / 60;
    const utilG = g.served.input / capacity;
    const utilB = b.served.input / capacity;
    const share = (s, o) => s.byOrg.get(o) ?? 0;
    console.log('');
    console.log('                               with the gate   SDK retries, no gate');
    console.log(`upstream 429s                  ${String(g.stats.rateLimited).padEnd(15)} ${b.stats.rateLimited}   ${JSON.stringify(g.served.limitedBy)}`);
    console.log(`calls completed                ${String(g.served.ok).padEnd(15)} ${b.served.ok}  (${b.failed} failed after the SDK's retries)`);
    console.log(`ITPM utilisation (binding)     ${(f(utilG * 100) + ' %').padEnd(15)} ${f(utilB * 100)} %   (target ≥ 97 %)`);
    console.log(`Jain heavy vs light (equal)    ${f(jain([share(g.served, 'heavy'), share(g.served, 'light')]), 3).padEnd(15)} ${f(jain([share(b.served, 'heavy'), share(b.served, 'light')]), 3)}   (target ≥ 0.99)`);
    console.log(`paying (weight 2) / light      ${f(share(g.served, 'paying') / share(g.served, 'light'), 2).padEnd(15)} ${f(share(b.served, 'paying') / share(b.served, 'light'), 2)}   (expected 2)`);
    for (const role of ['admin', 'reviewer', 'viewer']) {
      const w = g.waits.get(role) ?? [];
      console.log(`wait ${role.padEnd(9)} p50 / p95     ${`${f(pct(w, 50) / 1000, 2)} / ${f(pct(w, 95) / 1000, 2)} s`}`);
    }
    console.log(`utilisation ratio gate / baseline: ${f(utilG / utilB, 2)} · 429s: ${g.stats.rateLimited} vs ${b.stats.rateLimited}`);
  } finally {
    await rt.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
