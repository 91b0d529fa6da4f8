/**
 * `npm run certs` as a user runs it, its output checked by an independent implementation:
 * `openssl verify` and `openssl x509 -text`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalIp, sansFor } from '../../src/certs/issue.ts';

const ROOT = resolve(import.meta.dirname, '../..');

let dir: string;
let configPath: string;
let out: string;

function writeConfig(dockerHosts: string[]): void {
  writeFileSync(
    configPath,
    JSON.stringify({
      listen: [{ port: 80 }],
      sites: [
        { name: 'docker', hosts: dockerHosts, preset: 'docker', upstream: 'http://nexus:8082' },
        { name: 'web', hosts: ['repo.example.com'], upstream: 'http://nexus:8081' },
      ],
    }),
  );
}

/** Runs the command as `npm run certs` does (tsx), without npm's own start-up for every call. */
function certs(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/certs.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const tryOpenssl = (...args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });
const fingerprint = (file: string) => openssl('x509', '-in', file, '-noout', '-fingerprint', '-sha256');
const serial = (file: string) => openssl('x509', '-in', file, '-noout', '-serial');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rr-certs-'));
  configPath = join(dir, 'router.json');
  out = join(dir, 'certs');
  writeConfig(['idocker.io', 'idocker.io:5000', '*.idocker.io', '127.0.0.1', '[::1]']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('certs command', () => {
  it('writes a CA and one certificate per site, and prints the listen snippet', () => {
    const npm = spawnSync('npm', ['run', 'certs', '--silent', '--', '--config', configPath, '--out', out], { cwd: ROOT, encoding: 'utf8' });
    const run = { status: npm.status, stdout: npm.stdout, stderr: npm.stderr };
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`wrote    ${out}/ca.crt and ${out}/ca.key`);
    expect(run.stdout).toContain(`wrote    ${out}/docker.crt and ${out}/docker.key for idocker.io, *.idocker.io, 127.0.0.1, 0:0:0:0:0:0:0:1`);
    expect(run.stdout).toContain(`wrote    ${out}/web.crt and ${out}/web.key for repo.example.com`);
    // Paths relative to the config file, ready to paste.
    expect(run.stdout).toContain(
      `    { "host": "0.0.0.0", "port": 443, "certs": [{ "cert": "certs/docker.crt", "key": "certs/docker.key" }, ` +
        `{ "cert": "certs/web.crt", "key": "certs/web.key" }] }`,
    );
    expect(run.stdout).toContain(`"caCert": "certs/ca.crt"`);
    const start = run.stdout.indexOf('  "listen"');
    const snippet = run.stdout.slice(start, run.stdout.indexOf('\n', run.stdout.indexOf('"caCert"', start)));
    expect(JSON.parse(`{${snippet}}`).listen).toHaveLength(2);
    for (const key of ['ca.key', 'docker.key', 'web.key']) expect(statSync(join(out, key)).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'docker.crt')).mode & 0o777).toBe(0o644);
  });

  it('makes certificates that openssl verifies, for every host and no other', () => {
    expect(openssl('verify', '-CAfile', join(out, 'ca.crt'), '-purpose', 'sslserver', join(out, 'docker.crt'), join(out, 'web.crt'))).toBe(
      `${join(out, 'docker.crt')}: OK\n${join(out, 'web.crt')}: OK\n`,
    );
    const verify = (...check: string[]) => tryOpenssl('verify', '-CAfile', join(out, 'ca.crt'), ...check, join(out, 'docker.crt')).status;
    expect(verify('-verify_hostname', 'idocker.io')).toBe(0);
    expect(verify('-verify_hostname', 'eu.idocker.io')).toBe(0);
    expect(verify('-verify_ip', '127.0.0.1')).toBe(0);
    expect(verify('-verify_ip', '::1')).toBe(0);
    expect(verify('-verify_hostname', 'repo.example.com')).not.toBe(0);
    expect(verify('-verify_ip', '127.0.0.2')).not.toBe(0);
    // Nothing but our CA vouches for them.
    expect(tryOpenssl('verify', '-no-CApath', '-no-CAfile', join(out, 'docker.crt')).status).not.toBe(0);
  });

  it('sets CA and leaf extensions as a TLS client expects', () => {
    const ca = openssl('x509', '-in', join(out, 'ca.crt'), '-noout', '-text');
    expect(ca).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(ca).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(ca).toMatch(/Public Key Algorithm: id-ecPublicKey/);
    const leaf = openssl('x509', '-in', join(out, 'docker.crt'), '-noout', '-text');
    expect(leaf).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(leaf).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(leaf).toMatch(/X509v3 Extended Key Usage: \s*\n\s+TLS Web Server Authentication\n/);
    expect(leaf).toMatch(
      /X509v3 Subject Alternative Name: \s*\n\s+DNS:idocker\.io, DNS:\*\.idocker\.io, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1\n/,
    );
    expect(leaf).toMatch(/Subject: CN = idocker\.io/);
    expect(leaf).toMatch(/X509v3 Authority Key Identifier/);
    const days = (Date.parse(openssl('x509', '-in', join(out, 'docker.crt'), '-noout', '-enddate').split('=')[1]!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(395);
    expect(days).toBeLessThan(398);
    // Each key belongs to its certificate.
    expect(openssl('pkey', '-in', join(out, 'docker.key'), '-pubout')).toBe(openssl('x509', '-in', join(out, 'docker.crt'), '-noout', '-pubkey'));
    expect(openssl('pkey', '-in', join(out, 'ca.key'), '-pubout')).toBe(openssl('x509', '-in', join(out, 'ca.crt'), '-noout', '-pubkey'));
  });

  it('reuses the CA on later runs; re-issues a leaf only when its hosts change or --renew', () => {
    const caBefore = fingerprint(join(out, 'ca.crt'));
    const dockerBefore = serial(join(out, 'docker.crt'));
    const webBefore = serial(join(out, 'web.crt'));

    const again = certs('--config', configPath, '--out', out);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^kept {5}.*ca\.crt \(the existing CA/m);
    expect(again.stdout).toMatch(/^kept {5}.*docker\.crt/m);
    expect(fingerprint(join(out, 'ca.crt'))).toBe(caBefore);
    expect(serial(join(out, 'docker.crt'))).toBe(dockerBefore);

    writeConfig(['idocker.io', 'registry.lan']);
    const changed = certs('--config', configPath, '--out', out);
    expect(changed.stdout).toMatch(/wrote .*docker\.crt .* for idocker\.io, registry\.lan \(re-issued: its names changed/);
    expect(changed.stdout).toMatch(/^kept {5}.*web\.crt/m);
    expect(fingerprint(join(out, 'ca.crt'))).toBe(caBefore);
    expect(serial(join(out, 'docker.crt'))).not.toBe(dockerBefore);
    expect(serial(join(out, 'web.crt'))).toBe(webBefore);

    const renewed = certs('--config', configPath, '--out', out, '--renew');
    expect(renewed.stdout).toMatch(/re-issued: --renew/);
    expect(serial(join(out, 'web.crt'))).not.toBe(webBefore);
    expect(fingerprint(join(out, 'ca.crt'))).toBe(caBefore);
    expect(tryOpenssl('verify', '-CAfile', join(out, 'ca.crt'), join(out, 'docker.crt'), join(out, 'web.crt')).status).toBe(0);
  });

  it('makes RSA keys on request, with keyEncipherment', () => {
    const rsaOut = join(dir, 'rsa');
    expect(certs('--config', configPath, '--out', rsaOut, '--key', 'rsa').status).toBe(0);
    const leaf = openssl('x509', '-in', join(rsaOut, 'web.crt'), '-noout', '-text');
    expect(leaf).toMatch(/Public Key Algorithm: rsaEncryption/);
    expect(leaf).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(tryOpenssl('verify', '-CAfile', join(rsaOut, 'ca.crt'), join(rsaOut, 'web.crt')).status).toBe(0);
  });

  it('says what is wrong instead of overwriting half a CA', () => {
    const broken = join(dir, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'ca.crt'), readFileSync(join(out, 'ca.crt')));
    const run = certs('--config', configPath, '--out', broken);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/found .*ca\.crt without .*ca\.key/);
    unlinkSync(join(broken, 'ca.crt'));
    expect(certs('--out', broken).status).toBe(2);
    expect(certs('--config', configPath, '--key', 'dsa').stderr).toMatch(/--key is "ec"/);
  });

  it('parses its arguments as `registry-router certs` does (one parser, commander): help, unknown flags and a bad --key alike', () => {
    const help = certs('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: registry-router certs [options]');
    expect(help.stdout).toContain('--renew');
    const unknown = certs('--config', configPath, '--verbose');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("error: unknown option '--verbose'");
    const missing = certs('--config', configPath, '--out');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("error: option '--out <dir>' argument missing");
    const key = certs('--config', configPath, '--key', 'dsa');
    expect(key.status).toBe(2);
    expect(key.stderr).toContain('error: option \'--key <type>\' argument \'dsa\' is invalid. --key is "ec" (ECDSA P-256, the default) or "rsa" (RSA 2048)');
    // The bundle's `certs` says the same, word for word.
    const bundled = spawnSync(process.execPath, [join(ROOT, 'dist/node.mjs'), 'certs', '--config', configPath, '--key', 'dsa'], { encoding: 'utf8' });
    expect([bundled.status, bundled.stderr]).toEqual([2, key.stderr]);
  });

  it('turns hosts into SANs', () => {
    expect(sansFor(['a.io', 'a.io:5000', '*.a.io', '10.0.0.1:443', '[fe80::1]:8443', 'A.IO'])).toEqual({
      dns: ['a.io', '*.a.io'],
      ip: ['10.0.0.1', 'fe80:0:0:0:0:0:0:1'],
    });
    expect(canonicalIp('::')).toBe('0:0:0:0:0:0:0:0');
    expect(canonicalIp('2001:db8::0a')).toBe('2001:db8:0:0:0:0:0:a');
  });
});
