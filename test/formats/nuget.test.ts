/**
 * The NuGet format's parts (src/formats/nuget.ts), each where a site meets it: routing (push and delete to
 * hosted, `/api/v2/package` taken off; everything else to the group), the URL mapping of V2 Atom and V3 JSON
 * answers and the push resource added to a service index, the error format nuget prints (the reason phrase),
 * the health check, `route`'s wording, `stripPrefix` in the config, and import-nginx's recognition. The real
 * client runs in test/e2e/nuget.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainRoute } from '../../src/cli/route.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { configWarnings } from '../../src/config/warnings.ts';
import { errorResponse } from '../../src/errors.ts';
import type { UpstreamResponse } from '../../src/exchange.ts';
import { FORMATS } from '../../src/formats/index.ts';
import { reasonPhraseOf } from '../../src/forward/reason-phrase.ts';
import { importNginx } from '../../src/import/nginx.ts';
import { mapBodyUrls } from '../../src/passes/body-urls.ts';
import { buildOutgoing } from '../../src/passes/outgoing.ts';
import { compileSite } from '../../src/site/site.ts';
import { healthSettings } from '../../src/upstream/health.ts';
import { makeExchange } from '../support/exchange.ts';

const UPSTREAMS = { read: 'http://nexus:8081/repository/nuget-group/', write: 'http://nexus:8081/repository/nuget-hosted/' };
const SITE = { preset: 'nuget', upstreams: UPSTREAMS } as const;
const nugetConfig = (site: Record<string, unknown> = {}) =>
  parseConfig({ sites: [{ name: 'nuget', hosts: ['nuget.example.com'], ...SITE, ...site }], accessLog: false } as ConfigInput);

function answer(body: string, type: string): UpstreamResponse {
  const bytes = new TextEncoder().encode(body);
  return { status: 200, headers: new Headers({ 'content-type': type, 'content-length': String(bytes.byteLength) }), body: new Response(bytes).body };
}

/** The answer to GET `path` on the public name, as the body pass leaves it. */
async function mapped(path: string, body: string, type: string): Promise<string> {
  const exchange = makeExchange(`https://nuget.example.com${path}`, { site: SITE });
  const response = answer(body, type);
  await mapBodyUrls(exchange, response);
  return new Response(response.body as BodyInit).text();
}

describe('nuget', () => {
  it('routes push and delete to hosted (the /api/v2/package prefix taken off), everything else to the group', () => {
    const config = nugetConfig();
    const upstream = (line: string) => {
      const [method, path] = line.split(' ') as [string, string];
      return `${line} → ${Object.fromEntries(explainRoute(config, method, new URL(`https://nuget.example.com${path}`))).upstream}`;
    };
    const hosted = 'http://nexus:8081/repository/nuget-hosted';
    const group = 'http://nexus:8081/repository/nuget-group';
    expect(
      [
        'PUT /api/v2/package/',
        'PUT /api/v2/package',
        'DELETE /api/v2/package/RrHello/1.0.0',
        'PUT /',
        'DELETE /RrHello/1.0.0',
        // Only whole segments are the prefix.
        'PUT /api/v2/packages/x',
        'GET /',
        "GET /Packages(Id='RrHello',Version='1.0.0')",
        "GET /FindPackagesById()?id='RrHello'",
        'GET /RrHello/1.0.0',
        'GET /index.json',
        'GET /v3/content/rrhello/1.0.0/rrhello.1.0.0.nupkg',
        'HEAD /RrHello/1.0.0',
        'POST /',
      ].map(upstream),
    ).toEqual([
      `PUT /api/v2/package/ → ${hosted}/`,
      `PUT /api/v2/package → ${hosted}/`,
      `DELETE /api/v2/package/RrHello/1.0.0 → ${hosted}/RrHello/1.0.0`,
      `PUT / → ${hosted}/`,
      `DELETE /RrHello/1.0.0 → ${hosted}/RrHello/1.0.0`,
      `PUT /api/v2/packages/x → ${hosted}/api/v2/packages/x`,
      `GET / → ${group}/`,
      `GET /Packages(Id='RrHello',Version='1.0.0') → ${group}/Packages(Id='RrHello',Version='1.0.0')`,
      `GET /FindPackagesById()?id='RrHello' → ${group}/FindPackagesById()?id=%27RrHello%27`,
      `GET /RrHello/1.0.0 → ${group}/RrHello/1.0.0`,
      `GET /index.json → ${group}/index.json`,
      `GET /v3/content/rrhello/1.0.0/rrhello.1.0.0.nupkg → ${group}/v3/content/rrhello/1.0.0/rrhello.1.0.0.nupkg`,
      `HEAD /RrHello/1.0.0 → ${group}/RrHello/1.0.0`,
      `POST / → ${group}/`,
    ]);
    // The request the push sends upstream, with the client's query.
    const exchange = makeExchange('https://nuget.example.com/api/v2/package/?x=1', { site: SITE, method: 'PUT' });
    expect(buildOutgoing(exchange).url).toBe(`${hosted}/?x=1`);
    // Feeds are mapped; package files are not read whole.
    expect(makeExchange('https://nuget.example.com/Search()', { site: SITE }).mapUrls).toBe(true);
    expect(makeExchange('https://nuget.example.com/RrHello/1.0.0', { site: SITE }).mapUrls).toBe(false);
    expect(makeExchange('https://nuget.example.com/v3/content/rrhello/1.0.0/rrhello.1.0.0.nupkg', { site: SITE }).mapUrls).toBe(false);
  });

  it('maps V2 Atom URLs under an upstream (xml:base, <id>, src, href) and keeps queries, entities and other hosts as written', async () => {
    const internal = 'http://nexus:8081/repository/nuget-group/';
    const feed =
      `<feed xml:base="${internal}" xmlns="http://www.w3.org/2005/Atom"><id>${internal}Search()</id>` +
      `<entry><id>${internal}Packages(Id=&apos;A&apos;,Version=&apos;1.0.0&apos;)</id>` +
      `<link rel="edit" href="Packages(Id=&apos;A&apos;,Version=&apos;1.0.0&apos;)" />` +
      `<content type="application/zip" src="${internal}A/1.0.0" /><d:ProjectUrl>https://github.com/a/a</d:ProjectUrl></entry>` +
      `<link rel="next" href="${internal}Search()?searchTerm=&apos;a&apos;&amp;$skip=30" />` +
      `<link rel="alternate" href="http://nexus:8081/repository/other-repo/x" /></feed>`;
    expect(await mapped('/Search()', feed, 'application/atom+xml;charset=utf-8')).toBe(
      '<feed xml:base="https://nuget.example.com/" xmlns="http://www.w3.org/2005/Atom"><id>https://nuget.example.com/Search()</id>' +
        '<entry><id>https://nuget.example.com/Packages(Id=&apos;A&apos;,Version=&apos;1.0.0&apos;)</id>' +
        '<link rel="edit" href="Packages(Id=&apos;A&apos;,Version=&apos;1.0.0&apos;)" />' +
        '<content type="application/zip" src="https://nuget.example.com/A/1.0.0" /><d:ProjectUrl>https://github.com/a/a</d:ProjectUrl></entry>' +
        '<link rel="next" href="https://nuget.example.com/Search()?searchTerm=&apos;a&apos;&amp;$skip=30" />' +
        '<link rel="alternate" href="http://nexus:8081/repository/other-repo/x" /></feed>',
    );
  });

  it('maps V3 @ids with their templates and fragments kept, and adds a PackagePublish to a service index that has none', async () => {
    const internal = 'http://nexus:8081/repository/nuget-group/';
    const index = JSON.stringify({
      version: '3.0.0',
      resources: [
        { '@id': `${internal}v3/content/`, '@type': 'PackageBaseAddress/3.0.0' },
        { '@id': `${internal}v3/registration/{id-lower}/index.json`, '@type': 'PackageDisplayMetadataUriTemplate/3.0.0-rc' },
        { '@id': 'https://api.nuget.org/v3/catalog0/index.json', '@type': 'Catalog/3.0.0' },
      ],
    });
    const out = JSON.parse(await mapped('/index.json', index, 'application/json'));
    expect(out.resources).toEqual([
      {
        '@id': 'https://nuget.example.com/api/v2/package/',
        '@type': 'PackagePublish/2.0.0',
        comment: 'Push URL of the hosted repository, added by registry-router',
      },
      { '@id': 'https://nuget.example.com/v3/content/', '@type': 'PackageBaseAddress/3.0.0' },
      { '@id': 'https://nuget.example.com/v3/registration/{id-lower}/index.json', '@type': 'PackageDisplayMetadataUriTemplate/3.0.0-rc' },
      { '@id': 'https://api.nuget.org/v3/catalog0/index.json', '@type': 'Catalog/3.0.0' },
    ]);
    // One that has a push resource keeps it (mapped), and gets no second one; so does an empty list get exactly one.
    const withPush = JSON.stringify({
      version: '3.0.0',
      resources: [{ '@id': 'http://nexus:8081/repository/nuget-hosted/', '@type': 'PackagePublish/2.0.0' }],
    });
    expect(JSON.parse(await mapped('/index.json', withPush, 'application/json')).resources).toEqual([
      { '@id': 'https://nuget.example.com/', '@type': 'PackagePublish/2.0.0' },
    ]);
    const empty = await mapped('/index.json', '{"version":"3.0.0","resources":[]}', 'application/json');
    expect(JSON.parse(empty).resources.map((r: { '@type': string }) => r['@type'])).toEqual(['PackagePublish/2.0.0']);
    // A registration page's fragment stays; JSON that is no service index is not amended.
    const page = JSON.stringify({ '@id': `${internal}v3/registration/a/index.json#page/1.0.0/1.0.0`, resources: 'not a list' });
    expect(JSON.parse(await mapped('/v3/registration/a/index.json', page, 'application/json'))).toEqual({
      '@id': 'https://nuget.example.com/v3/registration/a/index.json#page/1.0.0/1.0.0',
      resources: 'not a list',
    });
  });

  it('writes its errors as one line of text that is also the reason phrase, which is all nuget prints', async () => {
    const site = compileSite(nugetConfig().sites[0]!);
    expect(site.errorFormat).toBe('phrase');
    const response = errorResponse(site.errorFormat, 502, 'UNAVAILABLE', 'write upstream of site nuget: connection refused');
    expect(response.statusText).toBe('write upstream of site nuget: connection refused');
    expect(reasonPhraseOf(response)).toBe('write upstream of site nuget: connection refused');
    expect(await response.text()).toBe('write upstream of site nuget: connection refused\n');
    // Only visible ASCII in a status line.
    expect(errorResponse('phrase', 400, 'DENIED', 'bad\r\nline — here').statusText).toBe('bad line here');
    // Bun.serve writes the standard phrase: the Node entry on Bun serves a NuGet site through node:http.
    expect(FORMATS.nuget.showsReasonPhrase).toBe(true);
  });

  it('checks health at the repository root (the V2 service document), where 200 and 401 are a live repository', () => {
    const health = healthSettings(nugetConfig().sites[0]!.health, FORMATS.nuget);
    expect(health.path).toBe('/');
    expect([200, 401, 404, 500, 502].map((s) => health.healthy(s))).toEqual([true, true, false, false, false]);
    expect(health.healthyText).toBe('200 or 401');
  });

  it('route: the role in NuGet terms, the prefix taken off, the mapping and the push resource named', () => {
    const config = nugetConfig();
    const explain = (method: string, path: string) => Object.fromEntries(explainRoute(config, method, new URL(`https://nuget.example.com${path}`)));
    const push = explain('PUT', '/api/v2/package/');
    expect(push.role).toBe('write: the NuGet hosted repository: nuget push (PUT) and nuget delete (DELETE)');
    expect(push.rule).toBe(
      'preset nuget, rule #1 (src/formats/nuget.ts): ' +
        '{"methods":["PUT","DELETE"],"path":"/api/v2/package/**","to":"write","stripPrefix":"/api/v2/package"}',
    );
    expect(push.path).toBe('/api/v2/package is taken off: the upstream gets /');
    expect(push.upstream).toBe('http://nexus:8081/repository/nuget-hosted/');
    const lines = explainRoute(config, 'GET', new URL('https://nuget.example.com/index.json'));
    expect(lines.filter(([label]) => label === 'answer').map(([, text]) => text)).toEqual([
      'URLs in the XML or JSON answer that point into an upstream are mapped to the public name',
      'a V3 service index (index.json) without a PackagePublish resource gets one naming this router (/api/v2/package/)',
    ]);
    expect(Object.fromEntries(lines).role).toBe('read: the NuGet group repository: feeds (V2 and V3), search and package downloads');
  });

  it('a rule\'s stripPrefix must start with "/" and not end with one', () => {
    const rules = (stripPrefix: string) => nugetConfig({ rules: [{ methods: ['PUT'], path: '/upload/**', to: 'write', stripPrefix }] });
    expect(() => rules('/api/v2/package/')).toThrow(/sites\[0\]\.rules\[0\]\.stripPrefix: must start with "\/" and not end with one/);
    expect(() => rules('api')).toThrow(/stripPrefix: must start with "\/"/);
    const site = rules('/upload');
    expect(Object.fromEntries(explainRoute(site, 'PUT', new URL('https://nuget.example.com/upload/a/b'))).upstream).toBe(
      'http://nexus:8081/repository/nuget-hosted/a/b',
    );
  });
});

describe('import-nginx recognises a NuGet split', () => {
  it('nuget-group + nuget-hosted (and the /api/v2/package push location) become "preset": "nuget", with what changes', () => {
    const conf = `
      server {
        listen 80; server_name nuget.example.com;
        client_max_body_size 200m;
        location /api/v2/package { proxy_pass http://nexus:8081/repository/nuget-hosted/; }
        location / {
          resolver 127.0.0.53;
          set $repo "nuget-hosted";
          if ($request_method ~ ^(GET|HEAD)$) { set $repo "nuget-group"; }
          proxy_pass http://nexus:8081/repository/$repo$request_uri;
        }
      }`;
    const result = importNginx(conf, 'nginx.conf');
    // The push location is what the preset does by itself: noted, not left untranslated.
    expect(result.untranslated).toEqual([]);
    expect(result.changed).toContainEqual(
      "location /api/v2/package → the nuget preset's own rule: /api/v2/package is taken off on the way to the write upstream's root (nginx.conf:5)",
    );
    expect(result.config.sites[0]).toMatchObject({
      hosts: ['nuget.example.com'],
      preset: 'nuget',
      upstreams: { read: 'http://nexus:8081/repository/nuget-group/', write: 'http://nexus:8081/repository/nuget-hosted/' },
    });
    expect(result.changed).toContainEqual(
      expect.stringMatching(
        /^nuget\.example\.com proxies Nexus NuGet repositories: "preset": "nuget" \(README, "The NuGet preset"\): PUT and DELETE go to hosted/,
      ),
    );
    expect(() => parseConfig(result.config)).not.toThrow();
    // What the imported site does with a push to the bare host: hosted's root, as nginx's location did.
    const upstream = Object.fromEntries(explainRoute(parseConfig(result.config), 'PUT', new URL('http://nuget.example.com/api/v2/package/'))).upstream;
    expect(upstream).toBe('http://nexus:8081/repository/nuget-hosted/');
  });
});

/** `nginx -t` on one http-level server block (exits non-zero, and execFileSync throws with nginx's [emerg] line, on anything nginx refuses). */
function nginxAccepts(server: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'nuget-nginx-t-'));
  try {
    const main = join(dir, 'nginx.conf');
    writeFileSync(main, `pid ${dir}/pid;\nevents {}\nhttp { access_log ${dir}/access.log; ${server} }\n`);
    execFileSync('nginx', ['-t', '-p', `${dir}/`, '-c', main, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('import-nginx: the push location beside / to the group (issue 22)', () => {
  const hostedUrl = 'http://127.0.0.1:8081/repository/nuget-hosted/';
  const groupUrl = 'http://127.0.0.1:8081/repository/nuget-group/';
  // The common set-up: / to the group, the V2 push URL of a bare-host source to hosted, in every form of location.
  const forms: Array<[string, string]> = [
    ['location /api/v2/package', `proxy_pass ${hostedUrl};`],
    ['location /api/v2/package/', `proxy_pass ${hostedUrl};`],
    ['location ^~ /api/v2/package', `proxy_pass ${hostedUrl};`],
    ['location = /api/v2/package', `proxy_pass ${hostedUrl};`],
    // nginx refuses a URI in proxy_pass of a regex location unless it names variables: a capture, or a rewrite.
    ['location ~ ^/api/v2/package/?(.*)$', `proxy_pass ${hostedUrl}$1$is_args$args;`],
    ['location ~* ^/api/v2/package(/.*)?$', 'proxy_pass http://127.0.0.1:8081/repository/nuget-hosted$1;'],
    ['location ~ ^/api/v2/package', 'rewrite ^/api/v2/package/?(.*)$ /repository/nuget-hosted/$1 break; proxy_pass http://127.0.0.1:8081;'],
    ['location /api/v2/package', 'proxy_pass http://nexus/repository/nuget-hosted/;'],
  ];
  const serverOf = (location: string, body: string) =>
    'upstream nexus { server 127.0.0.1:8081; }\n' +
    'server { listen 127.0.0.1:8099; server_name nuget.example.com;\n' +
    `  location / { proxy_pass ${groupUrl}; }\n  ${location} { ${body} } }`;

  it.each(forms)('%s { %s } → read = group, write = hosted, the nuget preset', (location, body) => {
    const server = serverOf(location, body);
    nginxAccepts(server);
    const result = importNginx(server, 'nginx.conf');
    const hosted = body.includes('//nexus/') ? 'http://127.0.0.1:8081/repository/nuget-hosted/' : hostedUrl;
    expect(result.config.sites).toHaveLength(1);
    expect(result.config.sites[0]).toMatchObject({ preset: 'nuget', upstreams: { read: groupUrl, write: hosted } });
    expect(Object.keys(result.config.sites[0]!.upstreams!)).toEqual(['read', 'write']);
    expect(result.config.sites[0]!.rules).toBeUndefined();
    // Noted as the preset's own rule, not left untranslated.
    expect(result.untranslated).toEqual([]);
    expect(result.changed).toContainEqual(
      `${location} → the nuget preset's own rule: /api/v2/package is taken off on the way to the write upstream's root (nginx.conf:4)`,
    );
    const config = parseConfig(result.config);
    expect(configWarnings(config)).toEqual([]);
    const upstream = (method: string, path: string) => Object.fromEntries(explainRoute(config, method, new URL(`http://nuget.example.com${path}`))).upstream;
    expect(upstream('PUT', '/api/v2/package/')).toBe(hosted);
    expect(upstream('DELETE', '/api/v2/package/App/1.0.0')).toBe(`${hosted}App/1.0.0`);
    expect(upstream('GET', "/FindPackagesById()?id='App'")).toBe(`${groupUrl}FindPackagesById()?id=%27App%27`);
  });

  it('the same shape for RubyGems: / to the group, /api/v1/gems to hosted → read = group, write = hosted, the rubygems preset', () => {
    const server =
      'server { listen 127.0.0.1:8099; server_name gems.example.com;\n' +
      '  location / { proxy_pass http://127.0.0.1:8081/repository/rubygems-group/; }\n' +
      '  location /api/v1/gems { proxy_pass http://127.0.0.1:8081/repository/rubygems-hosted/api/v1/gems; } }';
    nginxAccepts(server);
    const result = importNginx(server, 'nginx.conf');
    expect(result.config.sites[0]).toMatchObject({
      preset: 'rubygems',
      upstreams: { read: 'http://127.0.0.1:8081/repository/rubygems-group/', write: 'http://127.0.0.1:8081/repository/rubygems-hosted/' },
    });
    expect(result.config.sites[0]!.rules).toBeUndefined();
    expect(result.untranslated).toEqual([]);
    const config = parseConfig(result.config);
    const upstream = (method: string, path: string) => Object.fromEntries(explainRoute(config, method, new URL(`http://gems.example.com${path}`))).upstream;
    expect(upstream('POST', '/api/v1/gems')).toBe('http://127.0.0.1:8081/repository/rubygems-hosted/api/v1/gems');
    expect(upstream('DELETE', '/api/v1/gems/yank')).toBe('http://127.0.0.1:8081/repository/rubygems-hosted/api/v1/gems/yank');
    expect(upstream('GET', '/specs.4.8.gz')).toBe('http://127.0.0.1:8081/repository/rubygems-group/specs.4.8.gz');
  });

  it('a wider location (~ ^/api/, /api/v2/) is no push location: a rule of its own, as before', () => {
    const wider: Array<[string, string, string, string]> = [
      ['location ~ ^/api/', 'proxy_pass http://127.0.0.1:8082;', '/api/**', 'http://127.0.0.1:8082'],
      ['location /api/v2/', 'proxy_pass http://127.0.0.1:8082/api/v2/;', '/api/v2/**', 'http://127.0.0.1:8082'],
    ];
    for (const [location, body, path, upstream] of wider) {
      const server = serverOf(location, body);
      nginxAccepts(server);
      const site = importNginx(server, 'nginx.conf').config.sites[0]!;
      expect(site.preset, location).toBe('nuget');
      expect(site.rules, location).toEqual([{ path, to: 'loc1' }]);
      expect(site.upstreams).toEqual({ read: groupUrl, write: groupUrl, loc1: upstream });
    }
  });

  it('only / to the group (no push location): check warns that pushes would go to the group', () => {
    const server = `server { listen 127.0.0.1:8099; server_name nuget.example.com; location / { proxy_pass ${groupUrl}; } }`;
    nginxAccepts(server);
    const config = parseConfig(importNginx(server, 'nginx.conf').config);
    expect(configWarnings(config)).toContainEqual(
      `sites[0].upstream names one Nexus repository (${groupUrl}) for reads and writes: every write of this nuget site ` +
        '(the NuGet hosted repository: nuget push (PUT) and nuget delete (DELETE)) goes to the upstream that serves reads, ' +
        `and Nexus refuses writes to a group repository; give "upstreams": { "read": the group, "write": the hosted repository, e.g. ${hostedUrl} }`,
    );
  });
});

describe('check warns when a read/write site writes where it reads', () => {
  const group = UPSTREAMS.read;
  it('upstreams.read = upstreams.write, on every preset but generic', () => {
    const warned = (preset: string, upstreams: Record<string, unknown>) =>
      configWarnings(parseConfig({ sites: [{ name: 's', hosts: ['s.example.com'], preset, upstreams }] } as ConfigInput));
    expect(warned('nuget', { read: group, write: group })).toEqual([
      `sites[0].upstreams.write is the same URL as sites[0].upstreams.read (${group}): every write of this nuget site ` +
        '(the NuGet hosted repository: nuget push (PUT) and nuget delete (DELETE)) goes to the upstream that serves reads, ' +
        'and Nexus refuses writes to a group repository; set "write" to the hosted repository, e.g. http://nexus:8081/repository/nuget-hosted/',
    ]);
    // A trailing slash or a one-server pool is the same upstream.
    expect(warned('docker', { read: 'http://nexus:5000', write: { servers: ['http://nexus:5000/'] } })).toEqual([
      'sites[0].upstreams.write is the same URL as sites[0].upstreams.read (http://nexus:5000): every write of this docker site ' +
        'goes to the upstream that serves reads, and Nexus refuses writes to a group repository; set "write" to the hosted repository',
    ]);
    // Credentials in the URL are not repeated.
    const secret = 'http://deployer:s3cret@nexus:8081/repository/npm-group/';
    const [npmWarning] = warned('npm', { read: secret, write: secret.replace(/\/$/, '') });
    expect(npmWarning).toMatch(
      /^sites\[0\]\.upstreams\.write is the same URL as sites\[0\]\.upstreams\.read \(http:\/\/nexus:8081\/repository\/npm-group\/\):/,
    );
    expect(npmWarning).toMatch(/e\.g\. http:\/\/nexus:8081\/repository\/npm-hosted\/$/);
    expect(npmWarning).not.toContain('s3cret');
    for (const preset of ['npm', 'maven', 'pypi', 'raw', 'yum', 'rubygems']) expect(warned(preset, { read: group, write: group })).toHaveLength(1);
    expect(warned('generic', { read: group, write: group })).toEqual([]);
    expect(warned('nuget', UPSTREAMS)).toEqual([]);
    // One upstream: only a Nexus repository path is warned about (a docker site may front one plain registry).
    expect(configWarnings(parseConfig({ sites: [{ name: 'd', hosts: ['d'], preset: 'docker', upstream: 'http://registry:5000' }] }))).toEqual([]);
  });
});

describe('route on a NuGet site', () => {
  const config = nugetConfig();
  const explain = (method: string, path: string) => explainRoute(config, method, new URL(`https://nuget.example.com${path}`));
  const answers = (method: string, path: string) =>
    explain(method, path)
      .filter(([label]) => label === 'answer')
      .map(([, text]) => text);

  it('names the added push resource only for a service index', () => {
    const amend = 'a V3 service index (index.json) without a PackagePublish resource gets one naming this router (/api/v2/package/)';
    expect(answers('GET', '/index.json')).toContain(amend);
    for (const path of ['/v3/registration/app/index.json', '/', "/FindPackagesById()?id='App'", '/Search()', '/$metadata']) {
      expect(answers('GET', path), path).toEqual(['URLs in the XML or JSON answer that point into an upstream are mapped to the public name']);
    }
  });

  it("GET /api/v2/package/<id>/<version> (nuget.org's download URL) reads Nexus's V2 download <id>/<version> from the group, as DELETE does hosted's", () => {
    const upstream = (method: string, path: string) => Object.fromEntries(explain(method, path)).upstream;
    expect(upstream('GET', '/api/v2/package/App/1.0.0')).toBe('http://nexus:8081/repository/nuget-group/App/1.0.0');
    expect(upstream('HEAD', '/api/v2/package/App/1.0.0')).toBe('http://nexus:8081/repository/nuget-group/App/1.0.0');
    expect(upstream('DELETE', '/api/v2/package/App/1.0.0')).toBe('http://nexus:8081/repository/nuget-hosted/App/1.0.0');
    // The download path the group's feed gives (content src) is the same upstream path.
    expect(upstream('GET', '/App/1.0.0')).toBe('http://nexus:8081/repository/nuget-group/App/1.0.0');
    expect(Object.fromEntries(explain('GET', '/api/v2/package/App/1.0.0')).path).toBe('/api/v2/package is taken off: the upstream gets /App/1.0.0');
  });
});
