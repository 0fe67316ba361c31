/**
 * The parts of `jose` an ID token's check uses, for its dynamic import: importing the package itself
 * bundles every export (encryption, signing, key generation), twice the code a boot compiles.
 */
export { createLocalJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
