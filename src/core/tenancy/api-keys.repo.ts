import type { Selectable, Transaction } from 'kysely';
import type { ApiKeysTable, Database } from '../../db/schema.js';
import { generateApiKey } from './api-key-format.js';
import type { ApiKeyOut, CreatedApiKeyOut } from './api-key.schemas.js';

export function apiKeyOut(r: Selectable<ApiKeysTable>): ApiKeyOut {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    user_id: r.user_id,
    project_ids: r.project_ids,
    max_role: r.max_role,
    expires_at: r.expires_at?.toISOString() ?? null,
    revoked_at: r.revoked_at?.toISOString() ?? null,
    last_used_at: r.last_used_at?.toISOString() ?? null,
    created_at: r.created_at.toISOString(),
  };
}

export async function insertApiKey(
  tx: Transaction<Database>,
  v: {
    orgId: string;
    userId: string;
    name: string;
    projectIds: string[] | null;
    maxRole: 'admin' | 'reviewer' | 'viewer' | null;
    expiresAt: Date | null;
    createdBy: string;
  },
): Promise<CreatedApiKeyOut> {
  const k = generateApiKey();
  const row = await tx
    .insertInto('api_keys')
    .values({
      org_id: v.orgId,
      user_id: v.userId,
      name: v.name,
      prefix: k.prefix,
      key_hash: k.hash,
      project_ids: v.projectIds,
      max_role: v.maxRole,
      expires_at: v.expiresAt,
      created_by: v.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...apiKeyOut(row), api_key: k.key };
}
