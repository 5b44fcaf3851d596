import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicStandIn, STAND_IN_API_KEY, type AnthropicStandInOptions, type ResponseInfo } from '../../src/dev/stand-ins/anthropic-stand-in.js';

/** `stream: true` through the real SDK: `messages.stream()`, `create({ stream: true })`, `finalMessage()`. */

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

const params = (p: Partial<Anthropic.MessageStreamParams> = {}): Anthropic.MessageStreamParams => ({
  model: MODEL,
  max_tokens: 500,
  messages: [{ role: 'user', content: 'Say something.' }],
  ...p,
});

const plainParams = (max_tokens = 500): Anthropic.MessageCreateParamsNonStreaming => ({ model: MODEL, max_tokens, messages: [{ role: 'user', content: 'Say something.' }] });

const REVIEW_TOOL = { name: 'report_findings', input_schema: { type: 'object' as const } };
const SQL_PROMPT = [
  '<files>\nsrc/users.ts\n</files>\n<diff>',
  'diff --git a/src/users.ts b/src/users.ts\n--- a/src/users.ts\n+++ b/src/users.ts\n@@ -10,0 +10,1 @@',
  "+  const sql = \"SELECT * FROM users WHERE id = '\" + id + \"'\";",
  '</diff>',
].join('\n');

/** The raw wire: event names in order, and each event's data. */
async function rawEvents(s: AnthropicStandIn, body: Record<string, unknown>): Promise<{ status: number; contentType: string | null; events: Array<{ event: string; data: Record<string, unknown> }> }> {
  const res = await fetch(`${s.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': STAND_IN_API_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, max_tokens: 500, messages: [{ role: 'user', content: 'hi' }], stream: true, ...body }),
  });
  const text = await res.text();
  const events = text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? 'null');
      return { event, data };
    });
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

describe('Anthropic stand-in: streaming', () => {
  it('streams a text answer as real Messages SSE, event names matching their data types', async () => {
    const { s } = await setup({ respond: () => ({ type: 'text', text: 'Hello from the stand-in, streamed in pieces.', outputTokens: 40 }), streamChunkTokens: 10 });
    const { status, contentType, events } = await rawEvents(s, {});
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(events[0]?.data.message).toMatchObject({ type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, usage: { input_tokens: 1 } });
    expect(events[1]?.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => (e.data.delta as { type: string; text: string }).text);
    expect(text.join('')).toBe('Hello from the stand-in, streamed in pieces.');
    expect(events[8]?.data).toMatchObject({ delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 40 } });
  });

  it('messages.stream() + finalMessage() rebuilds a tool call from input_json_delta', async () => {
    const { client } = await setup({ streamChunkTokens: 8 });
    const stream = client.messages.stream(
      params({
        system: 'You are a security reviewer. Review ONLY the changes in the diff you are given, from the security point of view.',
        messages: [{ role: 'user', content: SQL_PROMPT }],
        tools: [REVIEW_TOOL],
        tool_choice: { type: 'tool', name: 'report_findings' },
        max_tokens: 2_000,
      }),
    );
    let jsonDeltas = 0;
    stream.on('inputJson', () => (jsonDeltas += 1));
    const msg = await stream.finalMessage();
    expect(jsonDeltas).toBeGreaterThan(3);
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    const block = msg.content[0];
    expect(block?.type).toBe('tool_use');
    expect(block?.type === 'tool_use' && block.input).toEqual({
      findings: [expect.objectContaining({ file: 'src/users.ts', lineStart: 10, category: 'security', title: 'SQL injection via string concatenation' })],
    });
    const { response } = await stream.withResponse();
    expect(response.headers.get('request-id')).toBe('req_standin_000001');
  });

  it('create({ stream: true }) yields the raw events in order', async () => {
    const { client } = await setup({ respond: () => ({ type: 'text', text: 'abc def ghi', outputTokens: 3 }) });
    const stream = await client.messages.create({ ...plainParams(), stream: true });
    const types: string[] = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    }
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.at(-2)).toBe('message_delta');
    expect(text).toBe('abc def ghi');
  });

  it('paces output at msPerOutputToken, spread over the deltas, with pings while it waits', async () => {
    const { client } = await setup({ msPerOutputToken: 4, streamChunkTokens: 10, pingIntervalMs: 50, respond: () => ({ type: 'text', text: 'x'.repeat(400), outputTokens: 100 }) });
    const t0 = performance.now();
    const at: number[] = [];
    const stream = client.messages.stream(params());
    stream.on('text', () => at.push(performance.now() - t0));
    const msg = await stream.finalMessage();
    expect(msg.usage.output_tokens).toBe(100);
    expect(at).toHaveLength(10);
    // Delta i is written when i × 10 tokens at 4 ms would be generated: the last at ≥ 400 ms, the first well before.
    expect(at[9]!).toBeGreaterThanOrEqual(395);
    expect(at[0]!).toBeLessThan(at[9]! - 200);
    const raw = await rawEvents(standIn!, {});
    const pings = raw.events.filter((e) => e.event === 'ping').length;
    expect(pings).toBeGreaterThanOrEqual(3); // the first after content_block_start, then every 50 ms of a 400 ms answer
  });

  it('reserves OTPM from max_tokens when the stream starts and settles to the generated output at the end', async () => {
    const clock = 1_750_000_000_000;
    const { s, client } = await setup({
      limits: { otpm: 1_000 },
      now: () => clock,
      roundTokenRemaining: false,
      msPerOutputToken: 3,
      respond: ({ body }) => ({ type: 'text', text: 'y'.repeat(400), outputTokens: body.max_tokens === 800 ? 100 : 10 }),
    });
    const stream = client.messages.stream(params({ max_tokens: 800 }));
    const { response } = await stream.withResponse();
    // Headers are sent when the stream starts: 800 reserved.
    expect(response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('200');
    const err = await client.messages
      .stream(params({ max_tokens: 300 }))
      .finalMessage()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(429);
    expect((err as APIError).headers?.get('retry-after')).toBe('6');
    await stream.finalMessage();
    const after = client.messages.stream(params({ max_tokens: 300 }));
    const { response: r2 } = await after.withResponse();
    // 1,000 − 100 generated − 300 reserved by this one.
    expect(r2.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('600');
    await after.finalMessage();
    expect(s.stats.outputTokens).toBe(110);
  });

  it('errors before the stream starts are plain JSON errors with their status', async () => {
    const clock = 1_750_000_000_000;
    const { s, client } = await setup({ limits: { rpm: 1 }, now: () => clock });
    s.failNext('overloaded');
    const overloaded = await client.messages.stream(params()).finalMessage().catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(APIError);
    expect((overloaded as APIError).status).toBe(529);
    expect((overloaded as APIError).type).toBe('overloaded_error');
    s.failNext('spend_limit');
    const spend = await client.messages.stream(params()).finalMessage().catch((e: unknown) => e);
    expect((spend as APIError).status).toBe(429);
    expect((spend as APIError).errorCode).toBe('enforced_spend_limit_reached');
    await client.messages.stream(params()).finalMessage();
    const limited = await rawEvents(s, {});
    expect(limited.status).toBe(429);
    expect(limited.contentType).toBe('application/json');
  });

  it("failNext('overloaded_midstream') breaks a started stream with an overloaded_error event", async () => {
    const { s, client } = await setup({ streamChunkTokens: 10, respond: () => ({ type: 'text', text: 'z'.repeat(400), outputTokens: 100 }) });
    const seen: ResponseInfo[] = [];
    s.on('response', (r: ResponseInfo) => seen.push(r));
    s.failNext('overloaded_midstream');
    const stream = client.messages.stream(params());
    let text = '';
    stream.on('text', (t) => (text += t));
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).type).toBe('overloaded_error');
    expect((err as APIError).status).toBeUndefined(); // HTTP said 200; the error came in the stream
    expect(text).toBe('z'.repeat(200)); // half the answer arrived first
    expect(seen[0]).toMatchObject({ status: 200, outcome: 'overloaded_midstream', errorType: 'overloaded_error', outputTokens: 50 });

    const raw = await (async () => {
      s.failNext('overloaded_midstream');
      return rawEvents(s, {});
    })();
    expect(raw.events.at(-1)).toEqual({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    // A plain request gets the 529 for the same failure.
    s.failNext('overloaded_midstream');
    const plain = await client.messages.create(plainParams()).catch((e: unknown) => e);
    expect((plain as APIError).status).toBe(529);
  });

  it('cuts off at max_tokens with stop_reason max_tokens', async () => {
    const { client } = await setup({ respond: () => ({ type: 'text', text: 'w'.repeat(1_000), outputTokens: 250 }) });
    const msg = await client.messages.stream(params({ max_tokens: 100 })).finalMessage();
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.usage.output_tokens).toBe(100);
    expect(msg.content[0]?.type === 'text' && msg.content[0].text).toBe('w'.repeat(400));
  });

  it('charges only what was generated when the client leaves mid-stream', async () => {
    const clock = 1_750_000_000_000;
    const { s, client } = await setup({ limits: { otpm: 10_000 }, now: () => clock, roundTokenRemaining: false, msPerOutputToken: 5, streamChunkTokens: 10, respond: () => ({ type: 'text', text: 'q'.repeat(800), outputTokens: 200 }) });
    const ac = new AbortController();
    const stream = client.messages.stream(params({ max_tokens: 1_000 }), { signal: ac.signal });
    const aborted = once(s, 'response');
    let deltas = 0;
    stream.on('text', () => {
      deltas += 1;
      if (deltas === 3) ac.abort();
    });
    await stream.finalMessage().catch(() => undefined);
    const [info] = (await aborted) as [ResponseInfo];
    expect(info.outcome).toBe('aborted');
    expect(info.outputTokens).toBeGreaterThanOrEqual(30);
    expect(info.outputTokens).toBeLessThan(200);
    const next = await client.messages.create(plainParams(10)).withResponse();
    expect(next.response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe(String(10_000 - info.outputTokens! - 10));
  });
});
