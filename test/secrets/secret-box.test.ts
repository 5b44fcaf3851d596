import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox, keyIdOf, parseMasterKeys } from '../../src/core/secrets/secret-box.js';
import { getSecret, putSecret, resealSecrets } from '../../src/core/secrets/secrets.repo.js';
import { withTenant } from '../../src/db/client.js';
import { createTestApp, newOrg, type TestApp } from '../helpers/app.js';

const ORG_A = '11111111-1111-4111-8111-111111111111';
const ORG_B = '22222222-2222-4222-8222-222222222222';

describe('SecretBox (AES-256-GCM, per-org HKDF keys, key ids for rotation)', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  it('round-trips, with a fresh IV each time, and never shows the plaintext', () => {
    const box = new SecretBox([k1]);
    const a = box.seal(ORG_A, 'ghp_secretvalue', 'github');
    const b = box.seal(ORG_A, 'ghp_secretvalue', 'github');
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.ciphertext.toString('utf8')).not.toContain('ghp_');
    expect(box.open(ORG_A, a, 'github')).toBe('ghp_secretvalue');
    expect(a.keyId).toBe(keyIdOf(k1));
  });

  it("one org's key cannot open another org's secret; a renamed or tampered secret fails closed", () => {
    const box = new SecretBox([k1]);
    const s = box.seal(ORG_A, 'value', 'anthropic');
    expect(() => box.open(ORG_B, s, 'anthropic')).toThrow(/could not be decrypted/);
    expect(() => box.open(ORG_A, s, 'github')).toThrow(/could not be decrypted/);
    const tampered = { ...s, ciphertext: Buffer.from(s.ciphertext) };
    tampered.ciphertext[0]! ^= 1;
    expect(() => box.open(ORG_A, tampered, 'anthropic')).toThrow(/could not be decrypted/);
    try {
      box.open(ORG_B, s, 'anthropic');
    } catch (e) {
      expect(String(e)).not.toContain(k1.toString('base64'));
      expect(String(e)).not.toContain('value');
    }
  });

  it('rotation: new writes use the newest key, old ciphertexts stay readable while their key is configured', () => {
    const old = new SecretBox([k1]).seal(ORG_A, 'v1', 'x');
    const rotated = new SecretBox([k2, k1]);
    expect(rotated.open(ORG_A, old, 'x')).toBe('v1');
    expect(rotated.seal(ORG_A, 'v2', 'x').keyId).toBe(keyIdOf(k2));
    expect(() => new SecretBox([k2]).open(ORG_A, old, 'x')).toThrow(/not configured/);
  });

  it('parses master keys as hex, base64 or text, newest first; refuses short keys', () => {
    const keys = parseMasterKeys(`${k2.toString('hex')}, ${k1.toString('base64')}`);
    expect(keys[0]!.equals(k2)).toBe(true);
    expect(keys[1]!.equals(k1)).toBe(true);
    expect(() => new SecretBox(parseMasterKeys('short'))).toThrow(/at least 32 bytes/);
  });
});

describe('secrets table (real PostgreSQL, RLS)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  it('stores ciphertext only, reads back per org, re-seals after rotation', async () => {
    const a = await newOrg(t, 'sec@a.test', 'Sec A');
    const b = await newOrg(t, 'sec@b.test', 'Sec B');
    const box = t.rt.deps.secrets;
    await withTenant(t.rt.deps.db, a.org_id, (tx) => putSecret(tx, box, a.org_id, 'anthropic', 'sk-ant-very-secret'));
    const raw = await t.rt.admin.query(`select org_id, key_id, ciphertext from secrets`);
    expect(raw.rows).toHaveLength(1);
    expect(raw.rows[0].ciphertext.toString('utf8')).not.toContain('sk-ant');
    expect(raw.rows[0].key_id).toBe(box.currentKeyId);
    expect(await withTenant(t.rt.deps.db, a.org_id, (tx) => getSecret(tx, box, a.org_id, 'anthropic'))).toBe('sk-ant-very-secret');
    // B's tenant cannot see A's row at all.
    expect(await withTenant(t.rt.deps.db, b.org_id, (tx) => getSecret(tx, box, b.org_id, 'anthropic'))).toBeUndefined();

    const newer = new SecretBox([randomBytes(32), ...parseMasterKeys(t.rt.config.masterKey!)]);
    const n = await withTenant(t.rt.deps.db, a.org_id, (tx) => resealSecrets(tx, newer, a.org_id));
    expect(n).toBe(1);
    const after = await t.rt.admin.query(`select key_id from secrets`);
    expect(after.rows[0].key_id).toBe(newer.currentKeyId);
    expect(await withTenant(t.rt.deps.db, a.org_id, (tx) => getSecret(tx, newer, a.org_id, 'anthropic'))).toBe('sk-ant-very-secret');
  });
});
