import { describe, expect, it } from 'vitest';
import { nearest, levenshtein } from '../../src/config/issues.ts';
import { ConfigError, parseConfig, parseConfigText } from '../../src/config/load.ts';
import { configWarnings } from '../../src/config/warnings.ts';

const site = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } };

const problems = (run: () => unknown): readonly string[] => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('no ConfigError');
};

describe('config problems an operator can act on', () => {
  it('did you mean: the nearest known key, only when it is close', () => {
    expect(levenshtein('upsteams', 'upstreams')).toBe(1);
    expect(levenshtein('heatlh', 'health')).toBe(1);
    expect(nearest('upsteams', ['upstream', 'upstreams', 'rules'])).toBe('upstreams');
    expect(nearest('maxBody', ['maxBodySize', 'hosts'])).toBeUndefined();
    expect(problems(() => parseConfig({ sites: [{ ...site, presets: 'docker', heatlh: {} }], acessLog: false }))).toEqual([
      'sites[0].presets: unknown key (did you mean "preset"?)',
      'sites[0].heatlh: unknown key (did you mean "health"?)',
      'acessLog: unknown key (did you mean "accessLog"?)',
    ]);
    // Nothing close: the keys known there.
    expect(problems(() => parseConfig({ sites: [site], admin: { address: 'x' } }))).toEqual(['admin.address: unknown key (known here: host, port)']);
  });

  it('union fields say what they take, or the problem inside the form that was meant', () => {
    expect(problems(() => parseConfig({ sites: [{ ...site, maxBodySize: [] }] }))).toEqual(['sites[0].maxBodySize: must be 0 (no cap), a byte count or a size like "512m"']);
    expect(problems(() => parseConfig({ sites: [{ ...site, upstreams: { read: 8082, write: 'http://h:8083' } }] }))).toEqual([
      'sites[0].upstreams.read: must be a URL ("http://nexus:8082") or a pool { "servers": [URL, …], "backup": [URL, …] }',
    ]);
    expect(problems(() => parseConfig({ sites: [site], listen: [{ port: 'x' }] }))).toEqual(['listen[0].port: expected a number, got a string']);
  });

  it('JSONC: comments and trailing commas; a syntax error by line and column, with the line', () => {
    const config = parseConfigText('{\n  // hi\n  "sites": [ /* one */ { "name": "docker", "hosts": ["idocker.io"], "upstream": "http://n:8081", }, ],\n}\n');
    expect(config.sites[0]!.name).toBe('docker');
    expect(problems(() => parseConfigText('{\n  "sites": [\n    { "name": "x",, }\n  ]\n}', 'r.json'))).toEqual([
      '  r.json:3:19: a property name in double quotes was expected\n    3 |     { "name": "x",, }\n                          ^',
    ]);
    expect(problems(() => parseConfigText('{ "sites": [', 'r.json'))[0]).toMatch(/^ {2}r\.json:1:13: a closing "]" was expected \(at the end of the file\)/);
  });

  it('warns about an upstream URL ending in /v2/, in pools too', () => {
    const config = parseConfig({ sites: [{ ...site, upstreams: { read: { servers: ['http://a:8082/v2'], backup: ['http://b:8082/repository/x/'] }, write: 'http://h:8083/v2/' } }] });
    expect(configWarnings(config).map((w) => w.split(':')[0])).toEqual(['sites[0].upstreams.read.servers[0]', 'sites[0].upstreams.write']);
  });
});
