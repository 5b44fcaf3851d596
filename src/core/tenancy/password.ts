import { hash, verify } from '@node-rs/argon2';

/**
 * Password hashing policy: argon2id (the library's default algorithm) with the OWASP-recommended
 * minimum cost (19 MiB, 2 passes, 1 lane). Stated explicitly so a library default change cannot
 * silently weaken new hashes or desynchronise them from DUMMY_HASH.
 */
export const PASSWORD_HASH_OPTIONS = { memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 } as const;

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 1024;

/**
 * A hash of a throwaway password with the same parameters as real hashes. Login verifies against
 * it when the email is unknown (or has no password), so "no such user" costs the same time as
 * "wrong password" and the answer time does not reveal which emails are registered.
 */
export const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$laCmU0bGbqU2mcdjGqO0Zw$WSeuMlQGK70qJjvq47ON5asWamJ72oaFWBbetPkC4vg';

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASH_OPTIONS);
}

/** Always runs one argon2 verification, whether or not there is a stored hash. */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  try {
    const ok = await verify(stored ?? DUMMY_HASH, password);
    return ok && stored !== null;
  } catch {
    // A malformed stored hash is a failed login, never a 500.
    return false;
  }
}
