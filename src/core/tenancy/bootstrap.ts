import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import type { CoreDeps } from '../deps.js';
import { withTenant } from '../../db/client.js';
import { insertApiKey } from './api-keys.repo.js';
import { insertAudit } from './audit.repo.js';
import { insertOrgWithOwner } from './org-setup.js';

export const BootstrapInput = z.object({
  email: z.string().trim().toLowerCase().email().max(320),
  org: z.string().trim().min(1).max(200),
  name: z.string().trim().min(1).max(200).optional(),
  tier: z.enum(['free', 'pro', 'enterprise']).optional(),
});
export type BootstrapInput = z.infer<typeof BootstrapInput>;

export interface BootstrapResult {
  org_id: string;
  org_slug: string;
  user_id: string;
  api_key: string;
  api_key_id: string;
}

/**
 * Creates an owner, their org and an API key (printed once). The operator's path in: used by
 * `quorum bootstrap` on first run, and by tests to set up orgs. An existing email gets a new org.
 */
export async function bootstrapOwner(deps: CoreDeps, input: BootstrapInput): Promise<BootstrapResult> {
  const orgId = randomUUID();
  return withTenant(deps.db, orgId, async (tx) => {
    // A person may own several orgs: an existing email keeps its user (found by the named lookup).
    const existing = await sql<{ user_id: string }>`select user_id from quorum.auth_user_by_email(${input.email})`.execute(tx);
    const existingId = existing.rows[0]?.user_id;
    const { userId, orgSlug } = await insertOrgWithOwner(tx, {
      orgId,
      orgName: input.org,
      email: input.email,
      name: input.name ?? input.email.split('@')[0]!,
      passwordHash: null,
      ...(existingId && { userId: existingId }),
      ...(input.tier && { tier: input.tier }),
    });
    const key = await insertApiKey(tx, {
      orgId,
      userId,
      name: 'bootstrap',
      projectIds: null,
      maxRole: null,
      expiresAt: null,
      createdBy: userId,
    });
    await insertAudit(
      tx,
      {
        actor: { userId, orgId, orgRole: 'owner', apiKeyId: null, keyProjectIds: null, keyMaxRole: null },
        ip: null,
        userAgent: 'quorum-cli',
        correlationId: randomUUID(),
      },
      { action: 'org.bootstrap', targetType: 'org', targetId: orgId, diff: { email: input.email, org: input.org } },
    );
    return { org_id: orgId, org_slug: orgSlug, user_id: userId, api_key: key.api_key, api_key_id: key.id };
  });
}
