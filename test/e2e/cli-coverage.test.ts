import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openApiRoutes } from '../helpers/openapi-routes.js';
import { cli } from '../helpers/process.js';

/**
 * Every REST capability has a CLI command (the CLI is a client of the REST API). A route added to
 * the API without a command here fails this test; so does a command named here that the CLI lacks.
 */
const COMMAND_FOR: Record<string, string> = {
  'POST /v1/auth/signup': 'auth signup',
  'POST /v1/auth/login': 'auth login',
  'POST /v1/auth/refresh': 'auth refresh',
  'POST /v1/auth/logout': 'auth logout',
  'GET /v1/auth/me': 'whoami',
  'GET /v1/projects': 'projects list',
  'POST /v1/projects': 'projects create',
  'GET /v1/projects/{project}': 'projects show',
  'PATCH /v1/projects/{project}': 'projects update',
  'DELETE /v1/projects/{project}': 'projects delete',
  'GET /v1/projects/{project}/members': 'members list',
  'GET /v1/projects/{project}/members/{user}': 'members show',
  'PUT /v1/projects/{project}/members/{user}': 'members set',
  'DELETE /v1/projects/{project}/members/{user}': 'members remove',
  'GET /v1/projects/{project}/knowledge': 'knowledge search',
  'GET /v1/projects/{project}/knowledge.md': 'knowledge export',
  'GET /v1/keys': 'keys list',
  'POST /v1/keys': 'keys create',
  'DELETE /v1/keys/{id}': 'keys revoke',
  'GET /v1/orgs/current': 'org show',
  'PATCH /v1/orgs/current': 'org rename',
  'POST /v1/invites/accept': 'org accept-invite',
  'GET /v1/orgs/current/members': 'users list',
  'PUT /v1/orgs/current/members/{user}': 'users role',
  'DELETE /v1/orgs/current/members/{user}': 'users remove',
  'POST /v1/orgs/current/invites': 'users invite',
  'GET /v1/orgs/current/invites': 'users invites',
  'DELETE /v1/orgs/current/invites/{id}': 'users revoke-invite',
  'GET /v1/audit': 'audit',
  'POST /v1/review': 'review',
  'POST /v1/review/async': 'review',
  'GET /v1/reviews': 'reviews list',
  'GET /v1/reviews/{id}': 'reviews show',
  'POST /v1/reviews/{id}/cancel': 'reviews cancel',
  'GET /v1/reviews/{id}/report.md': 'reviews show',
  'GET /v1/reviews/{id}/report.json': 'reviews show',
  'GET /v1/reviews/{id}/report.sarif': 'reviews show',
  'GET /v1/reviews/{id}/events': 'reviews events',
  'POST /v1/plan': 'plan',
  'GET /v1/usage': 'usage',
  'GET /v1/limits': 'limits list',
  'PUT /v1/limits': 'limits set',
  'DELETE /v1/limits/{id}': 'limits remove',
};

/** Command paths the CLI has, as `quorum commands --json` lists them (one process, not one per group). */
async function cliCommands(): Promise<Map<string, string>> {
  const r = await cli(['commands', '--json'], {});
  expect(r.code, r.stderr).toBe(0);
  return new Map((JSON.parse(r.stdout) as Array<{ command: string; description: string }>).map((c) => [c.command, c.description]));
}

describe('CLI covers the REST API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it('every route of the OpenAPI document maps to a CLI command, and every mapped command exists', { timeout: 120_000 }, async () => {
    const routes = (await openApiRoutes(t.app)).map((r) => `${r.method} ${r.path}`);
    expect(routes.length).toBeGreaterThan(30);
    expect(routes.filter((r) => !(r in COMMAND_FOR)), 'REST routes without a CLI command: add one, then map it here').toEqual([]);
    expect(Object.keys(COMMAND_FOR).filter((r) => !routes.includes(r)), 'mapped routes the API no longer has').toEqual([]);
    const commands = await cliCommands();
    const missing = [...new Set(Object.values(COMMAND_FOR))].filter((c) => !commands.has(c));
    expect(missing, 'commands named in the mapping that the CLI does not have').toEqual([]);
    // And the process commands that have no REST route.
    for (const c of ['serve', 'worker', 'mcp', 'migrate', 'bootstrap', 'doctor']) expect(commands.has(c), c).toBe(true);
    const undescribed = [...commands].filter(([, d]) => !d).map(([c]) => c);
    expect(undescribed, 'commands without a description in --help').toEqual([]);
  });

  it('--help documents exit codes and examples', { timeout: 120_000 }, async () => {
    const top = await cli(['--help'], {});
    expect(top.stdout).toContain('Exit codes:');
    expect(top.stdout).toMatch(/Examples:/);
    const h = await cli(['mcp', '--help'], {});
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('claude mcp add quorum -- npx quorum mcp');
  });
});
