import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, parseConfigText } from '../../src/config/load.ts';
import type { SiteConfig } from '../../src/config/schema.ts';
import { compileSite } from '../../src/site/site.ts';
import { importNginx, NginxSyntaxError, type NginxImport } from '../../src/import/nginx.ts';
import { parseNginx } from '../../src/import/nginx-syntax.ts';
import { nodeInclude } from '../../src/import/node-include.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixturePath = (name: string) => `test/import/fixtures/${name}`;
const fixtureText = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const importFixture = (name: string, include = true): NginxImport =>
  importNginx(fixtureText(name), fixturePath(name), include ? { include: nodeInclude(FIXTURES) } : {});

/** The 1-based line of the first line of `name` that contains `needle` (fixtures stay readable, tests stay exact). */
function lineOf(name: string, needle: string): number {
  const index = fixtureText(name)
    .split('\n')
    .findIndex((line) => line.includes(needle));
  if (index < 0) throw new Error(`${needle} not in ${name}`);
  return index + 1;
}

/** The untranslated entries of `result` as `file:line why-fragment`, for compact matching. */
const places = (result: NginxImport) => result.untranslated.map((u) => `${u.file}:${u.line}`);

// ── the routing table ────────────────────────────────────────────────────────

type Role = 'read' | 'write';
type Kind = 'ping' | 'manifest' | 'blob' | 'upload-start' | 'upload';
const PATHS: Record<Kind, string> = {
  ping: '/v2/',
  manifest: '/v2/team/app/manifests/1.0',
  blob: '/v2/team/app/blobs/sha256:4f1c',
  'upload-start': '/v2/team/app/blobs/uploads/',
  upload: '/v2/team/app/blobs/uploads/6a8c-41f2',
};
const TABLE_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'];

/**
 * What the router does on purpose where nginx's method split did otherwise (README, "The docker
 * preset" and the table at the top): manifest HEAD → the group; blob HEAD and everything under
 * /blobs/uploads/ → hosted; GET/HEAD /v2/ → the `ping` role (read by default).
 */
function documented(method: string, kind: Kind): Role | undefined {
  if (kind === 'upload' || kind === 'upload-start') return 'write';
  if (kind === 'blob' && method === 'HEAD') return 'write';
  if (kind === 'manifest' && method === 'HEAD') return 'read';
  if (kind === 'ping' && (method === 'GET' || method === 'HEAD')) return 'read';
  return undefined;
}

const getOnly = (method: string): Role => (method === 'GET' ? 'read' : 'write'); // `~* GET`
const getAndHead = (method: string): Role => (method === 'GET' || method === 'HEAD' ? 'read' : 'write'); // `^(GET|HEAD)$`, map

function checkRouting(site: SiteConfig, nginx: (method: string) => Role): { differs: string[] } {
  const compiled = compileSite(site);
  const differs: string[] = [];
  for (const kind of Object.keys(PATHS) as Kind[]) {
    for (const method of TABLE_METHODS) {
      const want = documented(method, kind) ?? nginx(method);
      const got = compiled.route(method, PATHS[kind], new URLSearchParams(kind === 'upload' && method === 'PUT' ? 'digest=sha256:4f1c' : ''));
      expect(`${method} ${PATHS[kind]} → ${got}`).toBe(`${method} ${PATHS[kind]} → ${want}`);
      if (want !== nginx(method)) differs.push(`${method} ${kind}`);
    }
  }
  return { differs };
}

// ── fixtures ─────────────────────────────────────────────────────────────────

describe('importNginx: every fixture', () => {
  it.each(['original.conf', 'tls-map.conf', 'path-based.conf', 'readme-recipe.conf'])('%s gives a config that parseConfig accepts, as JSON', (name) => {
    const { config, untranslated, changed } = importFixture(name);
    expect(() => parseConfig(config, name)).not.toThrow();
    // What the command line writes is JSON: it must survive the trip.
    expect(() => parseConfigText(JSON.stringify(config, null, 2), name)).not.toThrow();
    for (const item of untranslated) {
      expect(item.file).toMatch(/^test\/import\/fixtures\/.+\.conf$/);
      expect(item.line).toBeGreaterThan(0);
      expect(item.directive).not.toBe('');
      expect(item.why).not.toBe('');
    }
    expect(changed.length).toBeGreaterThan(0);
  });
});

/** nginx itself, where installed (.ci/run installs it): the fixtures are configurations nginx accepts. */
const hasTool = (tool: string, args: string[]) => {
  try {
    execFileSync(tool, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const NGINX = hasTool('nginx', ['-v']) && hasTool('openssl', ['version']);

describe('the fixtures are real nginx configurations (nginx -t)', () => {
  // .ci/run installs both: a machine without them fails here instead of skipping.
  it('has nginx and openssl to check with', () => {
    expect(NGINX, 'nginx and openssl must be installed (apt-get install nginx-light openssl)').toBe(true);
  });

  it.each(['original.conf', 'tls-map.conf', 'path-based.conf', 'readme-recipe.conf'])('%s', (name) => {
    const dir = mkdtempSync(join(tmpdir(), 'import-nginx-t-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=t'],
      { stdio: 'ignore' },
    );
    writeFileSync(join(dir, 'mime.types'), 'types { text/plain txt; }');
    writeFileSync(join(dir, 'proxy-headers.conf'), fixtureText('proxy-headers.conf'));
    // Upstream names must resolve and files must be writable for `nginx -t`: loopback and the temp folder.
    const text = fixtureText(name)
      .replace(/\b(nexus-a|nexus-b|nexus\.internal|nexus)(?=:\d)/g, '127.0.0.1')
      .replace(/\/etc\/(nginx\/ssl|ssl\/[\w.]+)\/[\w.]+\.(crt|pem)/g, (path) => join(dir, /key|privkey/.test(path) ? 'k.pem' : 'c.pem'))
      .replace(/\/etc\/(nginx\/ssl|ssl\/[\w.]+)\/[\w.]+\.key/g, join(dir, 'k.pem'))
      .replace(/\/var\/log\/nginx/g, dir)
      .replace(/\/run\/nginx\.pid/g, join(dir, 'pid'))
      .replace(/^user .*$/m, '');
    writeFileSync(join(dir, name), text);
    const main = text.includes('http {') ? name : 'main.conf';
    if (main === 'main.conf') writeFileSync(join(dir, main), `pid ${dir}/pid;\nevents {}\nhttp { access_log ${dir}/access.log; include ${dir}/${name}; }\n`);
    try {
      // Exits non-zero (and execFileSync throws, with nginx's [emerg] line) on anything nginx refuses.
      execFileSync('nginx', ['-t', '-p', `${dir}/`, '-c', join(dir, main), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the original set-up (original.conf)', () => {
  const result = importFixture('original.conf');

  it("translates to the README's HA config, with listeners, timeouts and the download folder", () => {
    expect(result.config).toEqual({
      listen: [
        { host: '0.0.0.0', port: 80 },
        { host: '0.0.0.0', port: 443, cert: '/etc/nginx/ssl/idocker.io.crt', key: '/etc/nginx/ssl/idocker.io.key' },
      ],
      sites: [
        {
          name: 'docker',
          hosts: ['idocker.io'],
          preset: 'docker',
          upstreams: {
            read: { servers: ['http://nexus-a:8082'], backup: ['http://nexus-b:8082'] },
            write: { servers: ['http://nexus-a:8083'], backup: ['http://nexus-b:8083'] },
          },
          maxBodySize: 0,
        },
        {
          name: 'repo',
          hosts: ['repo.example.com'],
          preset: 'generic',
          upstream: { servers: ['http://nexus-a:8081'], backup: ['http://nexus-b:8081'] },
          maxBodySize: '512m',
          static: [{ prefix: '/download', dir: '/srv/download' }],
        },
      ],
      timeouts: { idle: 3600, connect: 10 },
    });
    const parsed = parseConfig(result.config);
    expect(parsed.sites[1]!.maxBodySize).toBe(512 * 1024 ** 2);
  });

  it('leaves nothing untranslated', () => {
    expect(result.untranslated).toEqual([]);
  });

  it('notes each place where the router differs on purpose, with where nginx said otherwise', () => {
    const at = (needle: string) => `${fixturePath('original.conf')}:${lineOf('original.conf', needle)}`;
    const has = (re: RegExp) =>
      expect(
        result.changed.some((c) => re.test(c)),
        `${re} in\n${result.changed.join('\n')}`,
      ).toBe(true);
    has(new RegExp(`^HEAD of a manifest goes to the group \\(read\\).*nginx: write.*${at('location / {')}`));
    has(/^GET of an upload in progress .* goes to hosted/);
    has(new RegExp(`^Host keeps the client's port .*${at('proxy_set_header Host')}`));
    has(new RegExp(`^X-Forwarded-Proto is the scheme the client used \\(nginx sent "http" always\\).*${at('X-Forwarded-Proto')}`));
    has(/^the router sends X-Forwarded-Host \(the public name without the port\) and X-Forwarded-Port/);
    has(/^access log: one JSON line per request on stdout/);
    has(/^proxy_buffering \/ proxy_request_buffering off: the router always streams/);
    has(/^backup servers: .*writes pause \(503/);
    has(/^timeouts are global in the router: "idle" is the largest .*3600, 300/);
  });

  it('routes docker requests like the nginx split (`~* GET`), except where the README says better', () => {
    const site = parseConfig(result.config).sites[0]!;
    const { differs } = checkRouting(site, getOnly);
    expect(differs).toEqual(['HEAD ping', 'HEAD manifest', 'GET upload-start', 'GET upload']);
    // The split's targets became the roles: GET's upstream is read, the rest write.
    expect(site.upstreams!.read).toEqual({ servers: ['http://nexus-a:8082'], backup: ['http://nexus-b:8082'] });
    expect(site.upstreams!.write).toEqual({ servers: ['http://nexus-a:8083'], backup: ['http://nexus-b:8083'] });
  });

  it('the web UI site routes as nginx did: one upstream, the download folder served first', () => {
    const web = compileSite(parseConfig(result.config).sites[1]!);
    for (const method of TABLE_METHODS)
      expect(web.upstreams[web.route(method, '/service/rest/v1/status', new URLSearchParams())]!.origin).toBe('http://nexus-a:8081');
  });
});

describe('variants', () => {
  it('tls-map.conf: a map on $request_method, HTTPS redirect, IPv6, included headers', () => {
    const result = importFixture('tls-map.conf');
    const { config } = result;
    expect(config.listen).toEqual([
      { host: '::', port: 80 },
      { host: '::', port: 443, cert: '/etc/ssl/registry.example.com/fullchain.pem', key: '/etc/ssl/registry.example.com/privkey.pem' },
    ]);
    expect(config.sites).toEqual([
      {
        name: 'docker',
        hosts: ['registry.example.com'],
        preset: 'docker',
        upstreams: { read: 'http://nexus.internal:8082', write: 'http://nexus.internal:8083' },
        maxBodySize: '2g',
        httpsRedirect: true,
        rules: [{ path: '/v2/_catalog', to: 'deny' }],
      },
    ]);
    // 15m and 900 s: the larger idle value, in seconds.
    expect(config.timeouts).toEqual({ idle: 900, connect: 5 });
    // `location / { return 404; }` around `location /v2/` cannot be a rule (it would refuse /v2/ too).
    expect(result.untranslated).toEqual([
      {
        file: fixturePath('tls-map.conf'),
        line: lineOf('tls-map.conf', 'location / {'),
        directive: 'location / { … }',
        why: expect.stringMatching(/outside \/v2\//),
      },
    ]);
    const site = parseConfig(config).sites[0]!;
    const { differs } = checkRouting(site, getAndHead);
    expect(differs).toEqual(['HEAD blob', 'GET upload-start', 'HEAD upload-start', 'GET upload', 'HEAD upload']);
    expect(compileSite(site).route('GET', '/v2/_catalog', new URLSearchParams())).toBe('deny');
    expect(result.changed.some((c) => c.startsWith('HEAD of a blob goes to hosted'))).toBe(true);
    // The header notes point into the included file.
    expect(result.changed).toContainEqual(
      expect.stringMatching(
        new RegExp(`^X-Forwarded-Host is one value without the port.*proxy-headers\\.conf:${lineOf('proxy-headers.conf', 'X-Forwarded-Host')}`),
      ),
    );
    expect(result.changed).toContainEqual(expect.stringMatching(/^redirect to HTTPS → "httpsRedirect"/));
  });

  it('tls-map.conf without include reading: the include is listed, mime.types is not', () => {
    const result = importFixture('tls-map.conf', false);
    expect(result.untranslated).toContainEqual({
      file: fixturePath('tls-map.conf'),
      line: lineOf('tls-map.conf', 'include proxy-headers.conf'),
      directive: 'include proxy-headers.conf;',
      why: expect.stringMatching(/not read/),
    });
    expect(result.untranslated.some((u) => u.directive.includes('mime.types'))).toBe(false);
  });

  it('path-based.conf: `!~*` split on the repository name, and what it cannot do, by file:line', () => {
    const name = 'path-based.conf';
    const result = importFixture(name);
    const site = result.config.sites[0]!;
    expect(site.upstreams).toEqual({ read: 'http://nexus:8081/repository/docker-group/', write: 'http://nexus:8081/repository/docker-hosted/' });
    expect(site.static).toEqual([{ prefix: '/downloads', dir: '/srv/registry/files', listing: true }]);
    expect(site.rules).toEqual([{ path: '/v1/**', to: 'deny' }]);
    expect(site.hosts).toEqual(['localhost']);
    const expected = [
      'limit_req_zone',
      'server_name _',
      'allow 10.0.0.0/8',
      'deny  all',
      'auth_basic  ',
      'auth_basic_user_file',
      'if ($http_user_agent',
      'limit_req zone',
      'X-Forwarded-Ssl',
      'location = /ca.crt',
    ].map((needle) => `${fixturePath(name)}:${lineOf(name, needle)}`);
    expect(places(result)).toEqual(expected);
    expect(result.untranslated.find((u) => u.directive.startsWith('auth_basic '))!.why).toMatch(/no authentication/);
    expect(result.untranslated.find((u) => u.directive.startsWith('if ($http_user_agent'))!.why).toMatch(/User-Agent/);
    const { differs } = checkRouting(parseConfig(result.config).sites[0]!, getAndHead);
    expect(differs).toEqual(['HEAD blob', 'GET upload-start', 'HEAD upload-start', 'GET upload', 'HEAD upload']);
  });

  it('readme-recipe.conf: proxy_pass inside `if`, one name on two ports, limit_except on a generic site', () => {
    const result = importFixture('readme-recipe.conf');
    const { config } = result;
    expect(result.untranslated).toEqual([]);
    expect(config.listen).toEqual([
      { host: '0.0.0.0', port: 5000 },
      { host: '0.0.0.0', port: 5001 },
      { host: '0.0.0.0', port: 80 },
    ]);
    const [docker, push, npm] = config.sites;
    expect(docker).toMatchObject({
      hosts: ['idocker.io:5000'],
      preset: 'docker',
      upstreams: { read: 'http://nexus:8082', write: 'http://nexus:8083' },
      preserveHost: false,
    });
    expect(push).toMatchObject({ hosts: ['idocker.io:5001'], preset: 'docker', upstream: 'http://nexus:8083', preserveHost: false });
    expect(npm).toMatchObject({
      hosts: ['npm.example.com'],
      preset: 'generic',
      upstreams: { read: 'http://nexus:8081/repository/npm-group/', write: 'http://nexus:8081/repository/npm-hosted/' },
      maxBodySize: '1m',
    });
    expect(npm!.preserveHost).toBeUndefined();
    const parsed = parseConfig(config);
    checkRouting(parsed.sites[0]!, getOnly);
    // limit_except GET HEAD: GET and HEAD read, everything else write, as the generic preset does.
    const generic = compileSite(parsed.sites[2]!);
    for (const method of ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH']) {
      expect(generic.route(method, '/lodash', new URLSearchParams())).toBe(getAndHead(method));
    }
    expect(result.changed).toContainEqual(expect.stringMatching(/^npm\.example\.com looks like npm: "preset": "npm"/));
    expect(result.changed).toContainEqual(expect.stringMatching(/^idocker\.io: nginx sent the upstream's own name as Host/));
  });
});

// ── small configs ────────────────────────────────────────────────────────────

const small = (text: string) => importNginx(text, 'nginx.conf');

describe('importNginx: pieces', () => {
  it('upstream with one server → a plain URL; several primaries → a pool; `down` servers left out', () => {
    const { config, changed } = small(`
      upstream one { server nexus:8081; }
      upstream two { server a:8081 weight=2; server b:8081; server c:8081 down; }
      server { server_name one.example.com; location / { proxy_pass http://one; } }
      server { server_name two.example.com; location / { proxy_pass https://two; } }`);
    expect(config.sites.map((s) => s.upstream)).toEqual(['http://nexus:8081', { servers: ['https://a:8081', 'https://b:8081'], backup: [] }]);
    expect(changed).toContainEqual(expect.stringMatching(/server c:8081 is marked "down"/));
    expect(changed).toContainEqual(expect.stringMatching(/^weight:/));
    expect(changed).toContainEqual(expect.stringMatching(/share storage/));
  });

  it('equal listeners across servers are one; TLS certificates of several servers → certs by SNI', () => {
    const { config } = small(`
      server { listen 443 ssl; server_name a.example.com; ssl_certificate /c/a.crt; ssl_certificate_key /c/a.key; location / { proxy_pass http://a:1; } }
      server { listen 443 ssl default_server; server_name b.example.com;
        ssl_certificate /c/b.crt; ssl_certificate_key /c/b.key; location / { proxy_pass http://b:1; } }
      server { listen 80; server_name c.example.com; location / { proxy_pass http://c:1; } }
      server { listen 80; server_name d.example.com; location / { proxy_pass http://d:1; } }`);
    expect(config.listen).toEqual([
      {
        host: '0.0.0.0',
        port: 443,
        certs: [
          { cert: '/c/b.crt', key: '/c/b.key' },
          { cert: '/c/a.crt', key: '/c/a.key' },
        ],
      },
      { host: '0.0.0.0', port: 80 },
    ]);
    expect(() => parseConfig(config)).not.toThrow();
  });

  it('ssl_certificate at http level is inherited; `ssl on` makes every listen TLS', () => {
    const { config } = small(`
      ssl_certificate /c/all.crt; ssl_certificate_key /c/all.key;
      server { listen 8443; ssl on; server_name a.example.com; location / { proxy_pass http://a:1; } }`);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8443, cert: '/c/all.crt', key: '/c/all.key' });
  });

  it('`if ($scheme = http) { return 301 https://… }` in the TLS server → httpsRedirect (with its port)', () => {
    const { config } = small(`
      server { listen 80; listen 8443 ssl; server_name a.example.com; ssl_certificate /c/a.crt; ssl_certificate_key /c/a.key;
        if ($scheme = http) { return 301 https://$host:8443$request_uri; }
        location / { proxy_pass http://a:1; } }`);
    expect(config.sites[0]!.httpsRedirect).toBe(8443);
    expect(config.sites[0]!.preset).toBe('generic');
  });

  it('the split with `=` and upstream names in variables; a method refused with return → deny rule', () => {
    const { config, untranslated, changed } = small(`
      upstream grp { server n:8082; } upstream hst { server n:8083; }
      server { server_name docker.example.com;
        location / {
          set $u hst;
          if ($request_method = GET) { set $u grp; }
          if ($request_method = HEAD) { set $u grp; }
          if ($request_method = DELETE) { return 405; }
          proxy_pass http://$u;
        } }`);
    expect(untranslated).toEqual([]);
    expect(config.sites[0]).toMatchObject({
      preset: 'docker',
      upstreams: { read: 'http://n:8082', write: 'http://n:8083' },
      rules: [{ methods: ['DELETE'], to: 'deny' }],
    });
    expect(changed).toContainEqual(expect.stringMatching(/→ a deny rule for those methods/));
    const site = compileSite(parseConfig(config).sites[0]!);
    expect(site.route('DELETE', PATHS.manifest, new URLSearchParams())).toBe('deny');
  });

  it.each([
    ['~* GET (the original)', 'set $u http://h:8083; if ($request_method ~* GET) { set $u http://g:8082; }', getOnly],
    ['~* ^(GET|HEAD)$ unquoted', 'set $u http://h:8083; if ($request_method ~* ^(GET|HEAD)$) { set $u http://g:8082; }', getAndHead],
    ['quoted regex and spaces inside the brackets', 'set $u http://h:8083; if ( $request_method ~ "^(GET|HEAD)$" ) { set $u http://g:8082; }', getAndHead],
    ['!~ GET', 'set $u http://g:8082; if ($request_method !~ GET) { set $u http://h:8083; }', getOnly],
    ['!= GET with upstream names', 'set $u grp; if ($request_method != GET) { set $u hst; }', getOnly],
  ] as const)('the method split written as %s', (_, split, nginx) => {
    const proxy = split.includes('grp') ? 'http://$u' : '$u';
    const { config, untranslated } = small(`upstream grp { server g:8082; } upstream hst { server h:8083; }
      server { server_name idocker.io; location / { ${split} proxy_pass ${proxy}; } }`);
    expect(untranslated).toEqual([]);
    expect(config.sites[0]).toMatchObject({ preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } });
    checkRouting(parseConfig(config).sites[0]!, nginx);
  });

  it('a method split by exclusion that returns is listed, not guessed', () => {
    const { untranslated } = small(`
      server { server_name docker.example.com;
        location / {
          if ($request_method !~ ^(GET|HEAD|PUT|POST|PATCH|DELETE)$) { return 405; }
          proxy_pass http://n:8082;
        } }`);
    expect(untranslated).toEqual([
      {
        file: 'nginx.conf',
        line: 4,
        directive: expect.stringMatching(/^if \(\$request_method !~/),
        why: expect.stringMatching(/refuses the methods it does not name/),
      },
    ]);
  });

  it('proxy_pass with a URI: the location prefix replaced → an upstream path prefix; other shapes listed', () => {
    const ok = small(`server { server_name docker.example.com; location /v2/ { proxy_pass http://nexus:8081/repository/docker-group/v2/; } }`);
    expect(ok.config.sites[0]!.upstream).toBe('http://nexus:8081/repository/docker-group/');
    const bad = small(`server { server_name docker.example.com; location /v2/ { proxy_pass http://nexus:8081/other/; } }`);
    expect(bad.untranslated).toEqual([
      expect.objectContaining({ line: 1, directive: 'proxy_pass http://nexus:8081/other/;', why: expect.stringMatching(/replaces the location prefix/) }),
      expect.objectContaining({ line: 1, directive: 'server { … }', why: expect.stringMatching(/the server is left out/) }),
    ]);
    expect(bad.config.sites).toEqual([]);
  });

  it('other locations inside the proxied one → rules with their own role', () => {
    const { config } = small(`
      server { server_name repo.example.com;
        location / { proxy_pass http://nexus:8081; }
        location /service/rest/ { proxy_pass http://admin:8081; }
        location /v2/ { proxy_pass http://nexus:8081; } }`);
    expect(config.sites[0]).toMatchObject({
      upstreams: { read: 'http://nexus:8081', write: 'http://nexus:8081', loc1: 'http://admin:8081' },
      rules: [{ path: '/service/rest/**', to: 'loc1' }],
    });
    const site = compileSite(parseConfig(config).sites[0]!);
    expect(site.route('GET', '/service/rest/v1/status', new URLSearchParams())).toBe('loc1');
    expect(site.route('GET', '/v2/', new URLSearchParams())).toBe('read');
  });

  it('no proxy_set_header Host → preserveHost false; nginx defaults made explicit (1m, 60 s noted)', () => {
    const { config, changed } = small(`server { listen 8080; server_name a.example.com; location / { proxy_pass http://a:1; } }`);
    expect(config.sites[0]).toMatchObject({ preserveHost: false, maxBodySize: '1m' });
    expect(config.timeouts).toBeUndefined();
    expect(changed).toContainEqual(expect.stringMatching(/default 60 s/));
  });

  it("index: index.html (nginx's default) is what a static folder serves; other names and try_files fallbacks are listed by file:line", () => {
    const plain = small(
      `server { server_name a.example.com; location / { proxy_pass http://a:1; } location /download/ { alias /srv/dl/; index index.html; } }`,
    );
    expect(plain.config.sites[0]!.static).toEqual([{ prefix: '/download', dir: '/srv/dl' }]);
    expect(plain.untranslated).toEqual([]);
    const others = small(
      [
        'index index.htm index.html;',
        'server {',
        '  server_name a.example.com;',
        '  location / { proxy_pass http://a:1; }',
        '  location /docs/ { root /srv; autoindex on; }',
        '  location /app/ { root /srv; index index.php; try_files $uri $uri/ /app/index.php; }',
        '  location /files/ { root /srv; try_files $uri $uri/ =404; }',
        '}',
      ].join('\n'),
    );
    // autoindex carried into the static folder; index and a fallback try_files reported where they stand.
    expect(others.config.sites[0]!.static).toEqual([
      { prefix: '/docs', dir: '/srv/docs', listing: true },
      { prefix: '/app', dir: '/srv/app' },
      { prefix: '/files', dir: '/srv/files' },
    ]);
    expect(others.untranslated.map((u) => `${u.line} ${u.directive}: ${u.why}`)).toEqual([
      "1 index index.htm index.html;: a static folder serves index.html for a folder's URL; it does not look for index.htm",
      "6 index index.php;: a static folder serves index.html for a folder's URL; it does not look for index.php, and serves index.html where nginx would not",
      "6 try_files $uri $uri/ /app/index.php;: a static folder serves the file the path names, a folder's index.html, or 404: " +
        'no fallback to another file or location',
    ]);
  });

  it('proxy_connect_timeout over 75 s (what nginx documents as its limit) → 75, said with file:line', () => {
    const { config, changed } = small(`server {\n  server_name a.example.com;\n  proxy_connect_timeout 3600;\n  location / { proxy_pass http://a:1; }\n}`);
    expect(config.timeouts).toEqual({ connect: 75 });
    expect(changed).toContainEqual(
      'proxy_connect_timeout 3600 → "connect": 75: nginx documents that this timeout "cannot usually exceed 75 seconds" ' +
        '(the system gives up on a connection attempt first); a longer one only delays the failover to another server (nginx.conf:3)',
    );
    expect(small(`server { server_name a.example.com; proxy_connect_timeout 30s; location / { proxy_pass http://a:1; } }`).config.timeouts).toEqual({
      connect: 30,
    });
  });

  it('`access_log off` everywhere → accessLog false', () => {
    expect(small(`access_log off; server { server_name a.example.com; location / { proxy_pass http://a:1; } }`).config.accessLog).toBe(false);
  });

  it('lists what it cannot do by file:line: rewrite, regex locations, unknown directives, unresolvable variables', () => {
    const { untranslated } = small(
      [
        'server { server_name a.example.com;', // 1
        '  rewrite ^/old/(.*)$ /new/$1 permanent;', // 2
        '  location ~* \\.(png|jpg)$ { proxy_pass http://img:1; }', // 3
        '  frobnicate on;', // 4
        '  location / {', // 5
        '    proxy_pass http://$http_x_backend;', // 6
        '  }', // 7
        '  location /x/ { proxy_pass http://a:1; }', // 8
        '}',
      ].join('\n'),
    );
    expect(untranslated.map((u) => [u.line, u.directive.split(' ')[0]])).toEqual([
      [2, 'rewrite'],
      [3, 'location'],
      [4, 'frobnicate'],
      [6, 'proxy_pass'],
    ]);
    expect(untranslated[3]!.why).toMatch(/\$http_x_backend/);
  });

  it('map on something other than $request_method cannot be evaluated: listed', () => {
    const { untranslated } = small(`
      map $http_user_agent $be { default http://a:1; ~containerd http://b:1; }
      server { server_name a.example.com; location / { proxy_pass $be; } }`);
    expect(untranslated).toEqual([
      expect.objectContaining({
        line: 3,
        directive: 'proxy_pass $be;',
        why: expect.stringMatching(/maps \$http_user_agent, not \$request_method \(nginx\.conf:2\)/),
      }),
      expect.objectContaining({ line: 3, directive: 'server { … }', why: expect.stringMatching(/left out/) }),
    ]);
  });

  it('a syntax error stops the import with file:line, as nginx -t would', () => {
    expect(() => small('server {\n  listen 80\n}\n')).toThrow(NginxSyntaxError);
    expect(() => small('server {\n  listen 80\n}\n')).toThrow(/^nginx\.conf:3: unexpected "}": "listen" \(line 2\) is missing its ";"/);
    expect(() => small('server {\n  listen 80;\n')).toThrow(/nginx\.conf:3: unexpected end of file, expecting "}"/);
    expect(() => small('}')).toThrow(/nginx\.conf:1: unexpected "}"/);
    expect(() => small('a "b\n;')).toThrow(/nginx\.conf:1: unterminated double-quoted string/);
    expect(() => small('a "b"c;')).toThrow(/unexpected "c" after a quoted string/);
  });
});

describe('parseNginx (the tokenizer)', () => {
  it('keeps quoted arguments whole (; # { inside), comments only where a word starts, lines of each directive', () => {
    const tree = parseNginx(
      [
        '# a comment { ; }',
        'add_header X-Note "semi; colon # not a comment {";  # trailing',
        "set $x 'it\\'s';",
        'set $y a#b;',
        'if ($request_method ~* "^(GET|HEAD)$") {',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's own ${variable} syntax, a string to parse
        '  set $u ${scheme}://x;',
        '}',
        'log_format j \'{"a":"$b",\'',
        '            \'"c":1}\';',
        'listen 80;',
      ].join('\n'),
      'f.conf',
    );
    const flat = tree.map((d) => [d.line, d.name, ...d.args.map((a) => a.value)]);
    expect(flat).toEqual([
      [2, 'add_header', 'X-Note', 'semi; colon # not a comment {'],
      [3, 'set', '$x', "it's"],
      [4, 'set', '$y', 'a#b'],
      [5, 'if', '($request_method', '~*', '^(GET|HEAD)$', ')'],
      [8, 'log_format', 'j', '{"a":"$b",', '"c":1}'],
      [10, 'listen', '80'],
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's own ${variable} syntax, as parsed
    expect(tree[3]!.block!.map((d) => [d.line, d.name, ...d.args.map((a) => a.value)])).toEqual([[6, 'set', '$u', '${scheme}://x']]);
    expect(tree[3]!.args[2]!.quoted).toBe(true);
  });
});

describe('nodeInclude', () => {
  it('reads a file relative to the prefix, and wildcards in the last segment in name order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'import-nginx-'));
    writeFileSync(join(dir, 'b.conf'), 'proxy_set_header Host $http_host;');
    writeFileSync(join(dir, 'a.conf'), 'upstream g { server n:8082; }');
    writeFileSync(join(dir, 'skip.txt'), 'garbage {');
    const include = nodeInclude(dir);
    expect(include('*.conf', { file: 'x', line: 1 }).map((f) => f.file)).toEqual([join(dir, 'a.conf'), join(dir, 'b.conf')]);
    expect(include(join(dir, 'b.conf'), { file: 'x', line: 1 })[0]!.text).toMatch(/Host/);
    expect(include('none-*.conf', { file: 'x', line: 1 })).toEqual([]);
    const result = importNginx(`include *.conf;\nserver { server_name a.example.com; location / { proxy_pass http://g; } }`, join(dir, 'nginx.conf'), {
      include,
    });
    expect(result.config.sites[0]!.upstream).toBe('http://n:8082');
    expect(result.config.sites[0]!.preserveHost).toBeUndefined();
    rmSync(dir, { recursive: true, force: true });
  });
});
