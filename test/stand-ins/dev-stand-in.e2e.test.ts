import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { runCli, type Proc } from '../helpers/process.js';

/** `quorum dev stand-in` as a user runs it: the real binary, the printed exports, the real SDK, and Quorum using them. */

const KEY = 'sk-ant-e2e-private-key-42';

async function startStandIn(extra: string[] = []): Promise<{ proc: Proc; url: string; key: string }> {
  const proc = runCli(['dev', 'stand-in', '--port', '0', '--api-key', KEY, ...extra], {});
  const url = /export ANTHROPIC_BASE_URL=(\S+)/.exec(await proc.waitFor(/export ANTHROPIC_BASE_URL=/))?.[1] ?? '';
  const key = /export ANTHROPIC_API_KEY=(\S+)/.exec(await proc.waitFor(/export ANTHROPIC_API_KEY=/))?.[1] ?? '';
  return { proc, url, key };
}

describe('quorum dev stand-in', () => {
  const procs: Proc[] = [];
  let t: TestApp | undefined;
  let worker: WorkerHandle | undefined;
  afterAll(async () => {
    await worker?.stop();
    await t?.close();
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('prints its actual port and what to export, serves the SDK (plain and streaming), logs one line per request, stops on SIGINT', async () => {
    const { proc, url, key } = await startStandIn(['--rpm', '2', '--ms-per-output-token', '1']);
    procs.push(proc);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(url).port)).toBeGreaterThan(0);
    expect(proc.output()).toContain(`listening on ${url}`);
    expect(key).toBe(KEY);

    const client = new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0, logLevel: 'off' });
    const plain = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user', content: 'Say OK.' }] });
    expect(plain.content[0]).toEqual({ type: 'text', text: 'OK' });
    const streamed = await client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user', content: 'Say OK.' }] }).finalMessage();
    expect(streamed.content[0]).toMatchObject({ type: 'text', text: 'OK' });
    const limited = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(APIError);
    expect((limited as APIError).status).toBe(429);
    expect(Number((limited as APIError).headers?.get('retry-after'))).toBeGreaterThanOrEqual(29);

    await proc.waitFor(/ POST \/v1\/messages 200 model=claude-sonnet-4-6 sync in=\d+ out=1 \d+ms req_standin_000001$/);
    await proc.waitFor(/ POST \/v1\/messages 200 model=claude-sonnet-4-6 stream in=\d+ out=1 \d+ms req_standin_000002$/);
    await proc.waitFor(/ POST \/v1\/messages 429 rate_limit_error limit=requests retry-after=\d+s model=claude-sonnet-4-6 sync \d+ms req_standin_000003$/);
    // The key appears once, in the export line; never in a log line.
    expect(proc.output().split(KEY).length - 1).toBe(1);

    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('SIGINT: stopping the stand-in');
  });

  it('with its exports, Quorum runs an LLM reviewer without a real key and the model finding reaches the review', async () => {
    const { proc, url, key } = await startStandIn();
    procs.push(proc);
    t = await createTestApp({ ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: url });
    worker = await startWorker(t.rt, { concurrency: 2 });
    const a = await newOrg(t, 'dev@standin.test', 'Stand-in Org');
    const settings = { panel: [{ persona: 'security', provider: 'anthropic' }, { persona: 'correctness', provider: 'anthropic' }] };
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'try-llm', settings } });
    expect(p.statusCode, p.body).toBe(201);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/review',
      headers: auth(a.api_key),
      payload: { project_id: 'try-llm', task_id: 'try-1', target: { diff: newFileDiff('src/users.ts', SQLI_TS) } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const review = res.json();
    expect(review.status).toBe('completed');
    expect(review.findings).toEqual([
      expect.objectContaining({ file: 'src/users.ts', category: 'security', title: 'SQL injection via string concatenation', reviewers: ['security:anthropic'] }),
    ]);
    // Both reviewers called the stand-in (the correctness persona found nothing to report).
    await proc.waitFor(/req_standin_000002$/);
    expect(proc.output().match(/ POST \/v1\/messages 200 /g)).toHaveLength(2);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});
