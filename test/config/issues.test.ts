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
    expect(problems(() => parseConfig({ sites: [{ ...site, maxBodySize: [] }] }))).toEqual([
      'sites[0].maxBodySize: must be 0 (no cap), a byte count, or a size with a unit k, m, g or t (1024-based; "kb"/"kib" alike, any case), ' +
        'e.g. "512m", "1.5g", "1GiB"',
    ]);
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

  it('an upstream URL ending in /v2/ is refused on a docker site, in every role and pool; a warning on other sites', () => {
    const upstreams = { read: { servers: ['http://a:8082/v2', 'http://c:8082/'], backup: ['http://b:8082/repository/x/v2/'] }, write: 'http://h:8083/v2/' };
    expect(problems(() => parseConfig({ sites: [{ ...site, upstreams }] })).map((line) => line.split(': ')[0])).toEqual([
      'sites[0].upstreams.read.servers[0]',
      'sites[0].upstreams.read.backup[0]',
      'sites[0].upstreams.write',
    ]);
    expect(problems(() => parseConfig({ sites: [{ ...site, upstreams: undefined, upstream: 'http://h:8083/v2/' }] }))).toEqual([
      'sites[0].upstream: "http://h:8083/v2/" ends in /v2/, but the router appends the client\'s whole path (/v2/<name>/…) to it: ' +
        'a push of team/app would go to …/v2/v2/team/app/… and land in a repository named "v2/team/app", which pulls of team/app never find; ' +
        'drop the /v2/: give the registry\'s root ("http://h:8083/") or Nexus\'s "/repository/<name>/"',
    ]);
    const generic = parseConfig({ sites: [{ ...site, preset: 'generic', upstreams }] });
    const fields = ['sites[0].upstreams.read.servers[0]', 'sites[0].upstreams.read.backup[0]', 'sites[0].upstreams.write'];
    expect(configWarnings(generic).map((w) => w.split(':')[0])).toEqual(fields);
  });
});
