import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/adapters/worker/runner.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';

type Org = Awaited<ReturnType<typeof newOrg>>;

/** The SDK's own Client over Streamable HTTP against /mcp of a listening API server (real PostgreSQL, real worker). */
describe('MCP over Streamable HTTP at /mcp', () => {
  let t: TestApp;
  let worker: WorkerHandle;
  let base: string;
  let a: Org;
  let b: Org;
  let bReviewId: string;
  const clients: Client[] = [];

  const connect = async (key: string): Promise<Client> => {
    const client = new Client({ name: 'mcp-http-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: auth(key) } }));
    clients.push(client);
    return client;
  };
  const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

  beforeAll(async () => {
    t = await createTestApp();
    worker = await startWorker(t.rt, { concurrency: 2 });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    a = await newOrg(t, 'alice@mcp.test', 'MCP A');
    b = await newOrg(t, 'bob@mcp.test', 'MCP B');
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'web' } })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(b.api_key), payload: { slug: 'secret' } })).statusCode).toBe(201);
    const rb = await t.app.inject({
      method: 'POST',
      url: '/v1/review',
      headers: auth(b.api_key),
      payload: { project_id: 'secret', task_id: 'b-1', target: { diff: newFileDiff('src/b.ts', SQLI_TS) } },
    });
    expect(rb.statusCode, rb.body).toBe(200);
    bReviewId = rb.json().id;
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await worker?.stop();
    await t?.close();
  });

  it('lists the tools with schemas and read-only hints, and the resource templates', async () => {
    const c = await connect(a.api_key);
    const { tools } = await c.listTools();
    const byName = new Map(tools.map((x) => [x.name, x]));
    expect([...byName.keys()].sort()).toEqual(['generate_plan', 'get_review', 'list_projects', 'list_reviews', 'review_code', 'search_knowledge']);
    for (const n of ['get_review', 'list_reviews', 'search_knowledge', 'list_projects']) expect(byName.get(n)!.annotations?.readOnlyHint, n).toBe(true);
    expect(byName.get('review_code')!.annotations?.readOnlyHint).toBe(false);
    for (const x of tools) {
      expect(x.inputSchema.type).toBe('object');
      expect(x.outputSchema?.type, x.name).toBe('object');
    }
    expect(byName.get('review_code')!.outputSchema!.required).toEqual(expect.arrayContaining(['id', 'status', 'verdict', 'score']));
    const { resourceTemplates } = await c.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate).sort()).toEqual(['knowledge://{project}', 'review://{project}/{review_id}']);
  });

  it('review_code on a diff with a SQL injection: progress k/n, the verdict, the review:// and knowledge:// resources', async () => {
    const c = await connect(a.api_key);
    const progress: Array<{ progress: number; total?: number }> = [];
    const r = (await c.callTool(
      { name: 'review_code', arguments: { project: 'web', diff: newFileDiff('src/users.ts', SQLI_TS), task_id: 'mcp-1' } },
      undefined,
      { onprogress: (p) => progress.push({ progress: p.progress, ...(p.total !== undefined && { total: p.total }) }), timeout: 120_000 },
    )) as CallToolResult;
    expect(r.isError, text(r)).toBeFalsy();
    const review = r.structuredContent as { id: string; status: string; verdict: string; developer_id: string; findings: Array<{ rules: string[]; file: string }> };
    expect(review).toMatchObject({ status: 'completed', verdict: 'request_changes', developer_id: a.user_id });
    expect(review.findings.some((f) => f.rules.includes('injection/sql-concat') && f.file === 'src/users.ts')).toBe(true);
    expect(text(r)).toContain('verdict request_changes');
    // Progress notifications fed by reviewer.completed events: increasing, ending at 5/5.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toEqual({ progress: 5, total: 5 });
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);

    // The rows: A's review, attributed to the key's user, in A's org.
    const row = (await t.rt.admin.query('select org_id, developer_id, api_key_id, task_id from reviews where id = $1', [review.id])).rows[0];
    expect(row).toEqual({ org_id: a.org_id, developer_id: a.user_id, api_key_id: a.api_key_id, task_id: 'mcp-1' });

    const { resources } = await c.listResources();
    const uris = resources.map((x) => x.uri);
    expect(uris).toContain(`review://web/${review.id}`);
    expect(uris).toContain('knowledge://web');
    expect(uris.some((u) => u.includes('secret') || u.includes(bReviewId))).toBe(false);

    const md = await c.readResource({ uri: `review://web/${review.id}` });
    expect(md.contents[0]!.mimeType).toBe('text/markdown');
    expect((md.contents[0] as { text: string }).text).toContain('src/users.ts');
    const kn = await c.readResource({ uri: 'knowledge://web' });
    expect((kn.contents[0] as { text: string }).text).toMatch(/^# KNOWLEDGE — web/);
    expect((kn.contents[0] as { text: string }).text).toContain('src/users.ts');

    const got = (await c.callTool({ name: 'get_review', arguments: { review_id: review.id } })) as CallToolResult;
    expect((got.structuredContent as { id: string }).id).toBe(review.id);
    const listed = (await c.callTool({ name: 'list_reviews', arguments: { project: 'web' } })) as CallToolResult;
    expect((listed.structuredContent as { items: Array<{ id: string }> }).items.map((x) => x.id)).toEqual([review.id]);
    const found = (await c.callTool({ name: 'search_knowledge', arguments: { project: 'web', query: 'SQL' } })) as CallToolResult;
    expect((found.structuredContent as { items: Array<{ review_id: string }> }).items[0]?.review_id).toBe(review.id);
    const projects = (await c.callTool({ name: 'list_projects', arguments: {} })) as CallToolResult;
    expect((projects.structuredContent as { items: Array<{ slug: string }> }).items.map((p) => p.slug)).toEqual(['web']);
  });

  it("another org's project, review and resources: clean errors with the REST codes, nothing written", async () => {
    const c = await connect(a.api_key);
    const before = (await t.rt.admin.query('select count(*)::int as n from reviews')).rows[0].n as number;
    const r = (await c.callTool({ name: 'review_code', arguments: { project: 'secret', diff: newFileDiff('x.ts', SQLI_TS) } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toBe('not_found: project not found');
    expect(r._meta?.['quorum/error']).toMatchObject({ code: 'not_found' });
    expect(r.structuredContent).toBeUndefined();
    expect((await t.rt.admin.query('select count(*)::int as n from reviews')).rows[0].n).toBe(before);

    const g = (await c.callTool({ name: 'get_review', arguments: { review_id: bReviewId } })) as CallToolResult;
    expect(g.isError).toBe(true);
    expect(text(g)).toMatch(/^not_found: /);
    expect(JSON.stringify(g)).not.toContain('secret');
    const k = (await c.callTool({ name: 'search_knowledge', arguments: { project: 'secret' } })) as CallToolResult;
    expect(text(k)).toMatch(/^not_found: /);
    await expect(c.readResource({ uri: `review://secret/${bReviewId}` })).rejects.toThrow(/not_found/);
    await expect(c.readResource({ uri: `review://web/${bReviewId}` })).rejects.toThrow(/not_found/);
    await expect(c.readResource({ uri: 'knowledge://secret' })).rejects.toThrow(/not_found/);
    // The client prefixes "MCP error <code>: " once; the message the server sent starts with the code.
    await expect(c.readResource({ uri: 'knowledge://secret' })).rejects.toThrow(/^MCP error -32002: not_found: /);

    // Schema violations and misuse get codes too.
    const bad = (await c.callTool({ name: 'get_review', arguments: { review_id: 'nope' } })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^validation_failed: /);
    const wt = (await c.callTool({ name: 'review_code', arguments: { project: 'web', working_tree: true } })) as CallToolResult;
    expect(text(wt)).toMatch(/^bad_request: working_tree is only available/);
    const plan = (await c.callTool({ name: 'generate_plan', arguments: { project: 'web', requirements: 'Add a login page' } })) as CallToolResult;
    expect(plan.isError).toBe(true);
    expect(text(plan)).toMatch(/^provider_not_configured: generate_plan needs an LLM provider/);
  });

  it('/mcp: API-key auth, Origin checks (DNS rebinding), POST only', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const anon = await fetch(`${base}/mcp`, { method: 'POST', headers, body: JSON.stringify(init) });
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    const badKey = await fetch(`${base}/mcp`, { method: 'POST', headers: { ...headers, 'x-api-key': 'qk_nope' }, body: JSON.stringify(init) });
    expect(badKey.status).toBe(401);
    const evil = await fetch(`${base}/mcp`, { method: 'POST', headers: { ...headers, ...auth(a.api_key), origin: 'http://evil.example' }, body: JSON.stringify(init) });
    expect(evil.status).toBe(403);
    expect(((await evil.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    const ok = await fetch(`${base}/mcp`, { method: 'POST', headers: { ...headers, ...auth(a.api_key) }, body: JSON.stringify(init) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('"serverInfo"');
    const get = await fetch(`${base}/mcp`, { headers: auth(a.api_key) });
    expect(get.status).toBe(405);
    // /mcp is not part of the REST document (it is JSON-RPC, not a REST resource).
    const doc = (await t.app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).not.toContain('/mcp');
  });
});
