/**
 * What issue 19 found passing that should not: misspelt roles, sites that shadow each other,
 * listeners on one socket, host names given as URLs, sizes people write, regex rule paths.
 */
import { describe, expect, it } from 'vitest';
import { configFromArgs } from '../../src/config/cli.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { parseSize } from '../../src/config/size.ts';
import { compileSite } from '../../src/site/site.ts';
import { configWarnings, globFor } from '../../src/config/warnings.ts';

const docker = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } };
const maven = {
  name: 'maven',
  hosts: ['maven.example.com'],
  preset: 'maven',
  upstreams: { read: 'http://n/repository/public/', write: 'http://n/repository/releases/' },
};

const problems = (run: () => unknown): readonly string[] => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('no ConfigError');
};

describe('roles', () => {
  it('a misspelt Maven "snapshot" is refused, with the role meant (it used to send SNAPSHOT deploys to releases)', () => {
    const site = { ...maven, upstreams: { ...maven.upstreams, snapshot: 'http://n/repository/snapshots/' } };
    expect(problems(() => parseConfig({ sites: [site] }))).toEqual([
      'sites[0].upstreams.snapshot: no rule routes to a role named "snapshot", so this upstream would never be used (did you mean "snapshots"?); ' +
        'the maven preset routes to "read", "write", "snapshots" (or add a rule with "to": "snapshot")',
    ]);
    // Spelt right, SNAPSHOT PUTs go to it.
    const right = compileSite(parseConfig({ sites: [{ ...maven, upstreams: { ...maven.upstreams, snapshots: 'http://n/repository/snapshots/' } }] }).sites[0]!);
    expect(right.route('PUT', '/com/x/a/1.0-SNAPSHOT/a-1.0-20240101.120000-1.jar', new URLSearchParams())).toBe('snapshots');
  });

  it("Nexus's words: group and hosted say which role they are, and read and write say they are missing", () => {
    expect(problems(() => parseConfig({ sites: [{ ...docker, upstreams: { group: 'http://g:8082', hosted: 'http://h:8083' } }] }))).toEqual([
      "sites[0].upstreams.read: missing: the group repository's URL (reads go there: pulls, installs, downloads), " +
        'e.g. "http://nexus:8081/repository/<group>/"',
      "sites[0].upstreams.write: missing: the hosted repository's URL (writes go there: pushes, publishes, deploys), " +
        'e.g. "http://nexus:8081/repository/<hosted>/"',
      expect.stringMatching(/^sites\[0\]\.upstreams\.group: no rule routes to a role named "group".*\(did you mean "read"\? the group repository is/),
      expect.stringMatching(/^sites\[0\]\.upstreams\.hosted: no rule routes to a role named "hosted".*\(did you mean "write"\? the hosted repository is/),
    ]);
    const aliases = { proxy: 'read', releases: 'write', release: 'write' };
    for (const [role, meant] of Object.entries(aliases)) {
      const site = { ...maven, upstreams: { ...maven.upstreams, [role]: 'http://x/' } };
      expect(problems(() => parseConfig({ sites: [site] }))[0]).toContain(`(did you mean "${meant}"?`);
    }
  });

  it("a role a rule of the site routes to, or the preset's optional one, is fine; one nothing routes to is not", () => {
    const routed = { ...docker, upstreams: { ...docker.upstreams, admin: 'http://a/' }, rules: [{ path: '/service/**', to: 'admin' }] };
    expect(() => parseConfig({ sites: [routed] })).not.toThrow();
    expect(() => parseConfig({ sites: [{ ...maven, upstreams: { ...maven.upstreams, snapshots: 'http://s/' } }] })).not.toThrow();
    // Maven's snapshots role means nothing to a docker site.
    expect(problems(() => parseConfig({ sites: [{ ...docker, upstreams: { ...docker.upstreams, snapshots: 'http://s/' } }] }))[0]).toMatch(
      /^sites\[0\]\.upstreams\.snapshots: no rule routes to a role named "snapshots".*the docker preset routes to "read", "write"/,
    );
  });
});

describe('sites', () => {
  const SHADOWED = 'the first site whose hosts match answers, so this site would never see it; keep it in one site only';
  it('two sites with one name, and a host an earlier site takes (exact, any case, or by its wildcard), are refused', () => {
    const sites = [
      { ...docker, hosts: ['idocker.io', '*.example.com'] },
      { ...docker, hosts: ['IDocker.io.', 'other.io'] },
      { ...docker, name: 'web', hosts: ['repo.example.com', 'example.com', 'idocker.io:5000', 'other.io:5000'] },
    ];
    expect(problems(() => parseConfig({ sites }))).toEqual([
      'sites[1].name: "docker" is also the name of sites[0]: give each site its own name (logs, metrics and the status page tell sites apart by it)',
      `sites[1].hosts[0]: "IDocker.io." is served by sites[0] ("docker") already (its "idocker.io"): ${SHADOWED}`,
      `sites[2].hosts[0]: "repo.example.com" is served by sites[0] ("docker") already (its "*.example.com"): ${SHADOWED}`,
      `sites[2].hosts[2]: "idocker.io:5000" is served by sites[0] ("docker") already (its "idocker.io"): ${SHADOWED}`,
      `sites[2].hosts[3]: "other.io:5000" is served by sites[1] ("docker") already (its "other.io"): ${SHADOWED}`,
    ]);
    // A name with a port first, the bare name after: the second still gets the other ports.
    expect(() =>
      parseConfig({
        sites: [
          { ...docker, hosts: ['idocker.io:5000'] },
          { ...docker, name: 'b', hosts: ['idocker.io'] },
        ],
      }),
    ).not.toThrow();
  });

  it('a host given as a URL: the value echoed, and what to drop', () => {
    const hosts = ['https://idocker.io/', 'http://idocker.io:5000', 'idocker.io/v2/', 'not a host'];
    expect(problems(() => parseConfig({ sites: [{ ...docker, hosts }] }))).toEqual([
      'sites[0].hosts[0]: must be a host name, "*.domain" or host:port, got "https://idocker.io/": drop the scheme and path: "idocker.io"',
      'sites[0].hosts[1]: must be a host name, "*.domain" or host:port, got "http://idocker.io:5000": drop the scheme: "idocker.io:5000"',
      'sites[0].hosts[2]: must be a host name, "*.domain" or host:port, got "idocker.io/v2/": drop the path: "idocker.io"',
      'sites[0].hosts[3]: must be a host name, "*.domain" or host:port (e.g. "idocker.io", "*.example.com", "idocker.io:5000"), got "not a host"',
    ]);
  });
});

describe('listeners', () => {
  it("the admin listener on a site listener's socket (same address, or a wildcard) is refused", () => {
    expect(problems(() => parseConfig({ sites: [docker], listen: { port: 8080 }, admin: { port: 8080 } }))).toEqual([
      'admin.port: admin (127.0.0.1:8080) and listen[0] (0.0.0.0:8080) overlap: 0.0.0.0 listens on port 8080 of every IPv4 address; ' +
        'the second to start would fail (EADDRINUSE): give one of them another port',
    ]);
    expect(problems(() => parseConfig({ sites: [docker], listen: { host: '127.0.0.1', port: 9000 }, admin: { port: 9000 } }))).toEqual([
      'admin.port: 127.0.0.1:9000 is listed twice (admin and listen[0]); the second to start would fail (EADDRINUSE): give one of them another port',
    ]);
    expect(
      problems(() =>
        parseConfig({
          sites: [docker],
          listen: [
            { host: '::', port: 80 },
            { host: '127.0.0.1', port: 80 },
          ],
        }),
      )[0],
    ).toMatch(/^listen\[1\]\.port: listen\[1\] \(127\.0\.0\.1:80\) and listen\[0\] \(\[::\]:80\) overlap: :: listens on port 80 of every address/);
    // Different addresses of one kind, or another port: fine.
    const twoAddresses = [
      { host: '127.0.0.1', port: 80 },
      { host: '127.0.0.2', port: 80 },
    ];
    expect(() => parseConfig({ sites: [docker], listen: twoAddresses, admin: { port: 9090 } })).not.toThrow();
    expect(() => parseConfig({ sites: [docker], listen: { host: '::1', port: 9090 }, admin: { host: '127.0.0.1', port: 9090 } })).not.toThrow();
  });

  it('PORT: a number or a clear error; a PORT that lands on the admin port is refused as the file would be', () => {
    const text = JSON.stringify({ sites: [docker], listen: [{ port: 8080 }, { host: '127.0.0.1', port: 8443 }], admin: { port: 9090 } });
    const start = (port: string) =>
      configFromArgs(
        ['--config', 'router.json'],
        (name) => (name === 'PORT' ? port : undefined),
        () => text,
      );
    expect(start('8081').config.listen[0]!.port).toBe(8081);
    expect(problems(() => start('abc'))).toEqual([
      'PORT must be a port number from 0 to 65535 (it replaces the port of listen[0]), got "abc": set a number, or unset PORT',
    ]);
    expect(problems(() => start('9090'))).toEqual([
      'admin.port: with PORT=9090, admin (127.0.0.1:9090) and listen[0] (0.0.0.0:9090) overlap: 0.0.0.0 listens on port 9090 of every IPv4 address; ' +
        'the second to start would fail (EADDRINUSE): give one of them another port',
    ]);
    // HOST moves the first listener onto the admin listener's address: refused as well.
    const onAdmin = () =>
      configFromArgs(
        ['--config', 'router.json'],
        (name) => ({ HOST: '127.0.0.1', PORT: '9090' })[name],
        () => text,
      );
    expect(problems(onAdmin)).toEqual([expect.stringMatching(/^admin\.port: with HOST=127\.0\.0\.1 PORT=9090, 127\.0\.0\.1:9090 is listed twice/)]);
    expect(problems(() => start('8443'))[0]).toMatch(/^listen\[0\]\.port: with PORT=8443, listen\[0\] \(0\.0\.0\.0:8443\) and listen\[1\] \(127\.0\.0\.1:/);
  });
});

describe('maxBodySize', () => {
  it('takes the forms people write, all 1024-based as nginx reads "m"', () => {
    const MiB = 1024 ** 2;
    const cases: Array<[string | number, number]> = [
      ['512m', 512 * MiB],
      ['512M', 512 * MiB],
      ['512MB', 512 * MiB],
      ['512 MB', 512 * MiB],
      ['512 MiB', 512 * MiB],
      ['1GiB', 1024 * MiB],
      ['1.5g', 1536 * MiB],
      ['1.5 GB', 1536 * MiB],
      ['2t', 2 * 1024 ** 4],
      ['100k', 102_400],
      ['100kb', 102_400],
      ['1.5k', 1536],
      ['4096', 4096],
      ['4096b', 4096],
      [0, 0],
      [1000, 1000],
    ];
    for (const [value, bytes] of cases) expect([value, parseSize(value)]).toEqual([value, bytes]);
    for (const value of ['ten', '1.5', '-1', '1x', '1 gigabyte', '', 'm', 1.5, -1]) expect([value, parseSize(value)]).toEqual([value, undefined]);
  });

  it('a size it cannot read: the accepted forms and the value echoed', () => {
    expect(problems(() => parseConfig({ sites: [{ ...docker, maxBodySize: '12 parsecs' }] }))).toEqual([
      'sites[0].maxBodySize: must be 0 (no cap), a byte count, or a size with a unit k, m, g or t (1024-based; "kb"/"kib" alike, any case), ' +
        'e.g. "512m", "1.5g", "1GiB"; got "12 parsecs"',
    ]);
  });
});

describe('rule paths', () => {
  it('a regex-looking path is a warning saying paths are globs, with the glob meant', () => {
    const rules = [
      { path: '/v2/.*', to: 'write' },
      { path: '/v2/[^/]+/manifests/.*$', to: 'read' },
      { path: '/v2/(a|b)/**', to: 'read' },
      { path: '/api/v\\d+/**', to: 'read' },
      { path: '/files/*.tar.*', to: 'read' },
      { path: '/v2/**/blobs/*', to: 'write' },
    ];
    const warnings = configWarnings(parseConfig({ sites: [{ ...docker, rules }] }));
    expect(warnings).toEqual([
      'sites[0].rules[0].path: "/v2/.*" looks like a regular expression, but rule paths are globs ' +
        '(* is one path segment, ** any run of characters, / included; everything else is literal), so this rule matches no request; as a glob: "/v2/**"',
      expect.stringMatching(/^sites\[0\]\.rules\[1\]\.path: .* as a glob: "\/v2\/\*\/manifests\/\*\*"$/),
      expect.stringMatching(/^sites\[0\]\.rules\[2\]\.path: .*matches no request; write it as a glob$/),
      expect.stringMatching(/^sites\[0\]\.rules\[3\]\.path: .* as a glob: "\/api\/v\*\/\*\*"$/),
    ]);
    // A leading "^" cannot even start a path.
    expect(problems(() => parseConfig({ sites: [{ ...docker, rules: [{ path: '^/v2/.*', to: 'read' }] }] }))).toEqual([
      'sites[0].rules[0].path: must start with "/", got "^/v2/.*": ' +
        'rule paths are globs, not regular expressions (no "^" or "$"; * is one path segment, ** any run)',
    ]);
    // The glob it suggests does what the regex meant.
    const site = compileSite(parseConfig({ sites: [{ ...docker, rules: [{ methods: ['GET'], path: globFor('/v2/.*')!, to: 'write' }] }] }).sites[0]!);
    expect(site.route('GET', '/v2/team/app/manifests/1', new URLSearchParams())).toBe('write');
  });
});
