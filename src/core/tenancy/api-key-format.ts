import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys look like `qk_<8 visible chars>_<32 secret chars>`; the visible prefix (`qk_xxxxxxxx`) is
 * stored to let people recognise a key in listings, the whole key only as a SHA-256 hash.
 */
const KEY_RE = /^qk_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomString(n: number): string {
  // Rejection sampling keeps the distribution uniform over the 62 symbols.
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 248 && out.length < n) out += ALPHABET[b % 62];
    }
  }
  return out;
}

export function generateApiKey(): { key: string; prefix: string; hash: Buffer } {
  const key = `qk_${randomString(8)}_${randomString(32)}`;
  return { key, prefix: key.slice(0, 11), hash: hashApiKey(key) };
}

export function looksLikeApiKey(s: string): boolean {
  return KEY_RE.test(s);
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
