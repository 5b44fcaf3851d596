import type { CoreDeps } from '../deps.js';
import { forbidden, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { RequestContext } from './actor.js';
import { apiKeyOut } from './api-keys.repo.js';
import type { ApiKeyOut } from './api-key.schemas.js';
import { insertAudit } from './audit.repo.js';
import { isOrgAdmin } from './rbac.js';

/**
 * Revokes a key: yours, or (org admins with an unrestricted credential) any key of the org.
 * The per-process API-key cache is cleared for the key after commit, so it stops working in this
 * process at once (other processes within the cache TTL). Revoking again keeps the first time.
 */
export async function revokeApiKey(deps: CoreDeps, ctx: RequestContext, keyId: string): Promise<ApiKeyOut> {
  const actor = ctx.actor;
  const out = await withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      const key = await tx.selectFrom('api_keys').selectAll().where('id', '=', keyId).forUpdate().executeTakeFirst();
      if (!key) throw notFound('API key');
      if (key.user_id !== actor.userId && !(isOrgAdmin(actor) && actor.keyProjectIds === null)) {
        throw forbidden("only org admins may revoke other users' keys");
      }
      const row = await tx
        .updateTable('api_keys')
        .set({ revoked_at: key.revoked_at ?? deps.clock.now() })
        .where('id', '=', keyId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await insertAudit(tx, ctx, {
        action: 'api_key.revoke',
        targetType: 'api_key',
        targetId: keyId,
        diff: {
          before: { revoked_at: key.revoked_at?.toISOString() ?? null },
          after: { revoked_at: row.revoked_at?.toISOString() ?? null },
          user_id: key.user_id,
          prefix: key.prefix,
        },
      });
      return apiKeyOut(row);
    },
    { userId: actor.userId },
  );
  deps.apiKeyCache.deleteKey(keyId);
  return out;
}
