import { afterEach, describe, expect, it } from 'vitest';
import { PassThroughGate, type GateObservation, type GateRequest, type GateResult } from '../../src/core/gate/gate.js';
import { AnthropicProvider } from '../../src/core/llm/providers/anthropic.js';
import { completeThroughGate, reviewThroughGate } from '../../src/core/llm/providers/gated.js';
import { ProviderError } from '../../src/core/llm/providers/provider.js';
import { AnthropicStandIn, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';
import { SQL_DIFF } from './fixtures.js';

const ORG = '0190a1b2-0000-7000-8000-000000000001';
const ctx = { orgId: ORG, projectId: 'p1', userId: 'u1', reviewId: 'r1', priority: 'normal' as const };
const usage = { inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 2, cacheReadInputTokens: 1 };
const req = (signal?: AbortSignal): GateRequest => ({
  ...ctx,
  provider: 'anthropic',
  model: 'm',
  estimatedInputTokens: 10,
  maxOutputTokens: 100,
  ...(signal && { signal }),
});

let standIn: AnthropicStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

describe('PassThroughGate', () => {
  it('runs a real provider call once and passes usage and headers through to its observer', async () => {
    standIn = await AnthropicStandIn.start({ limits: { rpm: 100, itpm: 100_000, otpm: 20_000 } });
    const provider = new AnthropicProvider({ apiKey: STAND_IN_API_KEY, baseUrl: standIn.url, model: 'claude-sonnet-4-6', timeoutMs: 10_000, maxOutputTokens: 2048 });
    const seen: GateObservation[] = [];
    const gate = new PassThroughGate({ observe: (o) => seen.push(o) });

    const out = await reviewThroughGate(gate, provider, ctx, { persona: 'security', diffChunk: SQL_DIFF, files: ['src/users.ts'] });

    expect(out.findings).toHaveLength(1);
    expect(standIn.requests).toHaveLength(1);
    expect(seen).toHaveLength(1);
    const o = seen[0]!;
    expect(o.outcome).toBe('ok');
    expect(o.usage).toEqual(out.usage);
    expect(o.usage?.inputTokens).toBeGreaterThan(0);
    expect(o.headers?.['anthropic-ratelimit-requests-remaining']).toBe('99');
    expect(o.req).toMatchObject({ ...ctx, provider: 'anthropic', model: 'claude-sonnet-4-6', maxOutputTokens: 2048 });
    // The reservation errs high: never below what the server actually counted.
    expect(o.req.estimatedInputTokens).toBeGreaterThanOrEqual(out.usage.inputTokens);
  });

  it('reserves max_tokens of a completion as its output bound', async () => {
    standIn = await AnthropicStandIn.start();
    const provider = new AnthropicProvider({ apiKey: STAND_IN_API_KEY, baseUrl: standIn.url, model: 'claude-sonnet-4-6', timeoutMs: 10_000, maxOutputTokens: 2048 });
    const seen: GateObservation[] = [];
    const out = await completeThroughGate(new PassThroughGate({ observe: (o) => seen.push(o) }), provider, ctx, { system: 'plan', prompt: 'x', maxTokens: 77 });
    expect(out.text).toBe('OK');
    expect(seen[0]?.req.maxOutputTokens).toBe(77);
    expect(seen[0]?.req.estimatedInputTokens).toBeGreaterThan(0);
  });

  it('returns the value and lets a ProviderError through unchanged', async () => {
    const seen: GateObservation[] = [];
    const gate = new PassThroughGate({ observe: (o) => seen.push(o) });
    await expect(gate.run(req(), async () => ({ value: 42, usage }))).resolves.toBe(42);
    const err = new ProviderError('provider_overloaded', 'busy', 529, undefined, {});
    await expect(gate.run(req(), () => Promise.reject(err))).rejects.toBe(err);
    expect(seen.map((o) => o.outcome)).toEqual(['ok', 'error']);
    expect(seen[0]?.usage).toEqual(usage);
    expect(seen[1]?.error).toBe(err);
  });

  it('does not call at all when the signal is already aborted', async () => {
    const ac = new AbortController();
    const reason = new Error('cancelled');
    ac.abort(reason);
    let calls = 0;
    await expect(
      new PassThroughGate().run(req(ac.signal), async () => {
        calls += 1;
        return { value: 1, usage };
      }),
    ).rejects.toBe(reason);
    expect(calls).toBe(0);
  });

  it('aborts the call signal and rejects promptly even when the call ignores its signal', async () => {
    const ac = new AbortController();
    const seen: GateObservation[] = [];
    let markStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    let callSignal: AbortSignal | undefined;
    const pending = new PassThroughGate({ observe: (o) => seen.push(o) }).run(req(ac.signal), (signal): Promise<GateResult<number>> => {
      callSignal = signal;
      markStarted();
      return new Promise(() => undefined); // never settles
    });
    await started;
    const reason = new Error('cancelled');
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(callSignal?.aborted).toBe(true);
    expect(callSignal?.reason).toBe(reason);
    expect(seen.map((o) => o.outcome)).toEqual(['aborted']);
  });

  it('an observer that throws does not change the outcome', async () => {
    const gate = new PassThroughGate({
      observe: () => {
        throw new Error('metrics down');
      },
    });
    await expect(gate.run(req(), async () => ({ value: 'ok', usage }))).resolves.toBe('ok');
  });
});
