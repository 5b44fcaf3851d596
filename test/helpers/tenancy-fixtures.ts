import { randomUUID } from 'node:crypto';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { auth, type TestApp } from './app.js';

export interface Member {
  user_id: string;
  email: string;
  name: string;
  api_key: string;
  api_key_id: string;
}

/**
 * Adds a person to an org. The membership row is written directly (org invites are another
 * capability); their API key is created through the API by the org owner, as in real use.
 */
export async function addOrgMember(
  t: TestApp,
  owner: BootstrapResult,
  email: string,
  role: 'owner' | 'admin' | 'member' = 'member',
): Promise<Member> {
  const userId = randomUUID();
  const name = email.split('@')[0]!;
  await t.rt.admin.query('insert into users (id, email, name) values ($1, $2, $3)', [userId, email, name]);
  await t.rt.admin.query('insert into org_memberships (org_id, user_id, role) values ($1, $2, $3)', [owner.org_id, userId, role]);
  const res = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(owner.api_key), payload: { name: `${name}-key`, user_id: userId } });
  if (res.statusCode !== 201) throw new Error(`creating a key for ${email}: ${res.statusCode} ${res.body}`);
  const key = res.json<{ id: string; api_key: string }>();
  return { user_id: userId, email, name, api_key: key.api_key, api_key_id: key.id };
}

export async function createProjectVia(t: TestApp, key: string, slug: string, name = slug): Promise<{ id: string; slug: string; name: string }> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(key), payload: { slug, name } });
  if (res.statusCode !== 201) throw new Error(`creating project ${slug}: ${res.statusCode} ${res.body}`);
  return res.json();
}

export async function setMemberVia(t: TestApp, key: string, project: string, userId: string, role: 'admin' | 'reviewer' | 'viewer'): Promise<void> {
  const res = await t.app.inject({ method: 'PUT', url: `/v1/projects/${project}/members/${userId}`, headers: auth(key), payload: { role } });
  if (res.statusCode !== 200) throw new Error(`setting ${role} on ${project}: ${res.statusCode} ${res.body}`);
}

export async function createKeyVia(t: TestApp, key: string, body: Record<string, unknown>): Promise<{ id: string; api_key: string; project_ids: string[] | null; max_role: string | null }> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(key), payload: body });
  if (res.statusCode !== 201) throw new Error(`creating key: ${res.statusCode} ${res.body}`);
  return res.json();
}
