/**
 * Nexus yum repositories through the router (`"preset": "yum"`), against one nginx for the whole file standing in
 * for yum hosted (WebDAV PUT/DELETE, metadata rebuilt by `createrepo_c` when the test says Nexus would) and a yum
 * group (a `mergerepo_c` merge of hosted and a "proxy" member, RPMs served at their relative hrefs), path-based
 * as Nexus serves them and at the server's root (test/support/yum.ts). Two RPMs are built once with `rpmbuild`:
 * rr-hello (uploaded through the router) and rr-extra (held by the proxy member).
 *
 * 1. real `dnf` (Debian's 4.14, in an installroot of its own, its own config and repo file, every other repo
 *    disabled, loopback only) and `curl` through the router on node and bun-node, both layouts: the upload lands
 *    in hosted; a read right after it does not list the RPM yet (Nexus rebuilds metadata about 60 s later: the
 *    test polls, as the README tells users to); then dnf installs both RPMs from the group; a form upload gets
 *    the router's 405 in plain text; the delete reaches hosted; every request line nginx logged is the
 *    fixture's (test/rules/yum-fixtures.ts), on the server of its role, with the repository's prefix kept;
 * 2. the fixture's request lines replayed through the router on all five runtimes, each reaching the server of
 *    its role (the refused one none);
 * 3. the yum format's own parts: rules, plain-text errors, health check (`check --probe`), `route`'s words and
 *    `import-nginx` recognising a yum site.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeUpstreams } from '../../src/cli/probe.ts';
import { explainRoute } from '../../src/cli/route.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { errorResponse } from '../../src/errors.ts';
import { FORMATS } from '../../src/formats/index.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { importNginx } from '../../src/import/nginx.ts';
import { compileSite } from '../../src/site/site.ts';
import { healthSettings } from '../../src/upstream/health.ts';
import { YUM_REQUESTS } from '../rules/yum-fixtures.ts';
import { logLinesAfter } from '../support/nginx-process.ts';
import { RUNTIMES, startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { buildRpms, startYumRepos, YUM_REPO_DIR, type BuiltRpm, type YumLayout, type YumLayoutRepos, type YumRepos, type YumRequest } from '../support/yum.ts';

const SERVER_OF = { read: 'group', write: 'hosted' } as const;
const PREFIX = { prefixed: { hosted: '/repository/yum-hosted', group: '/repository/yum-group' }, root: { hosted: '', group: '' } } as const;

const yumSite = (repos: YumLayoutRepos): ConfigInput['sites'][number] => ({
  name: 'yum',
  hosts: ['127.0.0.1'],
  preset: 'yum',
  upstreams: { read: repos.groupUrl, write: repos.hostedUrl },
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** No proxy from the environment: every request stays on loopback. */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/_proxy$/i.test(key)));

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const curl = (args: string[]) => exec('curl', ['-sS', '--noproxy', '*', ...args]);

let work: string;
let rpms: Record<string, BuiltRpm>;
let repos: YumRepos;

/**
 * Runs dnf against one repository (`baseurl`) without touching the machine's dnf: a fresh installroot (its rpm
 * database, cache and logs inside), its own dnf.conf and repo folder, every other repository disabled, no plugins,
 * no GPG checks (the test RPMs are unsigned), HOME in the temp folder (Debian's rpm keeps ~/.rpmdb).
 */
async function dnf(baseurl: string, args: string[]): Promise<Result & { root: string }> {
  const dir = await mkdtemp(path.join(work, 'dnf-'));
  await writeFile(path.join(dir, 'dnf.conf'), '[main]\ngpgcheck=0\ninstall_weak_deps=False\nkeepcache=False\n');
  await writeFile(path.join(dir, 'rr.repo'), `[rr]\nname=registry-router yum\nbaseurl=${baseurl}\nenabled=1\ngpgcheck=0\n`);
  const root = path.join(dir, 'root');
  const result = await exec(
    'dnf',
    [
      '-y',
      `--installroot=${root}`,
      `--config=${path.join(dir, 'dnf.conf')}`,
      `--setopt=reposdir=${dir}`,
      `--setopt=cachedir=${path.join(dir, 'cache')}`,
      '--disablerepo=*',
      '--enablerepo=rr',
      '--nogpgcheck',
      '--noplugins',
      '--releasever=9',
      ...args,
    ],
    { ...ENV, HOME: dir },
  );
  return { ...result, root };
}

/** The packages dnf lists as available from the repository (a fresh cache each time: it reads the metadata anew). */
async function available(baseurl: string): Promise<string[]> {
  const result = await dnf(baseurl, ['list', '--available']);
  expect(result.code, result.stderr + result.stdout).toBe(0);
  return [...result.stdout.matchAll(/^(rr-[\w-]+)\.noarch\s/gm)].map((m) => m[1]!).sort();
}

/** Request lines with the metadata's checksums left out (they change with every build). */
const line = (method: string, p: string, to: string) => `${method} ${p.replace(/\/[0-9a-f]{64}-/, '/<sha256>-')} → ${to}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'rr-yum-client-'));
  rpms = await buildRpms(work, ['rr-hello', 'rr-extra']);
  repos = await startYumRepos([{ rpm: rpms['rr-extra']!, folder: 'Packages' }]);
});

afterAll(async () => {
  await repos?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

const CLIENT_RUNS = (['node', 'bun-node'] as const).flatMap((runtime) => (['prefixed', 'root'] as const).map((layout) => [runtime, layout] as const));

describe.each(CLIENT_RUNS)('dnf and curl through the router on %s to Nexus-like yum repositories (%s layout)', (runtime, layout: YumLayout) => {
  let router: RouterProcess;
  let layoutRepos: YumLayoutRepos;
  let url: (p: string) => string;

  beforeAll(async () => {
    layoutRepos = repos.layouts[layout];
    router = await startRouter(runtime, { sites: [yumSite(layoutRepos)] }, { quiet: true });
    url = (p) => `${router.url}${p}`;
  });

  afterAll(async () => {
    await router?.stop();
  });

  it("uploads an RPM to hosted, which the group lists once the metadata is rebuilt; dnf installs it and the proxy member's", async () => {
    const before = (await repos.requests()).length;
    const baseurl = url(`/${YUM_REPO_DIR}/`);
    const hello = rpms['rr-hello']!;
    const extra = rpms['rr-extra']!;

    const put = await curl(['--fail-with-body', '-w', '%{http_code}', '--upload-file', hello.path, url(`/${YUM_REPO_DIR}/noarch/${hello.file}`)]);
    expect(put.code, put.stderr + put.stdout).toBe(0);
    expect(put.stdout.slice(-3)).toBe('201');
    expect(await readFile(path.join(layoutRepos.hostedDir, YUM_REPO_DIR, 'noarch', hello.file))).toEqual(await readFile(hello.path));

    // Read right after the upload: Nexus has not rebuilt the metadata yet, so the group does not list it.
    expect(await available(baseurl)).toEqual(['rr-extra']);

    // Nexus's rebuild (about 60 s after the upload on a real Nexus); then poll as a user would, until it is listed.
    await layoutRepos.regenerate();
    let listed: string[] = [];
    for (let attempt = 0; attempt < 30 && !listed.includes('rr-hello'); attempt++) listed = await available(baseurl);
    expect(listed).toEqual(['rr-extra', 'rr-hello']);

    const install = await dnf(baseurl, ['install', 'rr-hello', 'rr-extra']);
    expect(install.code, install.stderr + install.stdout).toBe(0);
    expect(install.stdout).toMatch(/Complete!/);
    expect(await readFile(path.join(install.root, hello.installs), 'utf8')).toBe(hello.content);
    expect(await readFile(path.join(install.root, extra.installs), 'utf8')).toBe(extra.content);

    // The usual mistake: a form upload. The router answers 405 itself, in plain text, saying how to upload.
    const form = await curl(['-w', '\n%{http_code} %{content_type}', '-F', `file=@${hello.path}`, url(`/${YUM_REPO_DIR}/noarch/`)]);
    expect(form.code, form.stderr).toBe(0);
    expect(form.stdout).toBe(`site yum does not accept POST /${YUM_REPO_DIR}/noarch/: ${FORMATS.yum.refusal}\n\n405 text/plain; charset=utf-8`);

    const del = await curl(['--fail-with-body', '-w', '%{http_code}', '-X', 'DELETE', url(`/${YUM_REPO_DIR}/noarch/${hello.file}`)]);
    expect(del.code, del.stderr + del.stdout).toBe(0);
    expect(del.stdout.slice(-3)).toBe('204');
    await layoutRepos.regenerate();
    expect(await available(baseurl)).toEqual(['rr-extra']);

    // Every line nginx logged is the fixture's, on the server of its role (dnf fetches metadata in parallel: the
    // order within one dnf run is the order downloads finished, so both sides are compared sorted).
    const logged = await logLinesAfter(() => repos.requests(), before, YUM_REQUESTS.filter((r) => r.expected !== 'deny').length);
    const prefix = PREFIX[layout];
    const strip = (r: YumRequest) => r.uri.slice(prefix[r.server].length);
    expect(logged.filter((r) => !r.uri.startsWith(`${prefix[r.server]}/`))).toEqual([]);
    expect(logged.map((r) => line(r.method, strip(r), r.server)).sort()).toEqual(
      YUM_REQUESTS.filter((r) => r.expected !== 'deny')
        .map((r) => line(r.method, r.path, SERVER_OF[r.expected as 'read' | 'write']))
        .sort(),
    );
    expect(logged.filter((r) => r.method === 'GET').every((r) => r.agent.startsWith('libdnf'))).toBe(true);
  });
});

describe.each(RUNTIMES)('yum request lines replayed through the router on %s', (runtime: Runtime) => {
  let router: RouterProcess;

  beforeAll(async () => {
    router = await startRouter(runtime, { sites: [yumSite(repos.layouts.prefixed)] }, { quiet: true });
  });

  afterAll(async () => {
    await router?.stop();
  });

  it(`each of the ${YUM_REQUESTS.length} lines dnf and curl send reaches the server of its role (the refused one: 405 from the router)`, async () => {
    const reached: string[] = [];
    for (const request of YUM_REQUESTS) {
      const before = (await repos.requests()).length;
      const body = request.method === 'PUT' || request.method === 'POST' ? `${request.command}\n` : undefined;
      const response = await fetch(`${router.url}${request.path}`, { method: request.method, body });
      const text = await response.text();
      const seen = await logLinesAfter(() => repos.requests(), before, request.expected === 'deny' ? 0 : 1);
      if (request.expected === 'deny') {
        expect(response.status).toBe(405);
        expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
        expect(text).toBe(`site yum does not accept ${request.method} ${request.path}: ${FORMATS.yum.refusal}\n`);
      }
      reached.push(`${request.method} ${request.path} → ${seen.map((r) => r.server).join('+') || 'deny'}`);
    }
    expect(reached).toEqual(YUM_REQUESTS.map((r) => `${r.method} ${r.path} → ${r.expected === 'deny' ? 'deny' : SERVER_OF[r.expected]}`));
  });
});

const UPSTREAMS = { read: 'http://nexus:8081/repository/yum-group/', write: 'http://nexus:8081/repository/yum-hosted/' };
const yumConfig = (site: Record<string, unknown> = {}) =>
  parseConfig({ sites: [{ name: 'yum', hosts: ['yum.example.com'], preset: 'yum', upstreams: UPSTREAMS, ...site }], accessLog: false } as ConfigInput);

describe('the yum format', () => {
  it('routes GET/HEAD to the group, PUT/DELETE to hosted, and refuses every other method', () => {
    const site = compileSite(yumConfig().sites[0]!);
    const route = (method: string, p: string) => `${method} ${p} ${site.route(method, p, new URLSearchParams())}`;
    expect([
      route('GET', '/el9/repodata/repomd.xml'),
      route('GET', '/el9/repodata/0123-primary.xml.gz'),
      route('HEAD', '/el9/noarch/rr-hello-1.0-1.noarch.rpm'),
      route('PUT', '/el9/noarch/rr-hello-1.0-1.noarch.rpm'),
      route('DELETE', '/el9/noarch/rr-hello-1.0-1.noarch.rpm'),
      route('POST', '/el9/noarch/'),
      route('PATCH', '/el9/x.rpm'),
      route('MKCOL', '/el9/'),
    ]).toEqual([
      'GET /el9/repodata/repomd.xml read',
      'GET /el9/repodata/0123-primary.xml.gz read',
      'HEAD /el9/noarch/rr-hello-1.0-1.noarch.rpm read',
      'PUT /el9/noarch/rr-hello-1.0-1.noarch.rpm write',
      'DELETE /el9/noarch/rr-hello-1.0-1.noarch.rpm write',
      'POST /el9/noarch/ deny',
      'PATCH /el9/x.rpm deny',
      'MKCOL /el9/ deny',
    ]);
    // No URL mapping: yum metadata's hrefs are relative.
    expect(FORMATS.yum.rules.some((rule) => rule.mapUrls)).toBe(false);
  });

  it('writes its errors as one line of plain text', async () => {
    const site = compileSite(yumConfig().sites[0]!);
    expect(site.errorFormat).toBe('text');
    const response = errorResponse(site.errorFormat, 502, 'UNAVAILABLE', 'read upstream of site yum: connection refused');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await response.text()).toBe('read upstream of site yum: connection refused\n');
  });

  it('checks health at the repository root, where Nexus answers 200 (or 401): a 404 is no yum repository', () => {
    const health = healthSettings(yumConfig().sites[0]!.health, FORMATS.yum);
    expect(health.path).toBe('/');
    expect([200, 401, 404, 500].map((s) => health.healthy(s))).toEqual([true, true, false, false]);
    expect(health.healthyText).toBe('200 or 401');
  });

  it("check --probe: the repositories' roots answer 200; a misspelt repository (404) fails the probe", async () => {
    const probe = async (site: ConfigInput['sites'][number]): Promise<{ ok: boolean; out: string }> => {
      let out = '';
      const ok = await probeUpstreams(parseConfig({ sites: [site] } as ConfigInput), undiciClient({ connect: 2, idle: 5 }), {
        out: (text) => {
          out += text;
        },
        err: () => {},
      });
      return { ok, out };
    };
    const good = await probe(yumSite(repos.layouts.prefixed));
    expect(good.out).toMatch(/probe yum read +GET http:\/\/127\.0\.0\.1:\d+\/repository\/yum-group\/ {2}→ 200 OK \(healthy\)/);
    expect(good.out).toMatch(/probe yum write +GET http:\/\/127\.0\.0\.1:\d+\/repository\/yum-hosted\/ {2}→ 200 OK \(healthy\)/);
    expect(good.ok).toBe(true);
    const misspelt = yumSite(repos.layouts.prefixed);
    const upstreams = misspelt.upstreams as { read: string; write: string };
    const bad = await probe({ ...misspelt, upstreams: { ...upstreams, read: upstreams.read.replace('yum-group/', 'yum-grup/') } });
    expect(bad.out).toContain('not healthy (expected 200 or 401)');
    expect(bad.ok).toBe(false);
  });

  it('route: the role in yum terms, no URL mapping; a refused method with how to upload an RPM', () => {
    const config = yumConfig();
    const explain = (method: string, p: string) => Object.fromEntries(explainRoute(config, method, new URL(`http://yum.example.com${p}`)));
    const get = explain('GET', '/el9/repodata/repomd.xml');
    expect(get.role).toBe('read: the yum group repository: repodata and RPMs for dnf and yum');
    expect(get.upstream).toBe('http://nexus:8081/repository/yum-group/el9/repodata/repomd.xml');
    const put = explain('PUT', '/el9/noarch/rr-hello-1.0-1.noarch.rpm');
    expect(put.role).toBe('write: the yum hosted repository: RPM uploads (PUT) and deletes; its metadata is rebuilt about 60 s after an upload');
    expect(put.rule).toBe('preset yum, rule #1 (src/formats/yum.ts): {"methods":["PUT","DELETE"],"to":"write"}');
    expect(put.upstream).toBe('http://nexus:8081/repository/yum-hosted/el9/noarch/rr-hello-1.0-1.noarch.rpm');
    expect(explain('POST', '/el9/noarch/').answer).toBe(`405: site yum does not accept POST /el9/noarch/: ${FORMATS.yum.refusal}; nothing is forwarded`);
  });

  it('import-nginx: a method split to /repository/yum-…/ becomes "preset": "yum", with what changes', () => {
    const conf = `
      server {
        listen 80; server_name rpm.example.com;
        location / {
          resolver 127.0.0.53;
          set $repo "yum-hosted";
          if ($request_method ~ ^(GET|HEAD)$) { set $repo "yum-group"; }
          proxy_pass http://nexus:8081/repository/$repo$request_uri;
        }
      }`;
    const result = importNginx(conf, 'nginx.conf');
    expect(result.untranslated).toEqual([]);
    expect(result.config.sites[0]).toMatchObject({ hosts: ['rpm.example.com'], preset: 'yum', upstreams: UPSTREAMS });
    expect(result.changed).toContainEqual(
      expect.stringMatching(/^rpm\.example\.com proxies Nexus yum repositories: "preset": "yum" \(README, "The yum preset"\): methods other than GET/),
    );
    expect(() => parseConfig(result.config)).not.toThrow();
  });
});
