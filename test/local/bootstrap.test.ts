/**
 * The bootstrap script and CA download as the core serves them (no server), the HTTP → HTTPS
 * redirect around them, and the rendered script against shellcheck. The script itself runs
 * against a TLS router in test/e2e/tls.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { registryName, renderBootstrapScript, shellQuote } from '../../src/local/bootstrap.ts';
import { nodeFiles } from '../../src/local/node-files.ts';

const CA = `-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQYQ==\n-----END CERTIFICATE-----\n`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rr-bootstrap-'));
  writeFileSync(join(dir, 'ca.crt'), CA);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function appWith(input: Partial<ConfigInput> & { site?: Record<string, unknown> } = {}) {
  const { site, ...rest } = input;
  const config = parseConfig({
    listen: [{ port: 80 }, { port: 8443, cert: 'x.crt', key: 'x.key' }],
    caCert: join(dir, 'ca.crt'),
    sites: [
      { name: 'docker', hosts: ['idocker.io', '10.1.2.3', '[::1]'], preset: 'docker', upstream: 'http://nexus:8081', ...site },
      { name: 'web', hosts: ['repo.example.com'], upstream: 'http://nexus:8081' },
    ],
    ...rest,
  });
  return createApp(config, {
    client: { send: async () => ({ status: 299, headers: new Headers({ 'x-proxied': 'yes' }), body: null }) },
    log: () => {},
    files: nodeFiles,
  });
}

const fetchFrom = (app: ReturnType<typeof createApp>, url: string, method = 'GET') =>
  app.fetch(new Request(url, { method, headers: { host: new URL(url).host } }));

function shellcheck(script: string): { status: number | null; output: string } {
  const result = spawnSync('shellcheck', ['--shell=sh', '--severity=style', '-'], { input: script, encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

describe('bootstrap script', () => {
  it('renders POSIX sh that shellcheck passes, for names, addresses and ports', () => {
    for (const [host, port] of [
      ['idocker.io', 443],
      ['idocker.io', 5001],
      ['10.1.2.3', 8443],
      ['registry-1.corp.example', 443],
    ] as const) {
      const script = renderBootstrapScript({ site: 'docker', host, port, caPem: CA, scriptUrl: `http://${host}/s.sh`, caUrl: `http://${host}/ca.crt` });
      expect(shellcheck(script)).toEqual({ status: 0, output: '' });
      expect(spawnSync('sh', ['-n'], { input: script }).status).toBe(0);
      expect(script).toContain(`REGISTRY=${shellQuote(registryName(host, port))}`);
      expect(script).toContain(CA.trim());
    }
  });

  it('refuses hosts and CA files it cannot put in a script safely', () => {
    const base = { site: 'docker', port: 443, caPem: CA, scriptUrl: 'u', caUrl: 'u' };
    expect(() => renderBootstrapScript({ ...base, host: "evil'; rm -rf /; '" })).toThrow(/cannot write a bootstrap script/);
    expect(() => renderBootstrapScript({ ...base, host: '[::1]' })).toThrow(/cannot write/);
    expect(() => renderBootstrapScript({ ...base, host: 'idocker.io', caPem: 'CA_PEM\nrm -rf /\n' })).toThrow(/PEM/);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('is served by IP too (before the name resolves), rendered for the first docker site’s name; other paths by IP stay 421', async () => {
    const app = appWith({ site: { hosts: ['idocker.io'] } });
    const script = await fetchFrom(app, 'http://192.0.2.10/download/scripts/docker-init.sh');
    expect(script.status).toBe(200);
    expect(script.headers.get('x-registry')).toBe('idocker.io:8443');
    expect(await script.text()).toContain('--hosts IP');
    expect((await fetchFrom(app, 'http://192.0.2.10/download/ca.crt')).status).toBe(200);
    expect((await fetchFrom(app, 'http://192.0.2.10/v2/')).status).toBe(421);
    expect((await fetchFrom(app, 'http://[2001:db8::5]:8080/download/scripts/docker-init.sh')).status).toBe(200);
  });

  it('is served for the host the client used, pointing plain-HTTP clients at the HTTPS port', async () => {
    const app = appWith();
    const plain = await fetchFrom(app, 'http://idocker.io/download/scripts/docker-init.sh');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('text/x-shellscript; charset=utf-8');
    expect(plain.headers.get('x-registry')).toBe('idocker.io:8443');
    const script = await plain.text();
    expect(script).toContain(`REGISTRY_HOST='idocker.io'`);
    expect(script).toContain(`REGISTRY_PORT='8443'`);
    expect(script).toContain('curl -fsSL http://idocker.io/download/scripts/docker-init.sh');

    const tls = await fetchFrom(app, 'https://idocker.io/download/scripts/docker-init.sh');
    expect(tls.headers.get('x-registry')).toBe('idocker.io');
    const other = await fetchFrom(app, 'https://10.1.2.3:5443/download/scripts/docker-init.sh');
    expect(other.headers.get('x-registry')).toBe('10.1.2.3:5443');
    expect((await fetchFrom(app, 'http://[::1]/download/scripts/docker-init.sh')).status).toBe(400);
    const head = await fetchFrom(app, 'http://idocker.io/download/scripts/docker-init.sh', 'HEAD');
    expect([head.status, head.body, head.headers.get('content-length')]).toEqual([200, null, String(script.length)]);
    expect((await fetchFrom(app, 'http://idocker.io/download/scripts/docker-init.sh', 'POST')).status).toBe(405);
  });

  it('serves the CA, only on docker sites, only with caCert, at configurable paths', async () => {
    const ca = await fetchFrom(appWith(), 'http://idocker.io/download/ca.crt');
    expect([ca.status, ca.headers.get('content-type'), await ca.text()]).toEqual([200, 'application/x-x509-ca-cert', CA]);
    expect((await fetchFrom(appWith(), 'http://repo.example.com/download/ca.crt')).headers.get('x-proxied')).toBe('yes');
    expect((await fetchFrom(appWith({ caCert: undefined }), 'http://idocker.io/download/ca.crt')).headers.get('x-proxied')).toBe('yes');
    expect((await fetchFrom(appWith({ site: { bootstrap: false } }), 'http://idocker.io/download/ca.crt')).headers.get('x-proxied')).toBe('yes');
    const moved = appWith({ site: { bootstrap: { path: '/init.sh', caPath: '/ca.pem' } } });
    expect((await fetchFrom(moved, 'http://idocker.io/init.sh')).status).toBe(200);
    expect(await (await fetchFrom(moved, 'http://idocker.io/ca.pem')).text()).toBe(CA);
    const missing = appWith({ caCert: join(dir, 'nope.crt') });
    expect((await fetchFrom(missing, 'http://idocker.io/download/scripts/docker-init.sh')).status).toBe(503);
  });
});

describe('HTTP → HTTPS redirect', () => {
  it('is off by default', async () => {
    expect((await fetchFrom(appWith(), 'http://idocker.io/v2/')).headers.get('x-proxied')).toBe('yes');
  });
  it('sends plain requests to the TLS listener port, keeping path and query; 308 keeps a push a push', async () => {
    const app = appWith({ site: { httpsRedirect: true } });
    const get = await fetchFrom(app, 'http://idocker.io:80/v2/a/b/tags/list?n=1');
    expect([get.status, get.headers.get('location')]).toEqual([301, 'https://idocker.io:8443/v2/a/b/tags/list?n=1']);
    const post = await fetchFrom(app, 'http://idocker.io/v2/a/blobs/uploads/', 'POST');
    expect([post.status, post.headers.get('location')]).toEqual([308, 'https://idocker.io:8443/v2/a/blobs/uploads/']);
    expect((await fetchFrom(app, 'https://idocker.io:8443/v2/')).headers.get('x-proxied')).toBe('yes');
    // How a client comes to trust the TLS port stays reachable over plain HTTP.
    expect((await fetchFrom(app, 'http://idocker.io/download/scripts/docker-init.sh')).status).toBe(200);
    expect((await fetchFrom(app, 'http://idocker.io/download/ca.crt')).status).toBe(200);
    // Other sites are not affected.
    expect((await fetchFrom(app, 'http://repo.example.com/')).headers.get('x-proxied')).toBe('yes');
  });
  it('names the public port when given one (443 is left out)', async () => {
    const app = appWith({ site: { httpsRedirect: 443 } });
    expect((await fetchFrom(app, 'http://idocker.io/v2/')).headers.get('location')).toBe('https://idocker.io/v2/');
  });
});
