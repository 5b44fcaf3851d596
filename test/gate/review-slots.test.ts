import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';
import { AnthropicStandIn, defaultRespond, STAND_IN_API_KEY } from '../stand-ins/anthropic-stand-in.js';

/** Per-org cap on running reviews (tier limit, here overridden to 1): the second review waits for the slot. */
describe('running-review slots per org', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  let standIn: AnthropicStandIn;
  let release: () => void = () => undefined;
  let held = new Promise<void>((r) => (release = r));
  beforeAll(async () => {
    standIn = await AnthropicStandIn.start({
      respond: async (ctx) => {
        await held;
        return defaultRespond(ctx);
      },
    });
    t = await createTestApp({
      ANTHROPIC_API_KEY: STAND_IN_API_KEY,
      ANTHROPIC_BASE_URL: standIn.url,
      QUORUM_TIER_LIMITS: JSON.stringify({ free: { max_concurrent_reviews: 1 } }),
    });
    worker = await startWorker(t.rt, { concurrency: 4 });
  });
  afterAll(async () => {
    release();
    await worker?.stop();
    await t?.close();
    await standIn?.close();
  });

  it('a second review of the org waits while the first runs, and starts as soon as the slot frees', async () => {
    const a = await newOrg(t, 'slots@gate.test', 'Slots');
    const settings = { panel: [{ persona: 'security', provider: 'anthropic' }] };
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'svc', settings } })).statusCode).toBe(201);
    const start = async (task: string) => {
      const r = await t.app.inject({ method: 'POST', url: '/v1/review/async', headers: auth(a.api_key), payload: { project_id: 'svc', task_id: task, target: { diff: newFileDiff('src/a.ts', SQLI_TS) } } });
      expect(r.statusCode, r.body).toBe(202);
      return r.json().id as string;
    };
    const first = await start('one');
    const status = async (id: string) => (await t.rt.admin.query(`select status, started_at, completed_at, slot_retry_at from reviews where id = $1`, [id])).rows[0];
    for (let i = 0; i < 200 && (await status(first)).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await status(first)).status).toBe('running');
    const second = await start('two');
    // The second one is claimed, finds the slot taken, and waits for it.
    for (let i = 0; i < 200 && !(await status(second)).slot_retry_at; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await status(second)).status).toBe('queued');
    expect((await status(second)).slot_retry_at).not.toBeNull();
    const releasedAt = Date.now();
    release();
    for (let i = 0; i < 400 && (await status(second)).status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 25));
    const [s1, s2] = [await status(first), await status(second)];
    expect(s1.status).toBe('completed');
    expect(s2.status).toBe('completed');
    expect(s2.started_at.getTime()).toBeGreaterThanOrEqual(s1.completed_at.getTime());
    // Promoted when the slot freed, not at its 5-second retry.
    expect(Date.now() - releasedAt).toBeLessThan(4_000);
    held = Promise.resolve();
  }, 30_000);
});
