/**
 * The certificate files of a TLS `listen` entry, for adapters that hand PEM text to their runtime
 * (Bun.serve, Deno.serve) and reload on SIGHUP by starting a replacement server. Runtime-agnostic:
 * the adapter passes its own file reader; node:crypto (present on Node, Bun and Deno) checks the
 * files before they replace certificates that work.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { ListenEntry } from './serving.ts';

/** One certificate (chain) and its key as PEM text, with the DNS names the certificate covers. */
export interface PemPair {
  cert: string;
  key: string;
  dnsNames: string[];
}

/**
 * Reads and checks every pair of `entry`: the certificate parses, the key parses and matches it.
 * Throws one line naming the files when they do not.
 */
export function readPemPairs(entry: ListenEntry, read: (path: string) => string): PemPair[] {
  return entry.certs.map(({ cert, key }) => {
    try {
      const pem = { cert: read(cert), key: read(key) };
      const x509 = new X509Certificate(pem.cert);
      const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' }).toString('base64');
      if (spki(x509.publicKey) !== spki(createPublicKey(createPrivateKey(pem.key)))) throw new Error('the key does not match the certificate');
      const dnsNames = (x509.subjectAltName ?? '')
        .split(', ')
        .filter((n) => n.startsWith('DNS:'))
        .map((n) => n.slice(4));
      return { ...pem, dnsNames };
    } catch (error) {
      throw new Error(`cannot use TLS certificate ${cert} with key ${key}: ${(error as Error).message.split('\n')[0]}${missingFileHint(error)}`);
    }
  });
}

/**
 * Every problem with the files of `entry`, one line each, for `check`: each missing or unreadable
 * file on its own (a certificate and its key both missing are two lines; a second pair's are
 * reported too), then pairs whose files load but do not parse or match.
 */
export function pemPairProblems(entry: ListenEntry, read: (path: string) => string): string[] {
  const problems: string[] = [];
  let missing = false;
  for (const pair of entry.certs) {
    const unreadable = (['cert', 'key'] as const).flatMap((which) => {
      try {
        read(pair[which]);
        return [];
      } catch (error) {
        missing ||= missingFileHint(error) !== '';
        return [`cannot read the ${which === 'cert' ? 'certificate' : 'key'} ${pair[which]}: ${(error as Error).message.split('\n')[0]}`];
      }
    });
    if (unreadable.length) {
      problems.push(...unreadable);
      continue;
    }
    try {
      readPemPairs({ ...entry, certs: [pair] }, read);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  // One hint for all the missing files.
  if (missing && problems.length) problems[problems.length - 1] += missingFileHint({ code: 'ENOENT' });
  return problems;
}

/**
 * For a certificate or key file that is not there: how to make one. `certs` writes a local CA and
 * one certificate per site, and prints the `listen` lines that name them.
 */
export function missingFileHint(error: unknown): string {
  const code = (error as { code?: string })?.code;
  const missing = code === 'ENOENT' || /No such file|not found|ENOENT/i.test(String((error as Error)?.message));
  return missing
    ? '; to create them: `npm run certs -- --config CONFIG` (a local CA and one certificate per site in certs/; it prints the listen lines to paste)'
    : '';
}

/**
 * SIGHUP for one TLS listener: re-read its files and let `replace` start a server with them. When
 * the files or the replacement fail, the old server keeps its certificates; either way one line
 * goes to `log` (worded as the Node adapter's). Returns what `replace` returned, or undefined.
 */
export function reloadTls<S>(entry: ListenEntry, read: (path: string) => string, replace: (pairs: PemPair[]) => S, log: (line: string) => void): S | undefined {
  const where = `${entry.host.includes(':') ? `[${entry.host}]` : entry.host}:${entry.port}`;
  try {
    const next = replace(readPemPairs(entry, read));
    log(`registry-router: SIGHUP, reloaded the certificates of ${where}`);
    return next;
  } catch (error) {
    log(`registry-router: SIGHUP, kept the old certificates of ${where}: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
}
