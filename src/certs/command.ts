/**
 * `registry-router certs --config router.json [--out certs/] [--key ec|rsa] [--renew]`
 * (`npm run certs -- …`; src/certs.ts runs it directly too; arguments parsed in src/cli/program.ts)
 *
 * Makes (once, then reuses) a local CA in OUT/ca.crt + OUT/ca.key and one server certificate per
 * site (OUT/<site>.crt + .key) naming all of the site's hosts; re-issues a site's certificate
 * only when its hosts changed, it expires within 30 days, or --renew is given. Prints what it did
 * and the `listen` / `caCert` lines to paste into the config.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { parseConfigText } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { isTls } from '../config/serving.ts';
import { checkCa, createCa, issueLeaf, leafProblem, sansFor, type KeyType, type Pem } from './issue.ts';

export interface CertsOptions {
  configPath: string;
  outDir: string;
  keyType: KeyType;
  renew: boolean;
}

export interface CertsResult {
  lines: string[];
  ca: { cert: string; key: string; created: boolean };
  sites: Array<{ name: string; cert: string; key: string; issued: boolean; why: string }>;
  snippet: string;
}

function readPem(certPath: string, keyPath: string): Pem | undefined {
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  if (!haveCert && !haveKey) return undefined;
  if (haveCert !== haveKey)
    throw new Error(`found ${haveCert ? certPath : keyPath} without ${haveCert ? keyPath : certPath}: restore it, or remove both to start over`);
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

/** Writes via a temporary file and rename, so a reader never sees half a file; keys are 0600. */
function writePem(certPath: string, keyPath: string, pem: Pem): void {
  for (const [path, text, mode] of [
    [keyPath, pem.key, 0o600],
    [certPath, pem.cert, 0o644],
  ] as const) {
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, text, { mode });
    chmodSync(temp, mode);
    renameSync(temp, path);
  }
}

export async function runCerts(options: CertsOptions, now = new Date()): Promise<CertsResult> {
  let config: Config;
  try {
    config = parseConfigText(readFileSync(options.configPath, 'utf8'), options.configPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code) throw new Error(`cannot read config file ${options.configPath}: ${(error as Error).message}`);
    throw error;
  }
  const out = resolve(options.outDir);
  mkdirSync(out, { recursive: true });
  const lines: string[] = [];

  const caCertPath = resolve(out, 'ca.crt');
  const caKeyPath = resolve(out, 'ca.key');
  let ca = readPem(caCertPath, caKeyPath);
  const caCreated = !ca;
  if (ca) {
    const { expiresAt } = checkCa(ca);
    lines.push(`kept     ${caCertPath} (the existing CA, valid until ${expiresAt.toISOString().slice(0, 10)})`);
    if (expiresAt.getTime() < now.getTime() + 365 * 86_400_000) {
      lines.push(
        `warning: the CA expires within a year; to replace it, remove ${caCertPath} and ${caKeyPath}, run again, ` +
          `and re-run the bootstrap script on every client`,
      );
    }
  } else {
    const name = `registry-router CA ${hostname().split('.')[0]} ${now.toISOString().slice(0, 10)} ${Math.random().toString(16).slice(2, 8)}`;
    ca = await createCa(options.keyType, name, now);
    writePem(caCertPath, caKeyPath, ca);
    lines.push(`wrote    ${caCertPath} and ${caKeyPath} (a new local CA; keep ca.key private)`);
  }

  const sites: CertsResult['sites'] = [];
  for (const site of config.sites) {
    const certPath = resolve(out, `${site.name}.crt`);
    const keyPath = resolve(out, `${site.name}.key`);
    const sans = sansFor(site.hosts);
    const existing = readPem(certPath, keyPath);
    const why = options.renew ? '--renew' : existing ? leafProblem(existing, ca, sans, options.keyType, now) : 'new';
    const names = [...sans.dns, ...sans.ip].join(', ');
    if (why === undefined) {
      lines.push(`kept     ${certPath} (${names})`);
      sites.push({ name: site.name, cert: certPath, key: keyPath, issued: false, why: 'still valid' });
      continue;
    }
    writePem(certPath, keyPath, await issueLeaf(ca, sans, options.keyType, now));
    lines.push(`wrote    ${certPath} and ${keyPath} for ${names}${existing ? ` (re-issued: ${why})` : ''}`);
    sites.push({ name: site.name, cert: certPath, key: keyPath, issued: true, why });
  }

  const snippet = listenSnippet(config, dirname(resolve(options.configPath)), caCertPath, sites);
  return { lines, ca: { cert: caCertPath, key: caKeyPath, created: caCreated }, sites, snippet };
}

/** The `listen` and `caCert` members to paste: the config's plain listeners, then TLS on its TLS ports (443 if none). */
export function listenSnippet(config: Config, configDir: string, caCertPath: string, sites: CertsResult['sites']): string {
  const rel = (path: string) => {
    const relativePath = relative(configDir, path);
    return relativePath.startsWith('..') ? path : relativePath;
  };
  const pairs = sites.map((site) => ({ cert: rel(site.cert), key: rel(site.key) }));
  const tlsFields = pairs.length === 1 ? pairs[0]! : { certs: pairs };
  const plain = config.listen.filter((entry) => !isTls(entry)).map(({ host, port }) => ({ host, port }));
  const tlsPorts = config.listen.filter(isTls).map(({ host, port }) => ({ host, port }));
  const entries = [...plain, ...(tlsPorts.length ? tlsPorts : [{ host: plain[0]?.host ?? '0.0.0.0', port: 443 }]).map((at) => ({ ...at, ...tlsFields }))];
  // The members only, to paste into the top-level object; one listener a line.
  return `  "listen": [\n${entries.map((entry) => `    ${inline(entry)}`).join(',\n')}\n  ],\n  "caCert": ${JSON.stringify(rel(caCertPath))}`;
}

/** JSON on one line with a space after each colon and comma, as people write it. */
function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (value && typeof value === 'object')
    return `{ ${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}: ${inline(item)}`)
      .join(', ')} }`;
  return JSON.stringify(value);
}

/** Runs `certs` and prints what it did and the lines to paste; the exit code (1 when it failed). */
export async function certsCommand(options: CertsOptions, output: { out(text: string): void; err(text: string): void }): Promise<number> {
  try {
    const result = await runCerts(options);
    const lines = [
      ...result.lines,
      `\nPaste into ${options.configPath} (paths are relative to it), then start the router or send it SIGHUP:\n`,
      result.snippet,
      `\nClients: run the bootstrap script the router serves (default /download/scripts/docker-init.sh), or install ${result.ca.cert} as the registry's CA.`,
    ];
    output.out(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    output.err(`certs: ${(error as Error).message}\n`);
    return 1;
  }
}
