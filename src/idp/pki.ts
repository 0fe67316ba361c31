import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';
import { readTextIfExists, writeFileAtomic } from './files.js';

/** The CA the clients trust and the HTTPS server certificate it signed, both kept in the data dir. */
export interface Pki {
  readonly caFile: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const DAY = 24 * 60 * 60 * 1000;
const CA_SUBJECT = [
  { name: 'commonName', value: 'kiosk-agent local identity provider CA' },
  { name: 'organizationName', value: 'kiosk-agent development' },
];

/**
 * Loads the CA and the server certificate from `dir`, creating what is missing. The CA is kept for ever;
 * the server certificate is reissued (by the same CA) when it lacks one of `names` or is about to expire.
 */
export async function loadOrCreatePki(dir: string, names: readonly string[]): Promise<Pki> {
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');

  let caPem = readTextIfExists(caFile);
  let caKeyPem = readTextIfExists(caKeyFile);
  let certPem = readTextIfExists(certFile);
  let keyPem = readTextIfExists(keyFile);
  if (caPem === undefined || caKeyPem === undefined) {
    // A new CA needs a new server certificate too: make both key pairs at once (libuv's thread pool).
    const [caKeys, serverKeys] = await Promise.all([newKeyPair(), newKeyPair()]);
    ({ certPem: caPem, keyPem: caKeyPem } = createCa(caKeys));
    writeFileAtomic(caKeyFile, caKeyPem);
    writeFileAtomic(caFile, caPem, 0o644);
    ({ certPem, keyPem } = createServerCert(forge.pki.certificateFromPem(caPem), caKeys.privateKey, names, serverKeys));
    writeFileAtomic(keyFile, keyPem);
    writeFileAtomic(certFile, certPem, 0o644);
    return { caFile, caPem, certPem, keyPem };
  }
  const ca = forge.pki.certificateFromPem(caPem);
  if (certPem === undefined || keyPem === undefined || !usable(certPem, ca, names)) {
    const caKey = forge.pki.privateKeyFromPem(caKeyPem) as forge.pki.rsa.PrivateKey;
    ({ certPem, keyPem } = createServerCert(ca, caKey, names, await newKeyPair()));
    writeFileAtomic(keyFile, keyPem);
    writeFileAtomic(certFile, certPem, 0o644);
  }
  return { caFile, caPem, certPem, keyPem };
}

type KeyPair = { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey };

async function newKeyPair(): Promise<KeyPair> {
  const { privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function baseCert(publicKey: forge.pki.PublicKey, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial: clear the top bit.
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + days * DAY);
  return cert;
}

function createCa({ privateKey, publicKey }: KeyPair): { certPem: string; keyPem: string } {
  const cert = baseCert(publicKey, 3650);
  cert.setSubject(CA_SUBJECT);
  cert.setIssuer(CA_SUBJECT);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(privateKey) };
}

function createServerCert(
  ca: forge.pki.Certificate,
  caKey: forge.pki.rsa.PrivateKey,
  names: readonly string[],
  { privateKey, publicKey }: KeyPair,
): { certPem: string; keyPem: string } {
  const cert = baseCert(publicKey, 397);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(privateKey) };
}

/** Signed by this CA, valid for at least another week, and naming every one of `names`. */
function usable(certPem: string, ca: forge.pki.Certificate, names: readonly string[]): boolean {
  try {
    const cert = forge.pki.certificateFromPem(certPem);
    if (!ca.verify(cert)) return false;
    if (cert.validity.notAfter.getTime() < Date.now() + 7 * DAY) return false;
    const ext = cert.getExtension('subjectAltName') as { altNames?: { type: number; value?: string; ip?: string }[] } | null;
    const have = new Set((ext?.altNames ?? []).map((a) => (a.type === 7 ? a.ip : a.value)));
    return names.every((n) => have.has(n));
  } catch {
    return false;
  }
}
