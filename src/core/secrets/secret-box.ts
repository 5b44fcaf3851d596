import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets at rest: AES-256-GCM with a per-org data key derived by HKDF-SHA256 from a master key.
 * The key id stored beside each ciphertext names the master key that sealed it, so master keys can
 * rotate: new writes use the newest key, old rows stay readable while their key is configured.
 */
export interface Sealed {
  keyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  authTag: Buffer;
}

export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  /** `masterKeys`: newest first. Each is ≥ 32 bytes of key material (raw or base64/hex-decoded). */
  constructor(masterKeys: Buffer[]) {
    if (masterKeys.length === 0) throw new Error('SecretBox needs at least one master key');
    this.keys = new Map();
    for (const k of masterKeys) {
      if (k.length < 32) throw new Error('master key must be at least 32 bytes');
      this.keys.set(keyIdOf(k), k);
    }
    this.currentKeyId = keyIdOf(masterKeys[0]!);
  }

  seal(orgId: string, plaintext: string, aad = ''): Sealed {
    const keyId = this.currentKeyId;
    const key = this.orgKey(keyId, orgId);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`${orgId}\0${aad}`));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId, iv, ciphertext, authTag: cipher.getAuthTag() };
  }

  open(orgId: string, sealed: Sealed, aad = ''): string {
    const key = this.orgKey(sealed.keyId, orgId);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
    decipher.setAAD(Buffer.from(`${orgId}\0${aad}`));
    decipher.setAuthTag(sealed.authTag);
    try {
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // Never echo ciphertext or key material.
      throw new Error('secret could not be decrypted (wrong key, wrong org or tampered data)');
    }
  }

  /** A purpose-bound subkey (e.g. JWT signing) derived from the current master key. */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.keys.get(this.currentKeyId)!, Buffer.alloc(0), `quorum:${purpose}`, 32));
  }

  private orgKey(keyId: string, orgId: string): Buffer {
    const master = this.keys.get(keyId);
    if (!master) throw new Error(`master key ${keyId} is not configured; cannot decrypt`);
    return Buffer.from(hkdfSync('sha256', master, Buffer.from(orgId), 'quorum:org-secret:v1', 32));
  }
}

export function keyIdOf(key: Buffer): string {
  return 'k' + createHash('sha256').update('quorum-key-id').update(key).digest('hex').slice(0, 12);
}

/** Parses QUORUM_MASTER_KEY: comma-separated, newest first; base64, hex or raw text ≥ 32 bytes. */
export function parseMasterKeys(value: string): Buffer[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (/^[0-9a-f]{64,}$/i.test(s)) return Buffer.from(s, 'hex');
      const b64 = Buffer.from(s, 'base64');
      if (b64.length >= 32 && /^[A-Za-z0-9+/_-]+=*$/.test(s)) return b64;
      return Buffer.from(s, 'utf8');
    });
}
