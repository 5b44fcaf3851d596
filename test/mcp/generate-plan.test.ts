import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreBackend } from '../../src/adapters/mcp/core-backend.js';
import { buildMcpServer } from '../../src/adapters/mcp/server.js';
import type { Actor } from '../../src/core/tenancy/actor.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { OpenAiStandIn } from '../stand-ins/openai-stand-in.js';

const PLAN = {
  summary: 'Password reset by email in three steps.',
  tasks: [
    { id: 'T1', title: 'Reset tokens table and repository', depends_on: [], files: ['src/db/migrations/0009_reset.sql'], acceptance: ['tokens expire after 1 h'], complexity: 'S' },
    { id: 'T2', title: 'POST /v1/auth/reset', description: 'Send the email', depends_on: ['T1', 'T9', 'T2'], acceptance: [], complexity: 'M' },
    { id: 'T3', title: 'Reset page', depends_on: ['T2'] },
  ],
};

/** generate_plan / POST /v1/plan against a real OpenAI-compatible server (local stand-in), through the gate. */
describe('generate_plan with an LLM provider', () => {
  let llm: OpenAiStandIn;
  let t: TestApp;
  let a: Awaited<ReturnType<typeof newOrg>>;
  let answer: string;

  beforeAll(async () => {
    llm = await OpenAiStandIn.start({ respond: () => ({ type: 'content', content: answer }) });
    t = await createTestApp({ QUORUM_OPENAI_BASE_URL: `${llm.url}/v1`, QUORUM_OPENAI_MODEL: 'plan-model' });
    a = await newOrg(t, 'pat@plan.test', 'Plan');
    await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(a.api_key), payload: { slug: 'web' } });
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('REST: a validated plan (unknown and self dependencies dropped), one audit row, the requirements sent as data', async () => {
    answer = 'Here is the plan:\n```json\n' + JSON.stringify(PLAN) + '\n```';
    const res = await t.app.inject({ method: 'POST', url: '/v1/plan', headers: auth(a.api_key), payload: { project_id: 'web', requirements: 'Users can reset their password by email.' } });
    expect(res.statusCode, res.body).toBe(200);
    const plan = res.json();
    expect(plan).toMatchObject({ summary: PLAN.summary, provider: 'openai-compatible', model: 'plan-model' });
    expect(plan.tasks.map((x: { id: string; depends_on: string[] }) => [x.id, x.depends_on])).toEqual([['T1', []], ['T2', ['T1']], ['T3', ['T2']]]);
    expect(plan.tasks[2]).toMatchObject({ description: '', files: [], acceptance: [], complexity: 'M' });
    expect(plan.usage.input_tokens).toBeGreaterThan(0);
    const sent = llm.requests.at(-1)!.body as { model: string; messages: Array<{ role: string; content: string }> };
    expect(sent.model).toBe('plan-model');
    expect(sent.messages[1]!.content).toContain('Users can reset their password by email.');
    const audit = await t.rt.admin.query(`select action, project_id, actor_user_id, diff from audit_log where action = 'plan.generate'`);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ actor_user_id: a.user_id, project_id: plan.project_id, diff: { tasks: 3, provider: 'openai-compatible' } });
    expect(JSON.stringify(audit.rows[0].diff)).not.toContain('reset their password');

    // A model answering something else is a clean 502 with a code, not a 500.
    answer = 'I cannot help with that.';
    const bad = await t.app.inject({ method: 'POST', url: '/v1/plan', headers: auth(a.api_key), payload: { project_id: 'web', requirements: 'x' } });
    expect(bad.statusCode).toBe(502);
    expect(bad.json().error.code).toBe('provider_bad_output');
  });

  it('MCP: generate_plan returns the plan as structured content; viewers may not spend the budget', async () => {
    answer = JSON.stringify(PLAN);
    const actor: Actor = { userId: a.user_id, orgId: a.org_id, orgRole: 'owner', apiKeyId: null, keyProjectIds: null, keyMaxRole: null };
    const run = async (who: Actor, args: Record<string, unknown>) => {
      const server = buildMcpServer({
        backend: coreBackend(t.rt.deps, () => ({ actor: who, ip: null, userAgent: 'test', correlationId: randomUUID() })),
        logger: t.rt.deps.logger,
        version: 'test',
        defaultProject: 'web',
      });
      const [ct, st] = InMemoryTransport.createLinkedPair();
      await server.connect(st);
      const client = new Client({ name: 'plan-test', version: '1' });
      await client.connect(ct);
      await client.listTools();
      try {
        return (await client.callTool({ name: 'generate_plan', arguments: args })) as CallToolResult;
      } finally {
        await client.close();
      }
    };
    const ok = await run(actor, { requirements: 'Users can reset their password by email.', max_tasks: 2 });
    expect(ok.isError, JSON.stringify(ok.content)).toBeFalsy();
    expect((ok.structuredContent as { tasks: unknown[] }).tasks).toHaveLength(2);
    expect((ok.content[0] as { text: string }).text).toContain('T2. POST /v1/auth/reset (after T1)');

    const viewer = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(a.api_key), payload: { name: 'ro', max_role: 'viewer' } });
    const denied = await t.app.inject({ method: 'POST', url: '/v1/plan', headers: auth(viewer.json().api_key), payload: { project_id: 'web', requirements: 'x' } });
    expect(denied.statusCode).toBe(403);
    const other = await newOrg(t, 'mallory@plan.test', 'Other');
    const foreign = await run({ ...actor, userId: other.user_id, orgId: other.org_id }, { project: 'web', requirements: 'x' });
    expect(foreign.isError).toBe(true);
    expect((foreign.content[0] as { text: string }).text).toBe('not_found: project not found');
  });
});
