/**
 * The npm CLI through the router, with real registries on both sides: two verdaccio 6.8 instances
 * laid out as Nexus lays out npm repositories (test/support/verdaccio.ts): *hosted* (publish,
 * users, tokens) and *group* (`proxy: hosted` on every package, no publish, no registration, one
 * token realm with hosted). npm talks to the router only; the logging proxies in front of the two
 * verdaccios say which side got each request. One suite per runtime, in the order a user works:
 * adduser/login, whoami, publish (scoped, and unscoped over 5 MiB), view, install in a fresh
 * project with audit on, dist-tag add and ls, deprecate, unpublish of one version, ping. Twice:
 * with both registries at the root of their origins, and under Nexus-style paths
 * (`/repository/npm-hosted/`, `/repository/npm-group/`), which then appear in every tarball URL
 * they write and must not reach npm.
 *
 * Each layout's pair of verdaccios is shared by every runtime (package and user names carry the
 * runtime).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NPM_REQUESTS } from '../rules/npm-fixtures.ts';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import {
  assertNpmOk,
  npmSandbox,
  RequestLog,
  runNpm,
  startNpmRegistries,
  writePackage,
  type InstanceName,
  type LoggedRequest,
  type NpmRegistries,
  type NpmRegistryOptions,
  type NpmSandbox,
} from '../support/verdaccio.ts';

const MiB = 1024 * 1024;
const PASSWORD = 'correct-horse-battery';

/**
 * Where a request npm sends belongs (the rule test/rules/npm-fixtures.ts states for every captured
 * request): writes, the GETs that prepare them (`?write=true`), the account (login, users, tokens,
 * whoami) and dist-tags go to hosted; packuments, tarballs, search, ping and audit to the group.
 */
function belongsTo(entry: Pick<LoggedRequest, 'method' | 'path' | 'query'>): InstanceName {
  const { method, path, query } = entry;
  if (method === 'POST' && path.startsWith('/-/npm/v1/security/')) return 'group';
  if (/(^|&)write=true(&|$)/.test(query)) return 'hosted';
  if (path === '/-/whoami' || path.startsWith('/-/v1/login') || path.startsWith('/-/user/') || path.startsWith('/-/package/')) return 'hosted';
  return method === 'GET' || method === 'HEAD' ? 'group' : 'hosted';
}

/** What the group must never see: anything that writes, logs in, or asks who the caller is. */
function isWriteish(entry: LoggedRequest): boolean {
  if (entry.method === 'POST' && entry.path.startsWith('/-/npm/v1/security/')) return false;
  return (
    !['GET', 'HEAD'].includes(entry.method) ||
    /(^|&)write=true(&|$)/.test(entry.query) ||
    entry.path === '/-/whoami' ||
    entry.path.startsWith('/-/v1/login') ||
    entry.path.startsWith('/-/user/')
  );
}

it('states where requests belong as the captured npm fixtures do', () => {
  for (const request of NPM_REQUESTS) {
    const side = belongsTo({ method: request.method, path: request.path, query: request.query ?? '' });
    expect(side, `${request.command}: ${request.method} ${request.path}${request.query ? `?${request.query}` : ''}`).toBe(
      request.expected === 'write' ? 'hosted' : 'group',
    );
  }
});

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Where the two registries live: at the root of their origins, or under a path as Nexus serves
 * them (`/repository/<repo>/`, which also ends up in every tarball URL they write).
 */
const LAYOUTS: Record<string, NpmRegistryOptions['prefixes']> = {
  root: undefined,
  nexus: { hosted: '/repository/npm-hosted', group: '/repository/npm-group' },
};

describe.each(Object.keys(LAYOUTS))('npm with registries at %s paths', (layout) => {
  let registries: NpmRegistries;

  beforeAll(async () => {
    registries = await startNpmRegistries({ prefixes: LAYOUTS[layout] });
  });

  afterAll(async () => {
    await registries?.destroy();
  });

  describe.each(RUNTIMES)('through the router on %s', (runtime) => {
    const user = `user-${runtime}`;
    const big = `rr-big-${runtime}`;
    const scope = `@rr-${runtime}`;
    const scoped = `${scope}/small`;
    let router: RouterProcess;
    let client: NpmSandbox;
    let work: string;
    let bigDigest: string;
    let start: number;

    /** Runs npm; expects success; checks every request it made reached the side it belongs to. */
    async function npm(
      args: string[],
      opts: Parameters<typeof runNpm>[2] & { sandbox?: NpmSandbox } = {},
    ): Promise<{ stdout: string; requests: LoggedRequest[] }> {
      const mark = registries.log.mark();
      const result = assertNpmOk(await runNpm(opts.sandbox ?? client, args, opts));
      const requests = registries.log.since(mark);
      const seen = RequestLog.format(requests);
      // npm never went around the router (a tarball URL naming an upstream would make it).
      expect(
        requests.filter((entry) => entry.source === 'direct'),
        `npm ${args.join(' ')} bypassed the router:\n${seen}`,
      ).toEqual([]);
      const routed = requests.filter((entry) => entry.source === 'router');
      expect(routed.length, `npm ${args.join(' ')} sent nothing through the router:\n${seen}`).toBeGreaterThan(0);
      // The router kept each upstream's path prefix (Nexus layout).
      expect(RequestLog.format(routed.filter((entry) => entry.outsidePrefix))).toBe('');
      for (const entry of routed) {
        expect(entry.instance, `${entry.method} ${entry.url} (npm ${args.join(' ')}) went to the wrong side:\n${seen}`).toBe(belongsTo(entry));
      }
      return { stdout: result.stdout, requests: routed };
    }

    /** Asserts that `requests` hold `method path[?query]` answered by `instance` with `status` (default: any below 400). */
    const expectRequest = (
      requests: LoggedRequest[],
      instance: InstanceName,
      method: string,
      path: string | RegExp,
      { query, status }: { query?: string; status?: number } = {},
    ): void => {
      const found = requests.some(
        (entry) =>
          entry.instance === instance &&
          entry.method === method &&
          (typeof path === 'string' ? entry.path === path : path.test(entry.path)) &&
          (query === undefined || entry.query === query) &&
          entry.status !== undefined &&
          (status === undefined ? entry.status < 400 : entry.status === status),
      );
      expect(
        found,
        `no ${method} ${path}${query ? `?${query}` : ''} answered ${status ?? 'successfully'} by ${instance} in:\n${RequestLog.format(requests)}`,
      ).toBe(true);
    };

    beforeAll(async () => {
      start = registries.log.mark();
      work = await mkdtemp(join(tmpdir(), `rr-npm-${runtime}-`));
      router = await startRouter(runtime, {
        sites: [{ name: 'npm', hosts: ['127.0.0.1'], preset: 'npm', upstreams: { read: registries.group.registryUrl, write: registries.hosted.registryUrl } }],
      });
      client = await npmSandbox(`${router.url}/`);
    });

    afterAll(async () => {
      await router?.stop();
      if (client) await rm(client.dir, { recursive: true, force: true });
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('adduser and login (legacy, then the default web flow falling back) reach hosted; the token works on the group too', async () => {
      const answers = [
        { prompt: /Username:/, answer: user },
        { prompt: /Password:/, answer: PASSWORD },
        { prompt: /Email/, answer: `${user}@example.com` },
      ];
      const added = await npm(['adduser', '--auth-type=legacy'], { answers });
      expectRequest(added.requests, 'hosted', 'PUT', `/-/user/org.couchdb.user:${user}`);
      // `npm login` tries web login first (POST /-/v1/login; verdaccio 6 answers 404), then asks.
      const login = await npm(['login'], { answers: answers.slice(0, 2) });
      expectRequest(login.requests, 'hosted', 'POST', '/-/v1/login', { status: 404 });
      expectRequest(login.requests, 'hosted', 'PUT', `/-/user/org.couchdb.user:${user}`);
      const npmrc = await readFile(client.userconfig, 'utf8');
      const token = new RegExp(`^//127\\.0\\.0\\.1:${router.port}/:_authToken="?([^"\\n]+)"?$`, 'm').exec(npmrc)?.[1];
      expect(token, npmrc).toBeTruthy();
      // One realm: the group accepts the token hosted issued (asked directly, past the logs).
      for (const side of [registries.hosted, registries.group]) {
        const res = await fetch(`${side.directUrl}/-/whoami`, { headers: { authorization: `Bearer ${token}` } });
        expect(await res.json()).toEqual({ username: user });
      }
    });

    it('whoami asks hosted', async () => {
      const { stdout, requests } = await npm(['whoami']);
      expect(stdout.trim()).toBe(user);
      expectRequest(requests, 'hosted', 'GET', '/-/whoami');
    });

    it(`publishes ${big} (a 6 MiB tarball of random bytes) and ${scoped} 1.0.0 and 1.1.0 to hosted`, async () => {
      const bigDir = await writePackage(join(work, 'big'), { name: big, version: '1.0.0', bigBytes: 6 * MiB });
      bigDigest = sha256(await readFile(join(bigDir, 'blob.bin')));
      const published = await npm(['publish'], { cwd: bigDir, timeoutMs: 120_000 });
      const put = published.requests.find((entry) => entry.method === 'PUT');
      expect(put, RequestLog.format(published.requests)).toMatchObject({ instance: 'hosted', path: `/${big}`, status: 201 });
      // The tarball arrived whole (Deno and workerd forward the body chunked, without Content-Length).
      const packument = (await (await fetch(`${registries.hosted.directUrl}/${big}`)).json()) as { versions: Record<string, { dist: { integrity: string } }> };
      const tarball = new Uint8Array(await (await fetch(`${registries.hosted.directUrl}/${big}/-/${big}-1.0.0.tgz`)).arrayBuffer());
      expect(tarball.byteLength).toBeGreaterThan(6 * MiB);
      expect(`sha512-${createHash('sha512').update(tarball).digest('base64')}`).toBe(packument.versions['1.0.0']?.dist.integrity);

      const smallDir = join(work, 'small');
      for (const version of ['1.0.0', '1.1.0']) {
        await writePackage(smallDir, { name: scoped, version });
        const { requests } = await npm(['publish'], { cwd: smallDir });
        expect(requests.filter((entry) => entry.method === 'PUT').map((entry) => [entry.instance, entry.path, entry.status])).toEqual([
          ['hosted', `/${scope}%2fsmall`, 201],
        ]);
      }
      const stored = (await (await fetch(`${registries.hosted.directUrl}/${scope}%2fsmall`)).json()) as { versions: Record<string, unknown> };
      expect(Object.keys(stored.versions).sort()).toEqual(['1.0.0', '1.1.0']);
    });

    it('view reads packuments from the group, and their tarball URLs name the router', async () => {
      const viewBig = await npm(['view', big, 'version']);
      expect(viewBig.stdout.trim()).toBe('1.0.0');
      expectRequest(viewBig.requests, 'group', 'GET', `/${big}`);
      const viewScoped = await npm(['view', scoped, 'dist-tags.latest']);
      expect(viewScoped.stdout.trim()).toBe('1.1.0');
      expectRequest(viewScoped.requests, 'group', 'GET', `/${scope}%2fsmall`);
      // The group builds tarball URLs from the Host it was sent (the router's, or its own where the
      // runtime cannot set Host) and its path prefix; npm install downloads from the public name.
      const sent = viewBig.requests.find((entry) => entry.path === `/${big}`)!.headers.host;
      expect(sent).toBe(LIMITS[runtime].sendsHost ? `127.0.0.1:${router.port}` : new URL(registries.group.url).host);
      for (const [asked, name] of [
        [big, big],
        [`${scope}%2fsmall`, scoped],
        [scoped, scoped],
      ] as const) {
        const res = await fetch(`${router.url}/${asked}`, { headers: { accept: 'application/json' } });
        expect(res.status).toBe(200);
        const packument = (await res.json()) as { versions: Record<string, { dist: { tarball: string } }> };
        expect(Object.keys(packument.versions).length).toBeGreaterThan(0);
        for (const [version, manifest] of Object.entries(packument.versions)) {
          const file = `${name.split('/').pop()}-${version}.tgz`;
          expect(manifest.dist.tarball, `${asked}@${version}`).toBe(`${router.url}/${name}/-/${file}`);
        }
      }
    });

    it('installs both in a fresh project (fresh cache, audit on) from the group; audit reaches the group and the install succeeds', async () => {
      const project = join(work, 'project');
      await mkdir(project, { recursive: true });
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
      // A fresh cache (nothing from publish or view), logged in as the same user.
      const fresh = await npmSandbox(client.registry);
      try {
        await writeFile(fresh.userconfig, await readFile(client.userconfig, 'utf8'));
        const { stdout, requests } = await npm(['install', big, scoped, '--audit=true'], { cwd: project, sandbox: fresh, timeoutMs: 120_000 });
        expect(stdout).toMatch(/added 2 packages/);
        expect(stdout).toMatch(/found 0 vulnerabilities/);
        expectRequest(requests, 'group', 'GET', `/${big}`);
        expectRequest(requests, 'group', 'GET', `/${scope}%2fsmall`);
        expectRequest(requests, 'group', 'GET', `/${big}/-/${big}-1.0.0.tgz`);
        expectRequest(requests, 'group', 'GET', new RegExp(`^/${scope}(/|%2f)small/-/small-1\\.1\\.0\\.tgz$`, 'i'));
        const audit = requests.filter((entry) => entry.path.startsWith('/-/npm/v1/security/'));
        expect(audit.map((entry) => [entry.instance, entry.method, entry.path, entry.status])).toEqual([
          ['group', 'POST', '/-/npm/v1/security/advisories/bulk', 200],
        ]);
        expect(audit[0]!.headers['content-encoding']).toBe('gzip');
      } finally {
        await rm(fresh.dir, { recursive: true, force: true });
      }
      expect(sha256(await readFile(join(project, 'node_modules', big, 'blob.bin')))).toBe(bigDigest);
      expect(JSON.parse(await readFile(join(project, 'node_modules', scope, 'small', 'package.json'), 'utf8')).version).toBe('1.1.0');
    });

    it('dist-tag add writes to hosted, and ls reads what was set', async () => {
      const add = await npm(['dist-tag', 'add', `${scoped}@1.0.0`, 'stable']);
      expectRequest(add.requests, 'hosted', 'PUT', `/-/package/${scope}%2fsmall/dist-tags/stable`);
      const ls = await npm(['dist-tag', 'ls', scoped]);
      expect(ls.stdout).toMatch(/^stable: 1\.0\.0$/m);
      expect(ls.stdout).toMatch(/^latest: 1\.1\.0$/m);
    });

    it('deprecate reads ?write=true from hosted and writes there', async () => {
      const { requests } = await npm(['deprecate', `${big}@1.0.0`, 'use something else']);
      expectRequest(requests, 'hosted', 'GET', `/${big}`, { query: 'write=true' });
      expect(requests.some((entry) => entry.instance === 'hosted' && entry.method === 'PUT' && entry.path.startsWith(`/${big}`))).toBe(true);
      const stored = (await (await fetch(`${registries.hosted.directUrl}/${big}`)).json()) as { versions: Record<string, { deprecated?: string }> };
      expect(stored.versions['1.0.0']?.deprecated).toBe('use something else');
    });

    it('unpublish of one version goes to hosted only', async () => {
      const { requests } = await npm(['unpublish', `${scoped}@1.0.0`]);
      expectRequest(requests, 'hosted', 'GET', `/${scope}%2fsmall`, { query: 'write=true' });
      expectRequest(requests, 'hosted', 'PUT', new RegExp(`^/${scope}%2fsmall/-rev/`));
      expectRequest(requests, 'hosted', 'DELETE', new RegExp(`^/${scope}/small/-/small-1\\.0\\.0\\.tgz/-rev/`));
      const stored = (await (await fetch(`${registries.hosted.directUrl}/${scope}%2fsmall`)).json()) as { versions: Record<string, unknown> };
      expect(Object.keys(stored.versions)).toEqual(['1.1.0']);
      // The tarball is gone too (npm exits 0 when its DELETE answers 404, leaving the file behind).
      expect((await fetch(`${registries.hosted.directUrl}/${scope}/small/-/small-1.0.0.tgz`)).status).toBe(404);
    });

    it('ping asks the group (npm 11 sends no ?write=true)', async () => {
      const { requests } = await npm(['ping']);
      expect(requests.map((entry) => [entry.instance, entry.method, entry.url, entry.status])).toEqual([['group', 'GET', '/-/ping', 200]]);
    });

    it('nothing of a write reached the group', () => {
      const group = registries.log.since(start, (entry) => entry.instance === 'group');
      expect(group.length).toBeGreaterThan(0);
      expect(RequestLog.format(group.filter(isWriteish))).toBe('');
      // And hosted served no npm read that belongs to the group (its uplink fetches aside).
      const misrouted = registries.log.since(start, (entry) => entry.instance === 'hosted' && entry.source === 'router' && belongsTo(entry) === 'group');
      expect(RequestLog.format(misrouted)).toBe('');
    });
  });
});
