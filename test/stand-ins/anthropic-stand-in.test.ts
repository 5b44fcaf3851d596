import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicStandIn, STAND_IN_API_KEY, type AnthropicStandInOptions, type ResponseInfo } from '../../src/dev/stand-ins/anthropic-stand-in.js';

/**
 * The stand-in through the real SDK: token buckets exactly as Anthropic documents them, the
 * headers, and the errors a gate must tell apart (429 with retry-after, spend-limit 429 without,
 * 529). Bucket tests use a frozen, hand-advanced clock so refill is exact.
 */

const MODEL = 'claude-sonnet-4-6';
let standIn: AnthropicStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

async function setup(opts: AnthropicStandInOptions = {}) {
  standIn = await AnthropicStandIn.start(opts);
  const client = new Anthropic({ apiKey: STAND_IN_API_KEY, baseURL: standIn.url, maxRetries: 0, logLevel: 'off' });
  return { s: standIn, client };
}

type Params = Partial<Anthropic.MessageCreateParamsNonStreaming>;
const ask = (client: Anthropic, p: Params = {}) =>
  client.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'Say OK.' }], ...p }).withResponse();

async function apiError(p: Promise<unknown>): Promise<APIError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(APIError);
  return err as APIError;
}

function collect(s: AnthropicStandIn): ResponseInfo[] {
  const seen: ResponseInfo[] = [];
  s.on('response', (r: ResponseInfo) => seen.push(r));
  return seen;
}

describe('Anthropic stand-in: rate limits through the real SDK', () => {
  it('RPM: a burst of the whole limit, then 429 with retry-after; refills continuously', async () => {
    let clock = 1_750_000_000_000;
    const { s, client } = await setup({ limits: { rpm: 5 }, now: () => clock });
    for (let i = 0; i < 5; i++) await ask(client);
    const err = await apiError(ask(client));
    expect(err.status).toBe(429);
    expect(err.type).toBe('rate_limit_error');
    expect(err.headers?.get('retry-after')).toBe('12'); // one request every 60/5 s
    expect(err.headers?.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(err.apiMessage).toMatch(/5 requests per minute/);

    clock += 6_000; // half a request back: still no
    expect((await apiError(ask(client))).headers?.get('retry-after')).toBe('6');
    clock += 6_000;
    await ask(client);
    expect((await apiError(ask(client))).status).toBe(429);
    expect(s.stats).toMatchObject({ requests: 9, completed: 6, rateLimited: 3, errors: 0 });
  });

  it('ITPM: charges the counted input tokens; retry-after is the exact deficit', async () => {
    let clock = 1_750_000_000_000;
    const { s, client } = await setup({ limits: { itpm: 1_000 }, now: () => clock });
    const seen = collect(s);
    const content = 'x'.repeat(2_400); // 600 tokens at 4 characters per token
    const first = await ask(client, { messages: [{ role: 'user', content }] });
    expect(first.data.usage.input_tokens).toBe(600);
    const err = await apiError(ask(client, { messages: [{ role: 'user', content }] }));
    // 400 left, 600 needed: 200 tokens at 1,000/min = 12 s.
    expect(err.headers?.get('retry-after')).toBe('12');
    expect(seen.map((r) => [r.status, r.limitedBy])).toEqual([
      [200, undefined],
      [429, 'input-tokens'],
    ]);
    clock += 12_000;
    await ask(client, { messages: [{ role: 'user', content }] });
  });

  it('OTPM: reserves max_tokens at the start and settles to the real output at the end', async () => {
    const clock = 1_750_000_000_000;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { s, client } = await setup({
      limits: { otpm: 1_000 },
      now: () => clock,
      roundTokenRemaining: false,
      respond: async ({ body }) => {
        if (body.max_tokens === 900) await held;
        return { type: 'text', text: 'OK', outputTokens: 40 };
      },
    });
    const received = once(s, 'request');
    const big = ask(client, { max_tokens: 900 });
    await received;
    // 900 of 1,000 are reserved while the first call runs: 200 more do not fit (100 tokens = 6 s).
    const err = await apiError(ask(client, { max_tokens: 200 }));
    expect(err.headers?.get('retry-after')).toBe('6');
    expect(err.headers?.get('anthropic-ratelimit-output-tokens-remaining')).toBe('100');
    release();
    const done = await big;
    expect(done.data.usage.output_tokens).toBe(40);
    // Settled: 1,000 − 40 are left, so the same call now fits at once.
    expect(done.response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('960');
    const again = await ask(client, { max_tokens: 200 });
    expect(again.response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('920');
  });

  it('admits a call only when all three buckets can take it, and takes from none of them on a 429', async () => {
    const clock = 1_750_000_000_000;
    const { s, client } = await setup({
      limits: { rpm: 10, itpm: 100_000, otpm: 500 },
      now: () => clock,
      roundTokenRemaining: false,
      respond: ({ body }) => ({ type: 'text', text: 'OK', outputTokens: body.max_tokens }),
    });
    const seen = collect(s);
    const first = await ask(client, { max_tokens: 400 });
    const input = first.data.usage.input_tokens;
    const err = await apiError(ask(client, { max_tokens: 400 }));
    expect(err.headers?.get('anthropic-ratelimit-requests-remaining')).toBe('9');
    const ok = await ask(client, { max_tokens: 50 });
    // The refused call used no request, no input and no output.
    expect(ok.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('8');
    expect(ok.response.headers.get('anthropic-ratelimit-input-tokens-remaining')).toBe(String(100_000 - 2 * input));
    expect(ok.response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('50');
    expect(seen.map((r) => r.limitedBy)).toEqual([undefined, 'output-tokens', undefined]);
  });

  it('keeps separate buckets per model class (dated ids share their class)', async () => {
    const clock = 1_750_000_000_000;
    const { client } = await setup({ limits: { rpm: 1 }, now: () => clock });
    await ask(client, { model: 'claude-haiku-4-5' });
    expect((await apiError(ask(client, { model: 'claude-haiku-4-5-20251001' }))).status).toBe(429);
    await ask(client, { model: MODEL });
  });

  it('lowers the real limit at run time (below what a client was configured for)', async () => {
    const clock = 1_750_000_000_000;
    const { s, client } = await setup({ limits: { rpm: 100 }, now: () => clock });
    const before = await ask(client);
    expect(before.response.headers.get('anthropic-ratelimit-requests-limit')).toBe('100');
    s.limits = { rpm: 2 };
    expect(s.limits).toEqual({ rpm: 2 });
    const after = await ask(client);
    expect(after.response.headers.get('anthropic-ratelimit-requests-limit')).toBe('2');
    expect(after.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    await ask(client);
    const err = await apiError(ask(client));
    expect(err.headers?.get('anthropic-ratelimit-requests-limit')).toBe('2');
    expect(err.headers?.get('retry-after')).toBe('30');
    s.limits = {};
    await ask(client);
  });
});

describe('Anthropic stand-in: headers and errors', () => {
  it('reports requests, input, output and tokens limit/remaining/reset; token remaining rounded to thousands', async () => {
    const clock = Date.UTC(2026, 0, 1, 12, 0, 0);
    const { client } = await setup({ limits: { rpm: 60, itpm: 40_000, otpm: 8_000 }, now: () => clock, respond: () => ({ type: 'text', text: 'OK', outputTokens: 200 }) });
    const content = 'y'.repeat(6_000); // 1,500 input tokens
    const { data, response } = await ask(client, { max_tokens: 1_000, messages: [{ role: 'user', content }] });
    const h = (n: string) => response.headers.get(`anthropic-ratelimit-${n}`);
    expect(data.usage).toMatchObject({ input_tokens: 1_500, output_tokens: 200 });
    expect([h('requests-limit'), h('requests-remaining'), h('requests-reset')]).toEqual(['60', '59', '2026-01-01T12:00:01Z']);
    // 38,500 left → 39,000 (nearest thousand); reset when the 1,500 are back: 2.25 s → next whole second.
    expect([h('input-tokens-limit'), h('input-tokens-remaining'), h('input-tokens-reset')]).toEqual(['40000', '39000', '2026-01-01T12:00:03Z']);
    // 7,800 left after settling 1,000 reserved to 200 generated; full again in 1.5 s.
    expect([h('output-tokens-limit'), h('output-tokens-remaining'), h('output-tokens-reset')]).toEqual(['8000', '8000', '2026-01-01T12:00:02Z']);
    // tokens-*: the most constrained of input and output right now.
    expect([h('tokens-limit'), h('tokens-remaining')]).toEqual(['40000', '39000']);
    expect(response.headers.get('request-id')).toBe('req_standin_000001');
  });

  it('can report exact token remaining (roundTokenRemaining: false) and omits limits that are not enforced', async () => {
    const { client } = await setup({ limits: { itpm: 40_000 }, roundTokenRemaining: false });
    const { data, response } = await ask(client);
    expect(response.headers.get('anthropic-ratelimit-input-tokens-remaining')).toBe(String(40_000 - data.usage.input_tokens));
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBeNull();
    expect(response.headers.get('anthropic-ratelimit-output-tokens-limit')).toBeNull();
  });

  it('answers a spend-limit 429 without retry-after and with error_code enforced_spend_limit_reached, outside the buckets', async () => {
    const clock = Date.UTC(2026, 8, 14);
    const { s, client } = await setup({ limits: { rpm: 10 }, now: () => clock });
    s.failNext('spend_limit');
    const err = await apiError(ask(client));
    expect(err.status).toBe(429);
    expect(err.type).toBe('rate_limit_error');
    expect(err.errorCode).toBe('enforced_spend_limit_reached');
    expect(err.headers?.get('retry-after')).toBeNull();
    expect(err.apiMessage).toMatch(/You have reached your API usage limits.*regain access on 2026-10-01 at 00:00 UTC/);
    const next = await ask(client);
    expect(next.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('9');
  });

  it('answers 529 overloaded_error and 500 api_error with the real error body', async () => {
    const { s } = await setup();
    s.failNext('overloaded');
    s.failNext('server_error');
    const post = () =>
      fetch(`${s.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': STAND_IN_API_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const r529 = await post();
    expect(r529.status).toBe(529);
    expect(r529.headers.get('retry-after')).toBeNull();
    expect(await r529.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_standin_000001' });
    const r500 = await post();
    expect(r500.status).toBe(500);
    expect(((await r500.json()) as { error: { type: string } }).error.type).toBe('api_error');
    expect((await post()).status).toBe(200);
  });

  it('refuses a wrong key and a missing anthropic-version before counting anything', async () => {
    const { s } = await setup({ limits: { rpm: 1 } });
    const bad = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: s.url, maxRetries: 0, logLevel: 'off' });
    expect((await apiError(ask(bad))).status).toBe(401);
    const noVersion = await fetch(`${s.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': STAND_IN_API_KEY }, body: '{}' });
    expect(noVersion.status).toBe(400);
    const good = new Anthropic({ apiKey: STAND_IN_API_KEY, baseURL: s.url, maxRetries: 0, logLevel: 'off' });
    await ask(good); // the one request of the minute is still there
  });

  it('counts tokens at /v1/messages/count_tokens without charging the buckets', async () => {
    const clock = 1_750_000_000_000;
    const { client } = await setup({ limits: { rpm: 1, itpm: 1_000 }, now: () => clock });
    const counted = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'z'.repeat(400) }] });
    expect(counted.input_tokens).toBe(100);
    const { data } = await ask(client, { messages: [{ role: 'user', content: 'z'.repeat(400) }] });
    expect(data.usage.input_tokens).toBe(100);
  });

  it('answers a review request with scripted findings in the forced tool call', async () => {
    const { client } = await setup();
    const diff = ['diff --git a/src/run.ts b/src/run.ts', '--- a/src/run.ts', '+++ b/src/run.ts', '@@ -1,0 +1,1 @@', '+const out = eval(req.query.code);', ''].join('\n');
    const { data } = await ask(client, {
      system: 'You are an application security reviewer on a code-review panel. Review ONLY the changes in the diff you are given, from the security point of view.',
      messages: [{ role: 'user', content: `<files>\nsrc/run.ts\n</files>\n<diff>\n${diff}</diff>` }],
      tools: [{ name: 'report_findings', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'report_findings' },
      max_tokens: 2_000,
    });
    expect(data.stop_reason).toBe('tool_use');
    const block = data.content[0];
    expect(block?.type).toBe('tool_use');
    expect(block?.type === 'tool_use' && block.input).toEqual({
      findings: [expect.objectContaining({ file: 'src/run.ts', lineStart: 1, category: 'security', title: 'Code injection via eval' })],
    });
  });
});
