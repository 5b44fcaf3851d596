import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';

describe('health endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  it('/healthz and /readyz are public; /readyz reports the schema version', async () => {
    expect((await t.app.inject({ url: '/healthz' })).json()).toMatchObject({ status: 'ok' });
    const r = await t.app.inject({ url: '/readyz' });
    expect(r.statusCode).toBe(200);
    expect(r.json().schema_version).toBeGreaterThan(0);
  });

  it('/health/detailed: pool, queue, workers and versions for org admins; 401 anonymous, 403 for a viewer key', async () => {
    const a = await newOrg(t, 'h@a.test', 'Health');
    expect((await t.app.inject({ url: '/health/detailed' })).statusCode).toBe(401);
    const viewer = (await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(a.api_key), payload: { name: 'v', max_role: 'viewer' } })).json();
    expect((await t.app.inject({ url: '/health/detailed', headers: auth(viewer.api_key) })).statusCode).toBe(403);
    const r = await t.app.inject({ url: '/health/detailed', headers: auth(a.api_key) });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body.versions.postgres).toMatch(/^\d+/);
    expect(body.database.pool.max).toBe(5);
    expect(Array.isArray(body.queue)).toBe(true);
    expect(Array.isArray(body.workers)).toBe(true);
    expect(r.body).not.toContain(t.rt.config.masterKey!);
  });

  it('/metrics: Prometheus text for org admins, counted by route template', async () => {
    const a = await newOrg(t, 'm@a.test', 'Metrics');
    expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    await t.app.inject({ url: '/v1/projects/does-not-exist', headers: auth(a.api_key) });
    const r = await t.app.inject({ url: '/metrics', headers: auth(a.api_key) });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
    expect(r.body).toMatch(/quorum_http_requests_total\{method="GET",route="\/v1\/projects\/:project",status="404"\} 1/);
    expect(r.body).not.toContain('does-not-exist');
  });

  it("/metrics shows an org admin their own org's series, never another org's ids or activity", async () => {
    const a = await newOrg(t, 'ma@metrics.test', 'Metrics A');
    const b = await newOrg(t, 'mb@metrics.test', 'Metrics B');
    const diff = 'diff --git a/x.ts b/x.ts\nnew file mode 100644\n--- /dev/null\n+++ b/x.ts\n@@ -0,0 +1 @@\n+export const x = 1;\n';
    for (const o of [a, b]) {
      await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(o.api_key), payload: { slug: 'm' } });
      const r = await t.app.inject({ method: 'POST', url: '/v1/review', headers: auth(o.api_key), payload: { project_id: 'm', task_id: 'm1', target: { diff } } });
      expect(r.json().status).toBe('completed');
    }
    const seenByB = (await t.app.inject({ url: '/metrics', headers: auth(b.api_key) })).body;
    expect(seenByB).toContain(`quorum_reviews_total{org="${b.org_id}"`);
    expect(seenByB).not.toContain(a.org_id);
    expect(seenByB).toContain('# TYPE quorum_reviews_total counter');
    expect(seenByB).toMatch(/^quorum_http_requests_total\{/m); // the process's own series stay
  });
});
