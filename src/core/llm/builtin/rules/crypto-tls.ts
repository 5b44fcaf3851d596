import type { DiffFile } from '../../../review/diff.js';
import { isCode, isCommentOnly, languageOf, lexLine } from '../source.js';
import { defineRules, hit, type RuleHit } from './rule.js';

export const CRYPTO_RULES = defineRules({
  weakHashForSecret: {
    id: 'crypto/weak-hash-for-secret',
    category: 'security',
    severity: 6,
    title: 'MD5/SHA-1 used for a password or signature',
    suggestion: 'Hash passwords with argon2id (or scrypt/bcrypt); sign with HMAC-SHA-256 or an asymmetric signature.',
  },
  deprecatedCipher: {
    id: 'crypto/create-cipher',
    category: 'security',
    severity: 6,
    title: 'crypto.createCipher derives keys insecurely',
    suggestion: 'Use createCipheriv with a random IV and an AEAD mode such as aes-256-gcm.',
  },
  weakCipher: {
    id: 'crypto/weak-cipher',
    category: 'security',
    severity: 6,
    title: 'Broken cipher or ECB mode',
    suggestion: 'Use AES-GCM or ChaCha20-Poly1305; DES, 3DES, RC4 and ECB mode leak plaintext.',
  },
  tlsDisabled: {
    id: 'tls/verification-disabled',
    category: 'security',
    severity: 7,
    title: 'TLS certificate verification disabled',
    suggestion: 'Keep verification on; trust a private CA by passing its certificate (ca / REQUESTS_CA_BUNDLE / RootCAs).',
  },
});

const WEAK_HASH =
  /createHash\s*\(\s*['"](?:md5|sha1|md4)['"]|hashlib\.(?:md5|sha1)\s*\(|hashlib\.new\s*\(\s*['"](?:md5|sha1)['"]|MessageDigest\.getInstance\s*\(\s*"(?:MD5|SHA-?1)"|\b(?:md5|sha1)\s*\(|DigestUtils\.(?:md5|sha1)|crypto\/(?:md5|sha1)|createHmac\s*\(\s*['"](?:md5)['"]/i;
/** Context words that turn a checksum into a security use. */
const SECRET_CONTEXT = /pass(?:word|wd|phrase)?|pwd|secret|signature|\bsign\b|signing|credential|token|salt|api[_-]?key/i;

const WEAK_CIPHER =
  /['"](?:des|des-ede3?|des-ede3?-cbc|des-cbc|des-ecb|rc4|rc2|bf-cbc|bf-ecb|blowfish|aes-\d{3}-ecb|id-aes\d{3}-ecb)['"]|\bDES3?\.new\s*\(|\bARC4\.new\s*\(|\bAES\.MODE_ECB\b|\bmodes\.ECB\s*\(|Cipher\.getInstance\s*\(\s*"(?:DES|DESede|RC4|AES|AES\/ECB[^"]*)"|\bcrypto\/(?:des|rc4)\b/i;

const TLS_OFF: { re: RegExp; what: string }[] = [
  { re: /rejectUnauthorized\s*:\s*false/, what: '`rejectUnauthorized: false`' },
  // Checked on raw text below: the '0' is a string in code, blanked by the lexer.
  { re: /NODE_TLS_REJECT_UNAUTHORIZED\s*[=:]/, what: '`NODE_TLS_REJECT_UNAUTHORIZED=0`' },
  { re: /\bverify\s*=\s*False\b/, what: '`verify=False`' },
  { re: /InsecureSkipVerify\s*:\s*true/, what: '`InsecureSkipVerify: true`' },
  { re: /ssl\._create_unverified_context|check_hostname\s*=\s*False|cert_reqs\s*=\s*['"]?(?:ssl\.)?CERT_NONE/, what: 'an unverified SSL context' },
  { re: /strictSSL\s*:\s*false|insecure\s*:\s*true\b.*\b(?:https|tls|agent)|VERIFY_NONE/i, what: 'TLS verification turned off' },
];

/** A function header (def, function, func, fn, an arrow or a method) on one line. */
const FUNCTION_HEADER = /^\s*(?:(?:export\s+)?(?:async\s+)?(?:def|function\*?|func|fn)\s+[\w$]+|(?:export\s+)?(?:const|let|var)\s+[\w$]+\s*=\s*(?:async\s*)?(?:\([^)]*\)|[\w$]+)\s*=>|(?:public|private|protected|static|async|\s)*[\w$]+\s*\([^)]*\)\s*(?::\s*[\w<>[\], |]+)?\s*\{\s*$)/;
/** How far above a weak hash its function's name is looked for (added lines only). */
const HEADER_LOOKBACK = 6;

/**
 * The name of the function a line sits in, when its header is among the few added lines just
 * above: `def hash_password(pw):` makes the md5 on the next line a password hash.
 */
function enclosingHeader(added: DiffFile['added'], i: number): string | undefined {
  for (let j = i - 1; j >= 0 && j >= i - HEADER_LOOKBACK; j--) {
    const prev = added[j]!;
    if (prev.line !== added[j + 1]!.line - 1) return undefined; // not contiguous: another place
    // camelCase split into words, so signPayload reads as “sign payload”.
    if (FUNCTION_HEADER.test(prev.text)) return prev.text.replace(/([a-z0-9])([A-Z])/g, '$1 $2');
  }
  return undefined;
}

export function detectWeakCryptoAndTls(file: DiffFile): RuleHit[] {
  const lang = languageOf(file.path);
  if (lang === 'docs' || lang === 'other') return [];
  const hits: RuleHit[] = [];
  for (const [i, { line, text }] of file.added.entries()) {
    if (isCommentOnly(text, lang)) continue;
    const weakHash = WEAK_HASH.exec(text);
    if (weakHash && (SECRET_CONTEXT.test(text) || SECRET_CONTEXT.test(enclosingHeader(file.added, i) ?? ''))) {
      hits.push(hit(CRYPTO_RULES.weakHashForSecret, file.path, line, line, `\`${weakHash[0]}\` protects a secret; MD5 and SHA-1 are fast and collision-prone, so hashes are cracked or forged cheaply.`));
    }
    if (/\bcreate(?:De)?[Cc]ipher\s*\(/.test(text)) {
      hits.push(hit(CRYPTO_RULES.deprecatedCipher, file.path, line, line, '`createCipher` derives the key with one MD5 round and no IV; it is removed in Node 22.'));
    }
    const cipher = WEAK_CIPHER.exec(text);
    if (cipher) hits.push(hit(CRYPTO_RULES.weakCipher, file.path, line, line, `\`${cipher[0]}\` selects a broken cipher or ECB mode.`));
    // In code, match outside string literals, so messages and docs that name the setting stay quiet.
    const code = isCode(lang) ? lexLine(text, lang).code : text;
    for (const t of TLS_OFF) {
      const envVar = t.re.source.startsWith('NODE_TLS');
      if (t.re.test(code) && (!envVar || /NODE_TLS_REJECT_UNAUTHORIZED\s*[=:]\s*['"]?0\b/.test(text))) {
        hits.push(hit(CRYPTO_RULES.tlsDisabled, file.path, line, line, `${t.what} accepts any certificate, so anyone on the network path can intercept the connection.`));
        break;
      }
    }
  }
  return hits;
}
