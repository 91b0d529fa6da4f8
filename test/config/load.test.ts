import { describe, expect, it } from 'vitest';
import { configFromArgs } from '../../src/config/cli.ts';
import { ConfigError, loadDefaultConfig, parseConfig } from '../../src/config/load.ts';
import { parseSize } from '../../src/config/size.ts';

const site = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } };

describe('config', () => {
  it('default config is the original set-up', () => {
    const config = loadDefaultConfig();
    expect(config.sites.map((s) => s.name)).toEqual(['docker', 'web']);
    expect(config.sites[1]!.maxBodySize).toBe(512 * 1024 ** 2);
    expect(config.timeouts.idle).toBe(3600);
  });
  it('names the bad field and says what is wrong', () => {
    const bad = { sites: [{ ...site, upstreams: { read: 'nexus:8082', write: 'http://h:8083' } }] };
    expect(() => parseConfig(bad)).toThrow(ConfigError);
    expect(() => parseConfig(bad)).toThrow(/sites\[0\]\.upstreams\.read: must be an absolute http\(s\) URL/);
    // The value echoed, and the fix when only the scheme is missing.
    expect(() => parseConfig(bad)).toThrow('got "nexus:8082" (add the scheme: "http://nexus:8082")');
    const query = { sites: [{ ...site, upstreams: { read: 'http://h:8082/?x=1', write: 'http://h:8083' } }] };
    expect(() => parseConfig(query)).toThrow(/got "http:\/\/h:8082\/\?x=1"$/m);
    expect(() => parseConfig({ sites: [{ ...site, maxBodySize: '12 parsecs' }] })).toThrow(/sites\[0\]\.maxBodySize/);
    expect(() => parseConfig({ sites: [{ ...site, upstream: 'http://x' }] })).toThrow(/exactly one of/);
    expect(() => parseConfig({ sites: [{ ...site, typo: 1 }] })).toThrow(/typo/);
    expect(() => parseConfig({ sites: [] })).toThrow(/sites: must list at least one site/);
  });
  it('parses sizes as nginx writes them', () => {
    expect(parseSize('512m')).toBe(536870912);
    expect(parseSize('1G')).toBe(1073741824);
    expect(parseSize(0)).toBe(0);
    expect(parseSize('ten')).toBeUndefined();
  });
  it('reads --config or REGISTRY_ROUTER_CONFIG, and PORT overrides', () => {
    const files: Record<string, string> = { 'a.json': JSON.stringify({ sites: [site], listen: { port: 1 } }) };
    const read = (path: string) =>
      files[path] ??
      (() => {
        throw new Error('ENOENT');
      })();
    const fromFlag = configFromArgs(['--config', 'a.json'], () => undefined, read);
    expect(fromFlag.config.listen[0]!.port).toBe(1);
    const fromEnv = configFromArgs([], (n) => ({ REGISTRY_ROUTER_CONFIG: 'a.json', PORT: '9' })[n], read);
    expect(fromEnv.config.listen[0]!.port).toBe(9);
    expect(() => configFromArgs(['--config', 'missing.json'], () => undefined, read)).toThrow(/cannot read config file missing.json/);
    expect(() => configFromArgs([], (n) => (n === 'PORT' ? 'x' : undefined), read)).toThrow(/PORT must be/);
    expect(configFromArgs(['--quiet'], () => undefined, read).config.accessLog).toBe(false);
  });
});
