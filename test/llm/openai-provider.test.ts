import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiCompatibleProvider, type StructuredOutputMode } from '../../src/core/llm/providers/openai-compatible.js';
import { REPORT_TOOL_NAME } from '../../src/core/llm/providers/prompt.js';
import { ProviderError } from '../../src/core/llm/providers/provider.js';
import { FINDINGS_JSON_SCHEMA } from '../../src/core/llm/providers/structured-output.js';
import { OpenAiStandIn, type ChatBody, type OpenAiStandInOptions } from '../stand-ins/openai-stand-in.js';
import { modelFinding, SQL_DIFF } from './fixtures.js';

const KEY = 'sk-local-test-0001';
let standIn: OpenAiStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

async function setup(opts: OpenAiStandInOptions = {}, mode: StructuredOutputMode = 'json_schema', extra: { apiKey?: string; timeoutMs?: number } = {}) {
  standIn = await OpenAiStandIn.start({ apiKey: KEY, ...opts });
  const provider = new OpenAiCompatibleProvider({
    baseUrl: `${standIn.url}/v1/`,
    apiKey: extra.apiKey ?? KEY,
    model: 'qwen2.5-coder:7b',
    structuredOutput: mode,
    timeoutMs: extra.timeoutMs ?? 10_000,
    maxOutputTokens: 2048,
  });
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

describe('OpenAiCompatibleProvider against the chat-completions stand-in', () => {
  it('json_schema mode: sends response_format and parses findings from the content', async () => {
    const { s, provider } = await setup();
    const out = await provider.review(sqlReview);
    expect(out.findings).toEqual([expect.objectContaining({ file: 'src/users.ts', lineStart: 12, category: 'security', severity: 9, reviewer: 'security' })]);
    expect(s.requests).toHaveLength(1);
    const rec = s.requests[0]!;
    expect(rec.path).toBe('/v1/chat/completions');
    expect(rec.headers.authorization).toBe(`Bearer ${KEY}`);
    const body = rec.body as ChatBody & { response_format: { json_schema: { name: string; schema: unknown } } };
    expect(body.model).toBe('qwen2.5-coder:7b');
    expect(body.max_tokens).toBe(2048);
    expect(body.response_format.json_schema).toEqual({ name: REPORT_TOOL_NAME, schema: FINDINGS_JSON_SCHEMA });
    expect(body.tools).toBeUndefined();
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(out.usage.inputTokens).toBeGreaterThan(0);
    expect(out.requestId).toBe('chatreq_1');
  });

  it('tools mode: forces the report function and parses its arguments', async () => {
    const { s, provider } = await setup({}, 'tools');
    const out = await provider.review(sqlReview);
    expect(out.findings).toHaveLength(1);
    const body = s.requests[0]?.body as ChatBody;
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: REPORT_TOOL_NAME } });
    expect(body.tools?.[0]?.function.name).toBe(REPORT_TOOL_NAME);
    expect(body.response_format).toBeUndefined();
  });

  it('none mode: puts the schema in the prompt and takes the JSON out of prose and fences', async () => {
    const { s, provider } = await setup(
      { respond: () => ({ type: 'content', content: `Here you go:\n\`\`\`json\n${JSON.stringify({ findings: [modelFinding()] })}\n\`\`\`\nCheers` }) },
      'none',
    );
    const out = await provider.review(sqlReview);
    expect(out.findings.map((f) => f.title)).toEqual(['SQL injection via string concatenation']);
    const body = s.requests[0]?.body as ChatBody;
    expect(body.response_format).toBeUndefined();
    expect(body.messages[1]?.content).toContain('"findings"');
  });

  it('splits cached prompt tokens out of prompt_tokens, like Anthropic reports them', async () => {
    const { provider } = await setup({
      respond: () => ({ type: 'content', content: '{"findings":[]}', usage: { prompt_tokens: 900, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 600 } } }),
    });
    const out = await provider.review(sqlReview);
    expect(out.usage).toEqual({ inputTokens: 300, outputTokens: 12, cacheCreationInputTokens: 0, cacheReadInputTokens: 600 });
  });

  it('falls back to estimates when the server reports no usage', async () => {
    const { provider } = await setup({ respond: () => ({ type: 'content', content: '{"findings":[]}', usage: null }) });
    const out = await provider.review(sqlReview);
    expect(out.usage.inputTokens).toBe(provider.estimateReviewTokens(sqlReview));
    expect(out.usage.outputTokens).toBe(Math.ceil('{"findings":[]}'.length / 3.5));
  });

  it.each([
    ['text without JSON', 'I found no problems.', undefined],
    ['findings that break the schema', JSON.stringify({ findings: [modelFinding({ category: 'style' })] }), 'findings.0.category'],
  ])('turns %s into provider_bad_output', async (_name, content, path) => {
    const { s, provider } = await setup({ respond: () => ({ type: 'content', content }) });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_bad_output');
    if (path) expect((err.details as { issues: Array<{ path: string }> }).issues.map((i) => i.path)).toContain(path);
    expect(s.requests).toHaveLength(1);
  });

  it('treats finish_reason "length" as bad output', async () => {
    const { provider } = await setup({ respond: () => ({ type: 'content', content: '{"findings":[{"file":"src/us', finishReason: 'length' }) });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_bad_output');
    expect(err.message).toContain('max_tokens');
  });

  it.each([
    [429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, { 'retry-after': '7' }, 'rate_limited', 7],
    [429, { error: { message: 'Rate limit reached', type: 'tokens' } }, { 'retry-after-ms': '1500', 'retry-after': '2' }, 'rate_limited', 1.5],
    [429, { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } }, {}, 'provider_spend_limit', undefined],
    [503, { error: 'server busy, please try again. maximum pending requests exceeded' }, {}, 'provider_overloaded', undefined],
    [500, { error: { message: 'CUDA out of memory', type: 'server_error' } }, {}, 'provider_error', undefined],
    [404, { error: { message: 'model "nope" not found', type: 'not_found_error' } }, {}, 'provider_rejected', undefined],
  ] as const)('maps HTTP %i to its code (%s)', async (status, body, headers, code, retryAfterS) => {
    const { s, provider } = await setup({ respond: () => ({ type: 'error', status, body, headers: { ...headers } }) });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.retryAfterS).toBe(retryAfterS);
    expect(s.requests).toHaveLength(1);
  });

  it('maps a wrong key to provider_auth without echoing the key', async () => {
    const { provider } = await setup({}, 'json_schema', { apiKey: 'sk-local-WRONG' });
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_auth');
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('sk-local-WRONG');
  });

  it('cancels an in-flight request promptly when the signal aborts', async () => {
    const { s, provider } = await setup({
      respond: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ type: 'content', content: '{}' }))),
    });
    const ac = new AbortController();
    const received = once(s, 'request');
    const pending = provider.review({ ...sqlReview, signal: ac.signal });
    await received;
    const disconnected = once(s, 'aborted');
    const reason = new Error('review cancelled');
    const t0 = performance.now();
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(1_000);
    await disconnected;
    expect(s.requests).toHaveLength(1);
  });

  it('gives up on a server that does not answer within the timeout, as a retryable provider_error', async () => {
    const { s, provider } = await setup(
      { respond: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ type: 'content', content: '{}' }))) },
      'json_schema',
      { timeoutMs: 100 },
    );
    const disconnected = once(s, 'aborted');
    const err = await providerError(provider.review(sqlReview));
    expect(err.code).toBe('provider_error');
    expect(err.message).toContain('timed out');
    expect(err.retryable).toBe(true);
    await disconnected;
  });

  it('complete() returns the message text', async () => {
    const { s, provider } = await setup({ respond: ({ prompt }) => ({ type: 'content', content: `plan: ${prompt.split('\n').at(-1)}` }) });
    const out = await provider.complete({ system: 'You plan.', prompt: 'fix it', maxTokens: 100 });
    expect(out.text).toBe('plan: fix it');
    const body = s.requests[0]?.body as ChatBody;
    expect(body.max_tokens).toBe(100);
    expect(body.response_format).toBeUndefined();
  });
});
