/**
 * The RubyGems format's parts (src/formats/rubygems.ts), each where a site meets it: routing (push and
 * yank to hosted, `//api/v1/…` too; everything else to the group), the error format gem prints, the
 * health check, `route`'s wording and import-nginx's recognition. The real clients run in
 * test/e2e/rubygems.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { explainRoute } from '../../src/cli/route.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { errorResponse } from '../../src/errors.ts';
import { FORMATS } from '../../src/formats/index.ts';
import { importNginx } from '../../src/import/nginx.ts';
import { compileSite } from '../../src/site/site.ts';
import { healthSettings } from '../../src/upstream/health.ts';

const UPSTREAMS = { read: 'http://nexus:8081/repository/rubygems-group/', write: 'http://nexus:8081/repository/rubygems-hosted/' };
const gemConfig = (site: Record<string, unknown> = {}) =>
  parseConfig({ sites: [{ name: 'gems', hosts: ['gems.example.com'], preset: 'rubygems', upstreams: UPSTREAMS, ...site }], accessLog: false } as ConfigInput);

describe('rubygems', () => {
  it('routes gem push and gem yank to write (with a doubled leading slash too), everything else to read', () => {
    const site = compileSite(gemConfig().sites[0]!);
    const route = (line: string) => {
      const [method, target] = line.split(' ') as [string, string];
      const url = new URL(target, 'http://gems.example.com');
      // new URL() would read `//api/…` as a host: the path is taken as the request line has it.
      const path = target.split('?')[0]!;
      return `${line} ${site.route(method, path, url.searchParams)}`;
    };
    expect(
      [
        'POST /api/v1/gems',
        'POST //api/v1/gems',
        'DELETE /api/v1/gems/yank',
        'DELETE //api/v1/gems/yank',
        'HEAD /',
        'GET /specs.4.8.gz',
        'GET /latest_specs.4.8.gz',
        'GET /prerelease_specs.4.8.gz',
        'GET /quick/Marshal.4.8/rr-hello-1.0.0.gemspec.rz',
        'GET /gems/rr-hello-1.0.0.gem',
        'GET /versions',
        'GET /info/rr-hello',
        'GET /api/v1/dependencies?gems=rr-hello,rr-dep',
        // gem signin asks for a key; Nexus has none (it takes Basic credentials as the key): the group answers.
        'GET /api/v1/api_key',
        // Not push or yank: a POST elsewhere, or a DELETE of another path, is no write gem sends.
        'POST /api/v1/gems/rr-hello/owners',
        'DELETE /api/v1/gems',
        'GET /api/v1/gems',
      ].map(route),
    ).toEqual([
      'POST /api/v1/gems write',
      'POST //api/v1/gems write',
      'DELETE /api/v1/gems/yank write',
      'DELETE //api/v1/gems/yank write',
      'HEAD / read',
      'GET /specs.4.8.gz read',
      'GET /latest_specs.4.8.gz read',
      'GET /prerelease_specs.4.8.gz read',
      'GET /quick/Marshal.4.8/rr-hello-1.0.0.gemspec.rz read',
      'GET /gems/rr-hello-1.0.0.gem read',
      'GET /versions read',
      'GET /info/rr-hello read',
      'GET /api/v1/dependencies?gems=rr-hello,rr-dep read',
      'GET /api/v1/api_key read',
      'POST /api/v1/gems/rr-hello/owners read',
      'DELETE /api/v1/gems read',
      'GET /api/v1/gems read',
    ]);
  });

  it('writes its errors as one line of plain text, which gem push and gem yank print as they are', async () => {
    const site = compileSite(gemConfig().sites[0]!);
    expect(site.errorFormat).toBe('text');
    const response = errorResponse(site.errorFormat, 502, 'UNAVAILABLE', 'write upstream of site gems: connection refused');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await response.text()).toBe('write upstream of site gems: connection refused\n');
  });

  it('checks health at the repository root, where 200 (Nexus\'s "browsing is not supported" page) and 401 are a live repository', () => {
    const health = healthSettings(gemConfig().sites[0]!.health, FORMATS.rubygems);
    expect(health.path).toBe('/');
    expect([200, 401, 302, 404, 500, 502].map((s) => health.healthy(s))).toEqual([true, true, false, false, false, false]);
    expect([200, 401, 302, 404, 500, 502].map((s) => health.passes(s))).toEqual([true, true, false, false, false, false]);
    expect(health.healthyText).toBe('200 or 401');
  });

  it('route: the role in RubyGems terms, the rule from src/formats/rubygems.ts, the upstream URL as the client sent the path', () => {
    const config = gemConfig();
    const explain = (method: string, path: string) => Object.fromEntries(explainRoute(config, method, new URL(`http://gems.example.com${path}`)));
    expect(explain('GET', '/specs.4.8.gz').role).toBe('read: the RubyGems group repository: gem install, bundle install, indexes and .gem files');
    const push = explain('POST', '/api/v1/gems');
    expect(push.role).toBe('write: the RubyGems hosted repository: gem push and gem yank');
    expect(push.rule).toBe('preset rubygems, rule #0 (src/formats/rubygems.ts): {"methods":["POST"],"path":"/api/v1/gems","to":"write"}');
    expect(push.upstream).toBe('http://nexus:8081/repository/rubygems-hosted/api/v1/gems');
    // `gem push --host https://gems.example.com/` (RubyGems 3.3): forwarded as sent.
    const doubled = explain('POST', '//api/v1/gems');
    expect(doubled.rule).toBe('preset rubygems, rule #1 (src/formats/rubygems.ts): {"methods":["POST"],"path":"//api/v1/gems","to":"write"}');
    expect(doubled.upstream).toBe('http://nexus:8081/repository/rubygems-hosted//api/v1/gems');
    expect(explain('DELETE', '//api/v1/gems/yank').rule).toMatch(/^preset rubygems, rule #3 /);
  });
});

describe('import-nginx recognises a RubyGems split', () => {
  const conf = (group: string, hosted: string) => `
    server {
      listen 80; server_name gems.example.com;
      location / {
        resolver 127.0.0.53;
        set $repo "${hosted}";
        if ($request_method ~ ^(GET|HEAD)$) { set $repo "${group}"; }
        proxy_pass http://nexus:8081/repository/$repo$request_uri;
      }
    }`;

  it.each([
    ['rubygems-group', 'rubygems-hosted'],
    ['gems-group', 'gems-hosted'],
  ])('%s + %s becomes "preset": "rubygems", with what changes', (group, hosted) => {
    const result = importNginx(conf(group, hosted), 'nginx.conf');
    expect(result.untranslated).toEqual([]);
    expect(result.config.sites[0]).toMatchObject({
      hosts: ['gems.example.com'],
      preset: 'rubygems',
      upstreams: { read: `http://nexus:8081/repository/${group}/`, write: `http://nexus:8081/repository/${hosted}/` },
    });
    expect(result.changed).toContainEqual(
      expect.stringMatching(
        /^gems\.example\.com proxies Nexus RubyGems repositories: "preset": "rubygems" \(README, "The RubyGems preset"\): only gem push \(POST /,
      ),
    );
    expect(() => parseConfig(result.config)).not.toThrow();
  });
});
