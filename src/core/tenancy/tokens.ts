import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AppError } from '../errors.js';

export const ACCESS_TTL_S = 60 * 60;
export const REFRESH_TTL_S = 7 * 24 * 60 * 60;
const ISSUER = 'quorum';

export interface AccessClaims {
  sub: string;
  org: string;
}

export interface RefreshClaims extends AccessClaims {
  jti: string;
  fam: string;
}

export async function signAccessToken(key: Uint8Array, c: AccessClaims, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ org: c.org, typ: 'access' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(c.sub)
    .setIssuer(ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ACCESS_TTL_S)
    .sign(key);
}

export async function signRefreshToken(
  key: Uint8Array,
  c: AccessClaims & { fam?: string },
  now: Date,
): Promise<{ token: string; jti: string; fam: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const jti = randomUUID();
  const fam = c.fam ?? randomUUID();
  const token = await new SignJWT({ org: c.org, typ: 'refresh', fam })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(c.sub)
    .setIssuer(ISSUER)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + REFRESH_TTL_S)
    .sign(key);
  return { token, jti, fam, expiresAt: new Date((iat + REFRESH_TTL_S) * 1000) };
}

async function verify(key: Uint8Array, token: string, typ: 'access' | 'refresh', now: Date) {
  try {
    const { payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ['HS256'], currentDate: now });
    if (payload.typ !== typ || typeof payload.sub !== 'string' || typeof payload.org !== 'string') {
      throw new AppError('unauthenticated', 'invalid token');
    }
    return payload;
  } catch (e) {
    if (e instanceof AppError) throw e;
    if (e instanceof joseErrors.JWTExpired) throw new AppError('token_expired', 'token expired');
    throw new AppError('unauthenticated', 'invalid token');
  }
}

export async function verifyAccessToken(key: Uint8Array, token: string, now: Date): Promise<AccessClaims> {
  const p = await verify(key, token, 'access', now);
  return { sub: p.sub as string, org: p.org as string };
}

export async function verifyRefreshToken(key: Uint8Array, token: string, now: Date): Promise<RefreshClaims> {
  const p = await verify(key, token, 'refresh', now);
  if (typeof p.jti !== 'string' || typeof p.fam !== 'string') throw new AppError('unauthenticated', 'invalid token');
  return { sub: p.sub as string, org: p.org as string, jti: p.jti, fam: p.fam };
}
