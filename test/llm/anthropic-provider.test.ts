import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicProvider } from '../../src/core/llm/providers/anthropic.js';
import { REPORT_TOOL_NAME } from '../../src/core/llm/providers/prompt.js';
import { ProviderError } from '../../src/core/llm/providers/provider.js';
import { FINDINGS_JSON_SCHEMA } from '../../src/core/llm/providers/structured-output.js';
import { AnthropicStandIn, STAND_IN_API_KEY, type AnthropicStandInOptions, type MessagesBody } from '../stand-ins/anthropic-stand-in.js';
import { CLEAN_DIFF, modelFinding, SQL_DIFF } from './fixtures.js';

let standIn: AnthropicStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

async function setup(opts: AnthropicStandInOptions = {}, apiKey = STAND_IN_API_KEY) {
  standIn = await AnthropicStandIn.start(opts);
  const provider = new AnthropicProvider({ apiKey, baseUrl: standIn.url, model: 'claude-sonnet-4-6', timeoutMs: 10_000, maxOutputTokens: 1024 });
  return { s: standIn, provider };
}

const sqlReview = { persona: 'security' as const, diffChunk: SQL_DIFF, files: ['src/users.ts'] };

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe('AnthropicProvider against the Messages API stand-in', () => {
  it('sends one well-formed tool-forced request and returns validated findings with usage and headers', async () => {
    const { s, provider } = await setup({ limits: { rpm: 50, itpm: 40_000, otpm: 8_000 } });
    const out = await provider.review({ ...sqlReview, instructions: 'We use node-postgres.' });

    expect(out.findings).toEqual([
      expect.objectContaining({ file: 'src/users.ts', lineStart: 12, lineEnd: 12, category: 'security', severity: 9, reviewer: 'security' }),
    ]);
    expect(out.findings[0]?.title).toBe('SQL injection via string concatenation');
    expect(out.droppedFindings).toBe(0);

    expect(s.requests).toHaveLength(1);
    const rec = s.requests[0]!;
    // SDK 1.x speaks API version 2026-10-21, which takes the key as a bearer token.
    expect(rec.headers.authorization).toBe(`Bearer ${STAND_IN_API_KEY}`);
    expect(rec.headers['anthropic-version']).toMatch(/^\d{4}-\d\d-\d\d$/);
    expect(rec.headers['x-stainless-retry-count']).toBe('0');
    const body = rec.body as MessagesBody & { system: string };
    expect(body.model).toBe('claude-sonnet-4-6');
    expect(body.max_tokens).toBe(1024);
    expect(body.tool_choice).toEqual({ type: 'tool', name: REPORT_TOOL_NAME });
    expect(body.tools?.[0]?.input_schema).toEqual(FINDINGS_JSON_SCHEMA);
    expect(body.system).toContain('application security reviewer');
    expect(body.system).toContain('We use node-postgres.');
    expect(JSON.stringify(body.messages)).toContain('SELECT * FROM users');

    // Usage is what the server reported, not our estimate.
    expect(out.usage.inputTokens).toBeGreaterThan(100);
    expect(out.usage.outputTokens).toBeGreaterThan(0);
    expect(out.usage.cacheReadInputTokens).toBe(0);
    expect(out.headers['anthropic-ratelimit-requests-limit']).toBe('50');
    expect(out.headers['anthropic-ratelimit-requests-remaining']).toBe('49');
    expect(out.headers['anthropic-ratelimit-input-tokens-limit']).toBe('40000');
    expect(out.headers['anthropic-ratelimit-output-tokens-reset']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(out.requestId).toBe('req_standin_000001');
    expect(out.model).toBe('claude-sonnet-4-6');
  });

  it('reports nothing on a clean change', async () => {
    const { provider } = await setup();
    const out = await provider.review({ persona: 'correctness', diffChunk: CLEAN_DIFF, files: ['src/math.ts'] });
    expect(out.findings).toEqual([]);
  });

  it('normalises b/ paths and drops findings on files outside the chunk', async () => {
    const { provider } = await setup({
      respond: () => ({ type: 'tool_use', input: { findings: [modelFinding({ file: 'b/src/users.ts' }), modelFinding({ file: 'src/elsewhere.ts' })] } }),
    });
    const out = await provider.review({ ...sqlReview, reviewer: 'anthropic/security' });
    expect(out.findings.map((f) => [f.file, f.reviewer])).toEqual([['src/users.ts', 'anthropic/security']]);
    expect(out.droppedFindings).toBe(1);
  });

  it('turns a tool input that breaks the schema into provider_bad_output', async () => {
    const { s, provider } = await setup({
      respond: () => ({ type: 'tool_use', input: { findings: [modelFinding({ severity: 11, lineEnd: 3 })] } }),
    });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_bad_output');
    expect(err.retryable).toBe(false);
    const paths = (err.details as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['findings.0.severity', 'findings.0.lineEnd']));
    expect(err.toAppError().status).toBe(502);
    expect(s.requests).toHaveLength(1);
  });

  it('turns an answer without the tool call into provider_bad_output', async () => {
    const { provider } = await setup({ respond: () => ({ type: 'text', text: 'Looks good to me!' }) });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_bad_output');
    expect(err.message).toContain(REPORT_TOOL_NAME);
  });

  it('treats an answer cut off at max_tokens as bad output', async () => {
    const { provider } = await setup({ respond: () => ({ type: 'tool_use', input: { findings: [] }, outputTokens: 5_000 }) });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_bad_output');
    expect(err.details).toEqual({ stop_reason: 'max_tokens' });
  });

  it('maps an RPM 429 to rate_limited with retry-after, in exactly one HTTP request per call', async () => {
    const clock = 1_750_000_000_000;
    const { s, provider } = await setup({ limits: { rpm: 1 }, now: () => clock });
    await provider.review(sqlReview);
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('rate_limited');
    expect(err.status).toBe(429);
    // One request per minute, continuously replenished: the next token is 60 s away.
    expect(err.retryAfterS).toBe(60);
    expect(err.headers['anthropic-ratelimit-requests-remaining']).toBe('0');
    expect(err.retryable).toBe(true);
    expect(s.requests.map((r) => r.status)).toEqual([200, 429]);
  });

  it('computes retry-after from the input-token bucket and admits the call once it has refilled', async () => {
    let clock = 1_750_000_000_000;
    const { s, provider } = await setup({ limits: { itpm: 1_000 }, now: () => clock });
    const first = await provider.review(sqlReview);
    const used = first.usage.inputTokens;
    expect(used).toBeGreaterThan(500); // so a second identical call cannot fit in a 1,000 ITPM bucket

    const err = await providerError(provider.review(sqlReview));
    const deficitMs = (used - (1_000 - used)) / (1_000 / 60_000);
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterS).toBe(Math.ceil(deficitMs / 1000));
    expect(err.headers['anthropic-ratelimit-input-tokens-limit']).toBe('1000');

    clock += (err.retryAfterS ?? 0) * 1000;
    const again = await provider.review(sqlReview);
    expect(again.findings).toHaveLength(1);
    expect(s.requests.map((r) => r.status)).toEqual([200, 429, 200]);
  });

  it('maps 529 to provider_overloaded without retrying', async () => {
    const { s, provider } = await setup();
    s.failNext('overloaded');
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_overloaded');
    expect(err.status).toBe(529);
    expect(err.retryable).toBe(true);
    expect(s.requests).toHaveLength(1);
  });

  it('maps 500 to provider_error without retrying (the SDK would retry it by default)', async () => {
    const { s, provider } = await setup();
    s.failNext('server_error');
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_error');
    expect(err.status).toBe(500);
    expect(err.headers['request-id']).toBe('req_standin_000001');
    expect(s.requests).toHaveLength(1);
  });

  it('maps a spend-limit 429 to provider_spend_limit, which is not retryable', async () => {
    const { s, provider } = await setup();
    s.failNext('spend_limit');
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_spend_limit');
    expect(err.status).toBe(429);
    expect(err.retryAfterS).toBeUndefined();
    expect(err.retryable).toBe(false);
    expect(err.details).toMatchObject({ error_code: 'enforced_spend_limit_reached' });
    expect(s.requests).toHaveLength(1);
  });

  it('maps a wrong key to provider_auth and never puts the key in the error', async () => {
    const { s, provider } = await setup({}, 'sk-ant-wrong-key-123');
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_auth');
    expect(err.status).toBe(401);
    expect(JSON.stringify({ m: err.message, d: err.details, h: err.headers })).not.toContain('sk-ant-wrong-key-123');
    expect(s.requests).toHaveLength(1);
  });

  it.each([
    [400, 'invalid_request_error', 'provider_rejected'],
    [402, 'billing_error', 'provider_spend_limit'],
    [403, 'permission_error', 'provider_auth'],
    [503, 'api_error', 'provider_error'],
  ] as const)('maps HTTP %i %s to %s', async (status, errorType, code) => {
    const { s, provider } = await setup({ respond: () => ({ type: 'error', status, errorType, message: 'scripted' }) });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(s.requests).toHaveLength(1);
  });

  it('cancels an in-flight request promptly when the signal aborts', async () => {
    const { s, provider } = await setup({
      // Holds the answer until the client goes away, like a slow generation.
      respond: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ type: 'text', text: 'late' }))),
    });
    const ac = new AbortController();
    const received = once(s, 'request');
    const pending = provider.review({ ...sqlReview, signal: ac.signal });
    await received;
    const reason = new Error('review cancelled');
    const disconnected = once(s, 'aborted');
    const t0 = performance.now();
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(1_000);
    await disconnected;
    expect(s.requests[0]?.aborted).toBe(true);
    expect(s.requests).toHaveLength(1);
  });

  it('sends nothing when the signal is already aborted', async () => {
    const { s, provider } = await setup();
    const ac = new AbortController();
    ac.abort();
    await expect(provider.review({ ...sqlReview, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(s.requests).toHaveLength(0);
  });

  it('complete() returns the text of a plain message', async () => {
    const { s, provider } = await setup({ respond: ({ prompt }) => ({ type: 'text', text: `plan for: ${prompt}` }) });
    const out = await provider.complete({ system: 'You plan.', prompt: 'fix the bug', maxTokens: 300 });
    expect(out.text).toBe('plan for: fix the bug');
    expect(out.usage.outputTokens).toBeGreaterThan(0);
    const body = s.requests[0]?.body as MessagesBody;
    expect(body.max_tokens).toBe(300);
    expect(body.tools).toBeUndefined();
  });

  it('estimates at least the input tokens the server counts', async () => {
    const { provider } = await setup();
    const out = await provider.review(sqlReview);
    expect(provider.estimateReviewTokens(sqlReview)).toBeGreaterThanOrEqual(out.usage.inputTokens);
  });
});
