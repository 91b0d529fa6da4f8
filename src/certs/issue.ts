/**
 * A local CA and one server certificate per site, made in-process with WebCrypto and
 * @peculiar/x509 (no openssl binary, no shelling out, keys never on a command line).
 * Reading existing files back uses node:crypto's X509Certificate.
 */
import type * as X509 from '@peculiar/x509';
import { X509Certificate as NodeX509, createPrivateKey, createPublicKey } from 'node:crypto';
import { splitHost } from '../site/host.ts';

/**
 * @peculiar/x509, loaded on first use: about 20 MB of modules that `serve` never needs (a static
 * import is hoisted into every start of the bundled router). reflect-metadata goes first: the
 * library's dependency injection (tsyringe) needs it.
 */
let library: Promise<typeof X509> | undefined;
const loadX509 = (): Promise<typeof X509> => (library ??= import('reflect-metadata').then(() => import('@peculiar/x509')));

export type KeyType = 'ec' | 'rsa';

const ALGORITHMS = {
  ec: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;

const DAY = 86_400_000;
export const CA_DAYS = 3650;
/** Under the 398/825-day limits that Apple and browsers put on server certificates. */
export const LEAF_DAYS = 397;
/** A leaf this close to expiry is re-issued on the next run. */
export const RENEW_BEFORE_DAYS = 30;

export interface Pem {
  cert: string;
  key: string;
}

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** A site's `hosts` as SANs: ports dropped, `*.x` kept as a wildcard DNS name, IP literals as IP SANs. */
export function sansFor(hosts: readonly string[]): SubjectAltNames {
  const dns = new Set<string>();
  const ip = new Set<string>();
  for (const host of hosts) {
    const { name } = splitHost(host);
    if (name.startsWith('[') && name.endsWith(']')) ip.add(canonicalIp(name.slice(1, -1)));
    else if (IPV4.test(name)) ip.add(name);
    else if (name) dns.add(name);
  }
  return { dns: [...dns], ip: [...ip] };
}

/** IPv4 as is; IPv6 as eight groups without leading zeros (the form node:crypto prints). */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  let groups: string[];
  const [head = '', tail] = ip.toLowerCase().split('::');
  if (tail === undefined) {
    groups = head.split(':');
  } else {
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  }
  return groups.map((group) => (group.includes('.') ? group : group.replace(/^0+(?=.)/, ''))).join(':');
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive
  bytes[0]! |= 0x01; // and no leading zero byte
  return Buffer.from(bytes).toString('hex');
}

function toPem(der: ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64.replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

async function generateKeys(type: KeyType): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ALGORITHMS[type], true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  return toPem(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
}

/** A new CA: CA:true (pathlen 0), keyCertSign + cRLSign, valid for `CA_DAYS`. */
export async function createCa(type: KeyType, name: string, now = new Date()): Promise<Pem> {
  const x509 = await loadX509();
  const keys = await generateKeys(type);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [name] }, { O: ['registry-router'] }],
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + CA_DAYS * DAY),
    signingAlgorithm: ALGORITHMS[type],
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await privateKeyPem(keys) };
}

/** The CA's signing key as a WebCrypto key, in the algorithm its certificate names. */
async function importCaKey(ca: Pem): Promise<{ key: CryptoKey; algorithm: (typeof ALGORITHMS)[KeyType]; cert: X509.X509Certificate }> {
  const x509 = await loadX509();
  const cert = new x509.X509Certificate(ca.cert);
  const type: KeyType = cert.publicKey.algorithm.name === 'ECDSA' ? 'ec' : 'rsa';
  const algorithm = ALGORITHMS[type];
  const der = createPrivateKey(ca.key).export({ type: 'pkcs8', format: 'der' });
  const key = await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { key, algorithm, cert };
}

/**
 * A server certificate signed by the CA: every site host as a SAN, CA:false, digitalSignature
 * (+ keyEncipherment for RSA keys; RFC 5480 leaves it out for EC), serverAuth, valid `LEAF_DAYS`.
 */
export async function issueLeaf(ca: Pem, sans: SubjectAltNames, type: KeyType, now = new Date()): Promise<Pem> {
  const x509 = await loadX509();
  if (!sans.dns.length && !sans.ip.length) throw new Error('a certificate needs at least one host name or IP address');
  const { key: caKey, algorithm, cert: caCert } = await importCaKey(ca);
  const keys = await generateKeys(type);
  const commonName = sans.dns.find((name) => !name.startsWith('*.')) ?? sans.dns[0] ?? sans.ip[0]!;
  const usage = x509.KeyUsageFlags.digitalSignature | (type === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + LEAF_DAYS * DAY),
    signingAlgorithm: algorithm,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([
        ...sans.dns.map((value) => ({ type: 'dns' as const, value })),
        ...sans.ip.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await privateKeyPem(keys) };
}

/** Checks a CA pair read from disk: a CA certificate, and the key that goes with it. */
export function checkCa(ca: Pem): { expiresAt: Date } {
  const cert = new NodeX509(ca.cert);
  if (!cert.ca) throw new Error('the certificate is not a CA (basicConstraints CA:false)');
  if (!cert.checkPrivateKey(createPrivateKey(ca.key))) throw new Error('the key does not belong to the certificate');
  return { expiresAt: new Date(cert.validTo) };
}

/** Why an existing leaf must be re-issued, or undefined when it is still good for these SANs and this CA. */
export function leafProblem(leaf: Pem, ca: Pem, sans: SubjectAltNames, type: KeyType, now = new Date()): string | undefined {
  let cert: NodeX509;
  try {
    cert = new NodeX509(leaf.cert);
    if (!cert.checkPrivateKey(createPrivateKey(leaf.key))) return 'its key does not match';
  } catch (error) {
    return `it cannot be read (${(error as Error).message})`;
  }
  const caCert = new NodeX509(ca.cert);
  if (!cert.checkIssued(caCert) || !cert.verify(createPublicKey(ca.cert))) return 'another CA signed it';
  if (Date.parse(cert.validTo) < now.getTime() + RENEW_BEFORE_DAYS * DAY) return `it expires on ${cert.validTo}`;
  if ((cert.publicKey.asymmetricKeyType === 'ec' ? 'ec' : 'rsa') !== type) return `it has a ${cert.publicKey.asymmetricKeyType} key`;
  const want = [...sans.dns.map((name) => `DNS:${name}`), ...sans.ip.map((ip) => `IP Address:${canonicalIp(ip)}`)].sort();
  const have = (cert.subjectAltName ?? '')
    .split(', ')
    .filter(Boolean)
    .map((name) => (name.startsWith('IP Address:') ? `IP Address:${canonicalIp(name.slice('IP Address:'.length))}` : name))
    .sort();
  if (want.join() !== have.join()) return `its names changed (${have.join(', ') || 'none'} → ${want.join(', ')})`;
  return undefined;
}
