import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { readTextIfExists, writeFileAtomic } from './files.js';

export interface PublicJwk {
  readonly kty: string;
  readonly use: 'sig';
  readonly alg: 'RS256';
  readonly kid: string;
  readonly n: string;
  readonly e: string;
}

/** The RS256 token-signing key (persisted) and a forger's key with the same `kid` that is in no JWKS. */
export interface SigningKeys {
  readonly kid: string;
  readonly publicJwk: PublicJwk;
  sign(payload: JWTPayload): Promise<string>;
  /** Signs with a key that is not published: a forged token that names the real `kid`. */
  forge(payload: JWTPayload): Promise<string>;
}

export async function loadOrCreateSigningKeys(dir: string): Promise<SigningKeys> {
  const file = join(dir, 'signing-key.json');
  const stored = readTextIfExists(file);
  let jwk: JWK;
  if (stored === undefined) {
    const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    jwk = await exportJWK(privateKey);
    jwk.kid = await calculateJwkThumbprint(jwk);
    writeFileAtomic(file, `${JSON.stringify(jwk)}\n`);
  } else {
    jwk = JSON.parse(stored) as JWK;
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const key = (await importJWK(jwk, 'RS256')) as CryptoKey;
  let forger: Promise<CryptoKey> | undefined;
  const signWith = (k: CryptoKey, payload: JWTPayload) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(k);
  return {
    kid,
    publicJwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: jwk.n ?? '', e: jwk.e ?? '' },
    sign: (payload) => signWith(key, payload),
    forge: async (payload) => {
      forger ??= generateKeyPair('RS256', { modulusLength: 2048 }).then((pair) => pair.privateKey);
      return signWith(await forger, payload);
    },
  };
}
