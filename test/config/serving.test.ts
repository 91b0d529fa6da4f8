import { describe, expect, it } from 'vitest';
import { configFromArgs } from '../../src/config/cli.ts';
import { checkFeaturesFor, featureProblems } from '../../src/config/features.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { dirnameOf, resolveFrom } from '../../src/config/paths.ts';

const site = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstream: 'http://nexus:8081' };

describe('listen', () => {
  it('takes one object as before, and becomes an array', () => {
    expect(parseConfig({ sites: [site] }).listen).toEqual([{ host: '0.0.0.0', port: 8080, certs: [] }]);
    expect(parseConfig({ sites: [site], listen: { port: 80 } }).listen).toEqual([{ host: '0.0.0.0', port: 80, certs: [] }]);
  });
  it('takes several entries, plain and TLS; TLS defaults to 8443', () => {
    const config = parseConfig({ sites: [site], listen: [{ port: 80 }, { cert: 'c.crt', key: 'c.key' }] });
    expect(config.listen).toEqual([
      { host: '0.0.0.0', port: 80, certs: [] },
      { host: '0.0.0.0', port: 8443, certs: [{ cert: 'c.crt', key: 'c.key' }] },
    ]);
    const sni = parseConfig({
      sites: [site],
      listen: [
        {
          port: 443,
          certs: [
            { cert: 'a.crt', key: 'a.key' },
            { cert: 'b.crt', key: 'b.key' },
          ],
        },
      ],
    });
    expect(sni.listen[0]!.certs).toHaveLength(2);
  });
  it('names what is wrong with an entry', () => {
    expect(() => parseConfig({ sites: [site], listen: [{ port: 443, cert: 'c.crt' }] })).toThrow(
      /listen\[0\]\.key: a TLS listener needs both "cert" and "key"/,
    );
    expect(() => parseConfig({ sites: [site], listen: [{ cert: 'c', key: 'k', certs: [{ cert: 'c', key: 'k' }] }] })).toThrow(
      /either "cert"\/"key" or "certs"/,
    );
    expect(() => parseConfig({ sites: [site], listen: [{ port: 80 }, { port: 80 }] })).toThrow(/listen\[1\]\.port: 0\.0\.0\.0:80 is listed twice/);
    expect(() => parseConfig({ sites: [site], listen: [] })).toThrow(/listen/);
    expect(() => parseConfig({ sites: [site], listen: { port: 80, tls: true } })).toThrow(/tls/);
  });
  it('PORT overrides the first entry only', () => {
    const text = JSON.stringify({ sites: [site], listen: [{ port: 80 }, { port: 443, cert: 'c.crt', key: 'c.key' }] });
    const { config } = configFromArgs(
      ['--config', 'conf/router.json'],
      (name) => (name === 'PORT' ? '9000' : undefined),
      () => text,
    );
    expect(config.listen.map((entry) => entry.port)).toEqual([9000, 443]);
  });
  it('resolves file paths against the config file folder', () => {
    const text = JSON.stringify({
      sites: [{ ...site, static: [{ prefix: '/download/', dir: 'download' }] }],
      listen: [{ port: 443, cert: 'certs/docker.crt', key: '/etc/ssl/docker.key' }],
      caCert: 'certs/ca.crt',
    });
    const { config } = configFromArgs(
      ['--config', 'conf/router.json'],
      () => undefined,
      () => text,
    );
    expect(config.listen[0]!.certs).toEqual([{ cert: 'conf/certs/docker.crt', key: '/etc/ssl/docker.key' }]);
    expect(config.caCert).toBe('conf/certs/ca.crt');
    expect(config.sites[0]!.static).toEqual([{ prefix: '/download', dir: 'conf/download', listing: false }]);
    expect(dirnameOf('router.json')).toBe('.');
    expect(dirnameOf('/etc/router.json')).toBe('/etc');
    expect(dirnameOf('/router.json')).toBe('/');
    expect(resolveFrom('.', 'a')).toBe('a');
  });
});

describe('site serving options', () => {
  it('defaults: no static folders, no redirect, bootstrap unset', () => {
    const parsed = parseConfig({ sites: [site] }).sites[0]!;
    expect(parsed.static).toEqual([]);
    expect(parsed.httpsRedirect).toBe(false);
    expect(parsed.bootstrap).toBeUndefined();
  });
  it('refuses unsafe static prefixes and bootstrap paths', () => {
    expect(() => parseConfig({ sites: [{ ...site, static: [{ prefix: 'download', dir: 'd' }] }] })).toThrow(/sites\[0\]\.static\[0\]\.prefix/);
    expect(() => parseConfig({ sites: [{ ...site, static: [{ prefix: '/a/../b', dir: 'd' }] }] })).toThrow(/"\." or "\.\." segments/);
    expect(() => parseConfig({ sites: [{ ...site, bootstrap: { path: '/x?y' } }] })).toThrow(/bootstrap/);
    expect(parseConfig({ sites: [{ ...site, bootstrap: {} }] }).sites[0]!.bootstrap).toEqual({
      path: '/download/scripts/docker-init.sh',
      caPath: '/download/ca.crt',
    });
    expect(parseConfig({ sites: [{ ...site, httpsRedirect: 8443 }] }).sites[0]!.httpsRedirect).toBe(8443);
  });
});

describe('checkFeaturesFor', () => {
  const full = parseConfig({
    sites: [{ ...site, static: [{ prefix: '/download', dir: 'download' }] }],
    listen: [
      { port: 80 },
      {
        port: 443,
        certs: [
          { cert: 'a.crt', key: 'a.key' },
          { cert: 'b.crt', key: 'b.key' },
        ],
      },
    ],
    caCert: 'ca.crt',
  });
  it('node and bun (either entry: bun run src/node.ts serves through Bun.serve too) take everything', () => {
    expect(featureProblems('node', full)).toEqual([]);
    expect(featureProblems('bun', full)).toEqual([]);
    expect(featureProblems('bun-node', full)).toEqual([]);
  });
  it('deno serves one certificate per listener', () => {
    expect(featureProblems('deno', full)).toEqual([expect.stringMatching(/^listen\[1\]\.certs: deno serves one certificate per listener/)]);
  });
  it('the worker refuses TLS listeners, static folders and the CA, saying why', () => {
    expect(() => checkFeaturesFor('worker', full)).toThrow(ConfigError);
    const problems = featureProblems('worker', full);
    expect(problems).toEqual([
      expect.stringMatching(/^listen\[1\]: TLS listeners \(cert\/key\) are not supported on worker: the platform terminates TLS/),
      expect.stringMatching(/^caCert: worker has no file system/),
      expect.stringMatching(/^sites\[0\]\.static: worker has no file system/),
    ]);
    expect(featureProblems('worker', parseConfig({ sites: [site] }))).toEqual([]);
  });
});
