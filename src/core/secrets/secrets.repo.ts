import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { SecretBox } from './secret-box.js';

/**
 * Named secrets of an org (provider API keys, GitHub tokens), sealed with the org's derived key.
 * The secret's name is bound into the ciphertext (AAD), so a row copied under another name or into
 * another org fails to open. Call inside withTenant: RLS keeps each org to its own rows.
 */
export async function putSecret(tx: Transaction<Database>, box: SecretBox, orgId: string, name: string, value: string): Promise<void> {
  const s = box.seal(orgId, value, name);
  await tx
    .insertInto('secrets')
    .values({ org_id: orgId, name, key_id: s.keyId, ciphertext: s.ciphertext, iv: s.iv, auth_tag: s.authTag })
    .onConflict((oc) =>
      oc.columns(['org_id', 'name']).doUpdateSet({ key_id: s.keyId, ciphertext: s.ciphertext, iv: s.iv, auth_tag: s.authTag, updated_at: new Date() }),
    )
    .execute();
}

export async function getSecret(tx: Transaction<Database>, box: SecretBox, orgId: string, name: string): Promise<string | undefined> {
  const r = await tx.selectFrom('secrets').select(['key_id', 'ciphertext', 'iv', 'auth_tag']).where('name', '=', name).executeTakeFirst();
  if (!r) return undefined;
  return box.open(orgId, { keyId: r.key_id, ciphertext: r.ciphertext, iv: r.iv, authTag: r.auth_tag }, name);
}

/** Re-seals every secret of the org that is not under the current master key (after a rotation). */
export async function resealSecrets(tx: Transaction<Database>, box: SecretBox, orgId: string): Promise<number> {
  const rows = await tx.selectFrom('secrets').select(['name', 'key_id', 'ciphertext', 'iv', 'auth_tag']).where('key_id', '!=', box.currentKeyId).execute();
  for (const r of rows) {
    const plain = box.open(orgId, { keyId: r.key_id, ciphertext: r.ciphertext, iv: r.iv, authTag: r.auth_tag }, r.name);
    await putSecret(tx, box, orgId, r.name, plain);
  }
  return rows.length;
}
