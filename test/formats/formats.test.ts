/**
 * The format registry (src/formats/): each format is one module, and the registry is what the schema,
 * sites, health checks, body passes, `route`, the decision and `import-nginx` read. The raw format's
 * parts, each where a site meets it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explainRoute } from '../../src/cli/route.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { errorResponse } from '../../src/errors.ts';
import { FORMAT_NAMES, FORMATS, formatOf } from '../../src/formats/index.ts';
import { importNginx } from '../../src/import/nginx.ts';
import { presets } from '../../src/rules/presets.ts';
import { compileSite } from '../../src/site/site.ts';
import { healthSettings } from '../../src/upstream/health.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const UPSTREAMS = { read: 'http://nexus:8081/repository/raw-group/', write: 'http://nexus:8081/repository/raw-hosted/' };
const rawConfig = (site: Record<string, unknown> = {}) =>
  parseConfig({ sites: [{ name: 'raw', hosts: ['raw.example.com'], preset: 'raw', upstreams: UPSTREAMS, ...site }], accessLog: false } as ConfigInput);

describe('the format registry', () => {
  it('is what the schema accepts as "preset", and what src/rules/presets.ts still exports', () => {
    expect(FORMAT_NAMES).toEqual(['docker', 'npm', 'maven', 'pypi', 'raw', 'yum', 'rubygems', 'nuget', 'generic']);
    for (const name of FORMAT_NAMES) {
      expect(() => parseConfig({ sites: [{ name: 's', hosts: ['h.example.com'], preset: name, upstream: 'http://nexus:8081/' }] })).not.toThrow();
      expect(presets[name]).toBe(FORMATS[name]);
    }
    expect(() => parseConfig({ sites: [{ name: 's', hosts: ['h.example.com'], preset: 'conan', upstream: 'http://nexus:8081/' }] })).toThrow(
      /sites\[0\]\.preset: must be one of "docker", "npm", "maven", "pypi", "raw", "yum", "rubygems", "nuget", "generic"/,
    );
  });

  // What makes forgetting a part of a new format fail here rather than in front of a user.
  it.each(FORMAT_NAMES)('%s: one module with every part a format needs', (name) => {
    const format = FORMATS[name];
    expect(format.name).toBe(name);
    // Rules end in a catch-all: every request has a role.
    expect(format.rules.at(-1)).toMatchObject({ to: expect.any(String) });
    expect(Object.keys(format.rules.at(-1)!)).toEqual(['to']);
    expect(format.health.path).toMatch(/^\//);
    // Rules that open or follow sessions need the format's words for them in `route`.
    if (format.rules.some((rule) => rule.session) && name !== 'generic') expect(format.sessions?.name).toBeTruthy();
    // A format with its own `deny` rules says why in the 405.
    if (format.rules.some((rule) => rule.to === 'deny')) expect(format.refusal).toBeTruthy();
    // Rules that map URLs name the answers that carry them.
    if (format.rules.some((rule) => rule.mapUrls)) expect(format.bodyUrls?.length).toBeGreaterThan(0);
    if (name !== 'generic') {
      expect(README).toContain(`### The ${format.title} preset`);
      // import-nginx recognises every format but docker (whose detection is the /v2/ API) and generic.
      if (name !== 'docker') expect(format.nginx?.repository).toBeInstanceOf(RegExp);
    }
  });

  it('formatOf: an unknown or missing name is generic (callers that read unparsed config)', () => {
    expect(formatOf('raw')).toBe(FORMATS.raw);
    expect(formatOf('nope')).toBe(FORMATS.generic);
    expect(formatOf(undefined)).toBe(FORMATS.generic);
  });
});

describe('raw', () => {
  it('routes GET/HEAD to read, PUT/DELETE to write, and refuses every other method', () => {
    const site = compileSite(rawConfig().sites[0]!);
    const route = (method: string) => site.route(method, '/tools/app-1.0.tar.gz', new URLSearchParams());
    expect(['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS', 'MKCOL', 'PROPFIND'].map((m) => `${m} ${route(m)}`)).toEqual([
      'GET read',
      'HEAD read',
      'PUT write',
      'DELETE write',
      'POST deny',
      'PATCH deny',
      'OPTIONS deny',
      'MKCOL deny',
      'PROPFIND deny',
    ]);
    // A site's own rules come first: one that takes POST somewhere is obeyed.
    const own = compileSite(rawConfig({ rules: [{ methods: ['POST'], path: '/hooks/**', to: 'write' }] }).sites[0]!);
    expect(own.route('POST', '/hooks/build', new URLSearchParams())).toBe('write');
    expect(own.route('POST', '/tools/x', new URLSearchParams())).toBe('deny');
  });

  it('writes its errors as one line of plain text', async () => {
    const site = compileSite(rawConfig().sites[0]!);
    expect(site.errorFormat).toBe('text');
    const response = errorResponse(site.errorFormat, 502, 'UNAVAILABLE', 'write upstream of site raw: connection refused');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await response.text()).toBe('write upstream of site raw: connection refused\n');
    expect(response.headers.get('content-length')).toBe(String('write upstream of site raw: connection refused\n'.length));
  });

  it('checks health at the repository root, where 200, 401 and 404 are a live Nexus raw repository; a path of its own wants 200–399', () => {
    const defaults = rawConfig().sites[0]!.health;
    const health = healthSettings(defaults, FORMATS.raw);
    expect(health.path).toBe('/');
    expect([200, 401, 404, 403, 500, 502].map((s) => health.passes(s))).toEqual([true, true, true, false, false, false]);
    expect(health.healthy(404)).toBe(true);
    expect(health.healthyText).toBe('200 or 401 or 404');
    const own = healthSettings({ ...defaults, path: '/health.txt' }, FORMATS.raw);
    expect([200, 404].map((s) => own.healthy(s))).toEqual([true, false]);
    expect(own.healthyText).toBe('200–399');
    // docker keeps its /v2/ check; the other formats their lenient root check.
    expect(healthSettings(defaults, FORMATS.docker)).toMatchObject({ path: '/v2/', healthyText: '200 or 401' });
    // As the README says: a site's own path is held to 200–399 on docker sites too (401 was counted before).
    expect(healthSettings({ ...defaults, path: '/v2/health' }, FORMATS.docker)).toMatchObject({ path: '/v2/health', healthyText: '200–399' });
    expect(healthSettings(defaults, FORMATS.npm).passes(404)).toBe(true);
    expect(healthSettings(defaults, FORMATS.npm).healthy(404)).toBe(false);
  });

  it('route: the role in raw terms; a refused method with how to upload', () => {
    const config = rawConfig();
    const explain = (method: string) => Object.fromEntries(explainRoute(config, method, new URL('http://raw.example.com/tools/app.tar.gz')));
    expect(explain('GET').role).toBe('read: the raw group repository: downloads');
    expect(explain('PUT').role).toBe('write: the raw hosted repository: uploads (PUT) and deletes');
    expect(explain('PUT').rule).toBe('preset raw, rule #1 (src/formats/raw.ts): {"methods":["PUT","DELETE"],"to":"write"}');
    expect(explain('PUT').upstream).toBe('http://nexus:8081/repository/raw-hosted/tools/app.tar.gz');
    expect(explain('POST').answer).toBe(
      '405: site raw does not accept POST /tools/app.tar.gz: a Nexus raw repository takes GET and HEAD (downloads), ' +
        'PUT (uploads: curl --upload-file FILE URL) and DELETE; nothing is forwarded',
    );
  });

  it("a site's own deny rule keeps the plain refusal (the format's words are for its own rules)", () => {
    const config = rawConfig({ rules: [{ methods: ['DELETE'], to: 'deny' }] });
    const lines = Object.fromEntries(explainRoute(config, 'DELETE', new URL('http://raw.example.com/tools/app.tar.gz')));
    expect(lines.answer).toBe('405: site raw does not accept DELETE /tools/app.tar.gz; nothing is forwarded');
  });

  it('an upstreams key no raw rule routes to is named with the roles raw has', () => {
    expect(() => rawConfig({ upstreams: { ...UPSTREAMS, snapshots: 'http://nexus:8081/repository/raw-snapshots/' } })).toThrow(
      /upstreams\.snapshots: no rule routes to a role named "snapshots".*the raw preset routes to "read", "write"/,
    );
  });
});

describe('import-nginx recognises formats by their Nexus repository names', () => {
  const conf = (group: string, hosted: string) => `
    server {
      listen 80; server_name files.example.com;
      location / {
        resolver 127.0.0.53;
        set $repo "${hosted}";
        if ($request_method ~ ^(GET|HEAD)$) { set $repo "${group}"; }
        proxy_pass http://nexus:8081/repository/$repo$request_uri;
      }
    }`;

  it('a raw-style config (a location proxying to /repository/raw-…/) becomes "preset": "raw", with what changes', () => {
    const result = importNginx(conf('raw-group', 'raw-hosted'), 'nginx.conf');
    expect(result.untranslated).toEqual([]);
    expect(result.config.sites[0]).toMatchObject({
      hosts: ['files.example.com'],
      preset: 'raw',
      upstreams: { read: 'http://nexus:8081/repository/raw-group/', write: 'http://nexus:8081/repository/raw-hosted/' },
    });
    expect(result.changed).toContainEqual(
      expect.stringMatching(/^files\.example\.com proxies Nexus raw repositories: "preset": "raw" \(README, "The raw preset"\): methods other than GET/),
    );
    expect(() => parseConfig(result.config)).not.toThrow();
  });

  it('npm, Maven and PyPI repositories are named in a note and the import keeps "generic", as before', () => {
    for (const [group, name, title] of [
      ['npm-group', 'npm', 'npm'],
      ['maven-public', 'maven', 'Maven'],
      ['pypi-all', 'pypi', 'PyPI'],
    ] as const) {
      const result = importNginx(conf(group, `${name}-hosted`), 'nginx.conf');
      expect(result.config.sites[0]!.preset).toBe('generic');
      expect(result.changed).toContainEqual(
        `files.example.com looks like ${name}: "preset": "${name}" routes what the generic split gets wrong ` +
          `(README, "The ${title} preset"); the import keeps "generic" (nginx.conf:4)`,
      );
    }
  });

  it('a split to repositories of no known format stays generic without a note, and is not taken for docker', () => {
    const result = importNginx(conf('files-group', 'files-hosted'), 'nginx.conf');
    expect(result.config.sites[0]!.preset).toBe('docker');
    const helm = importNginx(conf('helm-group', 'helm-hosted'), 'nginx.conf');
    expect(helm.config.sites[0]!.preset).toBe('generic');
    expect(helm.changed.filter((note) => note.includes('looks like') || note.includes('proxies Nexus'))).toEqual([]);
  });
});
