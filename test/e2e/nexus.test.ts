/**
 * The router in front of a Nexus-like, path-based origin (test/support/nexus.ts): real
 * docker-registry processes behind `/repository/<name>/` prefixes on one port, whose every URL
 * (upload `Location`, bearer `realm`) names that port — the worst case. Upstreams are set to the
 * prefixes, as a Nexus admin would write them. Three stacks per runtime: anonymous, htpasswd
 * (Basic) and token (Bearer, JWTs signed here and verified by the registries for real).
 *
 * skopeo talks to the router through a wiretap that records every response header it receives;
 * the key requests are also made by hand against the router. No header reaching a client may
 * name the origin's host:port, a registry's, or the `/repository/` prefix.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, headManifest } from '../support/blob.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import {
  createTokenIssuer,
  leakingHeaders,
  startMemberLink,
  startNexus,
  startWiretap,
  type MemberLink,
  type Nexus,
  type TokenIssuer,
  type Wiretap,
} from '../support/nexus.ts';
import { startOrigin } from '../support/origin.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { RUNTIMES, startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { copy, dockerRef, inspectDigest, tryCopy } from '../support/skopeo.ts';

const KiB = 1024;
const USER = 'alice';
const PASSWORD = 'correct horse';
const CREDS = `${USER}:${PASSWORD}`;
const AUTH = basicAuth(USER, PASSWORD);
const SERVICE = 'nexus-like';

interface Reply {
  method: string;
  path: string;
  status: number;
  headers: IncomingHttpHeaders;
  /** Header lines as received, for the leak check. */
  pairs: Array<[string, string]>;
  body: string;
}

/** One request to the router with a Host of our choosing (node:http keeps every header as sent). */
function call(port: number, opts: { method?: string; path: string; host: string; headers?: Record<string, string>; body?: Buffer }): Promise<Reply> {
  const method = opts.method ?? 'GET';
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { host: opts.host, ...opts.headers };
    if (opts.body) headers['content-length'] = opts.body.length;
    else if (method !== 'GET' && method !== 'HEAD') headers['content-length'] = 0;
    const req = httpRequest({ host: '127.0.0.1', port, method, path: opts.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const pairs: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ method, path: opts.path, status: res.statusCode!, headers: res.headers, pairs, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Path and query of an absolute URL, after checking it names `origin` (the client's view). */
function pathUnder(origin: string, location: string | undefined): string {
  expect(location, 'a Location header').toBeDefined();
  expect(location!.startsWith(`${origin}/v2/`), `${location} should point at ${origin}/v2/`).toBe(true);
  return location!.slice(origin.length);
}

/**
 * A blob upload driven by hand, as a client does it: POST → PATCH (at the Location) → GET progress
 * → PUT (&digest=). Every reply is returned for header checks; each Location must lead back to `origin`.
 */
async function handUpload(port: number, host: string, name: string, bytes: Buffer, headers: Record<string, string> = {}) {
  const origin = `http://${host}`;
  const replies: Reply[] = [];
  const post = await call(port, { method: 'POST', path: `/v2/${name}/blobs/uploads/`, host, headers });
  replies.push(post);
  expect(post.status, post.body).toBe(202);
  const patch = await call(port, {
    method: 'PATCH',
    path: pathUnder(origin, post.headers.location),
    host,
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  replies.push(patch);
  expect(patch.status, patch.body).toBe(202);
  const progress = await call(port, { method: 'GET', path: pathUnder(origin, patch.headers.location), host, headers });
  replies.push(progress);
  expect(progress.status, progress.body).toBe(204);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const putPath = pathUnder(origin, patch.headers.location);
  const put = await call(port, { method: 'PUT', path: `${putPath}${putPath.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, host, headers });
  replies.push(put);
  expect(put.status, put.body).toBe(201);
  expect(pathUnder(origin, put.headers.location)).toBe(`/v2/${name}/blobs/${digest}`);
  return { digest, replies };
}

interface Stack {
  nexus: Nexus;
  hosted: Registry;
  group: Registry;
  link: MemberLink | undefined;
  router: RouterProcess;
  tap: Wiretap;
  /** What must never reach a client. */
  needles: string[];
  stop(): Promise<void>;
}

async function startStack(runtime: Runtime, auth: 'none' | 'basic' | 'bearer', issuer?: TokenIssuer): Promise<Stack> {
  // Stopped in reverse order, also when a later part fails to start.
  const stops: Array<() => Promise<unknown>> = [];
  const started = <T>(part: T, stop: (part: T) => Promise<unknown>): T => {
    stops.unshift(() => stop(part));
    return part;
  };
  try {
    const nexus = started(await startNexus({ tokens: issuer }), (n) => n.close());
    const token = issuer && { realm: nexus.tokenRealm, service: issuer.service, issuer: issuer.issuer, rootCertPem: issuer.certPem };
    const hosted = started(
      await startRegistry({
        name: `nexus-hosted-${auth}`,
        ...(auth === 'basic' && { htpasswd: { user: USER, password: PASSWORD } }),
        ...(auth === 'bearer' && { token }),
      }),
      (r) => r.destroy(),
    );
    // The group: a pull-through cache of hosted, reached directly (Nexus group members are internal).
    // Distribution's proxy cannot log in to an htpasswd remote, so Basic goes over an internal link.
    const link = auth === 'basic' ? started(await startMemberLink(hosted.url, AUTH), (l) => l.close()) : undefined;
    const group = started(
      await startRegistry({
        name: `nexus-group-${auth}`,
        proxyRemote: link?.url ?? hosted.url,
        ...(auth === 'bearer' && { proxyAuth: { user: USER, password: PASSWORD } }),
        ...(auth === 'basic' && { htpasswd: { user: USER, password: PASSWORD } }),
        ...(auth === 'bearer' && { token }),
      }),
      (r) => r.destroy(),
    );
    nexus.addRepository('docker-hosted', hosted.url);
    nexus.addRepository('docker-group', group.url);
    const upstreams = { read: nexus.repositoryUrl('docker-group'), write: nexus.repositoryUrl('docker-hosted') };
    const router = started(
      await startRouter(
        runtime,
        {
          sites: [
            { name: 'docker', hosts: ['127.0.0.1'], preset: 'docker', upstreams },
            // Same upstreams, tokens and ping from the write side: the token request must follow the option.
            { name: 'docker-write-auth', hosts: ['localhost'], preset: 'docker', upstreams, token: 'write', ping: 'write' },
            // A public name on a non-default port, as users have it (the doubled-port realm of Nexus 3.78+).
            { name: 'docker-public', hosts: ['registry.example.com'], preset: 'docker', upstreams },
            // Without X-Forwarded-Host such a Nexus doubles the port of Host: the router repairs the answer.
            { name: 'docker-no-xfh', hosts: ['registry-noxfh.example.com'], preset: 'docker', upstreams, forwardedHost: false },
          ],
        },
        { quiet: true },
      ),
      (r) => r.stop(),
    );
    const tap = started(await startWiretap(router.port), (t) => t.close());
    const needles = [nexus, hosted, group, ...(link ? [link] : [])].flatMap(({ port }) => [`127.0.0.1:${port}`, `localhost:${port}`]).concat('/repository/');
    return { nexus, hosted, group, link, router, tap, needles, stop: () => stopAll(stops) };
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
}

async function stopAll(stops: Array<() => Promise<unknown>>): Promise<void> {
  for (const stop of stops.splice(0)) await stop().catch(() => undefined);
}

function smallImage(work: string, name: string, tag: string): Promise<BuiltImage> {
  return buildImage(join(work, name), {
    tag,
    seed: `${name}-${tag}`,
    layers: [
      { randomBytes: 1536 * KiB, seed: `${name}-base` },
      { files: { 'app/config.json': `{"image":"${name}"}` } },
      { randomBytes: 256 * KiB, seed: `${name}-top` },
    ],
  });
}

function repositoryDir(registry: Registry, name: string): string {
  return join(registry.dataDir, 'docker', 'registry', 'v2', 'repositories', name);
}

/** Every header line any client of `stack` received that names an internal host:port or prefix. */
function leaks(stack: Stack, replies: Reply[] = []): string[] {
  const tapped = stack.tap.exchanges.flatMap((e) => leakingHeaders(e.headers, stack.needles).map((l) => `${e.method} ${e.url} → ${e.status} ${l}`));
  const direct = replies.flatMap((r) => leakingHeaders(r.pairs, stack.needles).map((l) => `${r.method} ${r.path} → ${r.status} ${l}`));
  return [...tapped, ...direct];
}

describe.each(RUNTIMES)('Nexus-like path-based origin through the router on %s', (runtime) => {
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rr-nexus-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('anonymous', () => {
    let stack: Stack;
    let cdn: Awaited<ReturnType<typeof startOrigin>>;
    const replies: Reply[] = [];

    beforeAll(async () => {
      stack = await startStack(runtime, 'none');
      cdn = await startOrigin((_req, res) => res.writeHead(200).end('from the cdn'));
    });
    afterAll(async () => {
      await cdn?.close();
      await stack?.stop();
    });

    it('the origin is the worst case: its upload Locations name its own host:port and the prefix', async () => {
      const post = await call(stack.nexus.port, { method: 'POST', path: '/repository/docker-hosted/v2/probe/blobs/uploads/', host: 'public.example' });
      expect(post.status).toBe(202);
      expect(post.headers.location).toMatch(
        new RegExp(`^http://127\\.0\\.0\\.1:${stack.nexus.port}/repository/docker-hosted/v2/probe/blobs/uploads/[0-9a-f-]+\\?_state=`),
      );
    });

    it('pushes and pulls with skopeo through prefixed upstreams, and no header names the origin', async () => {
      const image = await smallImage(work, 'anon-app', 'v1');
      await copy(image.ref(), dockerRef(stack.tap.url, 'team/app', 'v1'));
      expect(await inspectDigest(dockerRef(stack.hosted.url, 'team/app', 'v1'))).toBe(image.manifestDigest);
      const pulled = join(work, 'anon-pulled');
      await copy(dockerRef(stack.tap.url, 'team/app', 'v1'), `oci:${pulled}:v1`);
      expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(image.manifestDigest);

      // Both prefixes were used: writes to docker-hosted, reads from docker-group.
      const byRepo = (repo: string, method: string) => stack.nexus.seen.filter((s) => s.repo === repo && s.method === method).length;
      expect(byRepo('docker-hosted', 'PUT')).toBeGreaterThan(0);
      expect(byRepo('docker-group', 'GET')).toBeGreaterThan(0);
      // The client really was handed upload Locations, and they named the address it used.
      const locations = stack.tap.exchanges.flatMap((e) => e.headers.filter(([n]) => n.toLowerCase() === 'location').map(([, v]) => v));
      expect(locations.length).toBeGreaterThan(0);
      for (const location of locations) expect(location.startsWith(`${stack.tap.url}/v2/`), location).toBe(true);
      expect(leaks(stack)).toEqual([]);
    });

    it('maps every Location of a hand-driven upload (POST, PATCH, GET progress, PUT) back to the router', async () => {
      const { replies: upload } = await handUpload(stack.router.port, `127.0.0.1:${stack.router.port}`, 'team/raw', Buffer.alloc(64 * KiB, 7));
      replies.push(...upload);
      expect(leaks(stack, replies)).toEqual([]);
    });

    it('maps Locations built from the forwarded Host plus the prefix (a Nexus that honours X-Forwarded-Host)', async () => {
      stack.nexus.options.urlBase = 'request';
      try {
        const direct = await call(stack.nexus.port, { method: 'POST', path: '/repository/docker-hosted/v2/probe/blobs/uploads/', host: 'public.example:5000' });
        expect(direct.headers.location).toMatch(/^http:\/\/public\.example:5000\/repository\/docker-hosted\/v2\/probe\/blobs\/uploads\//);
        const { replies: upload } = await handUpload(stack.router.port, `127.0.0.1:${stack.router.port}`, 'team/fwd', Buffer.alloc(32 * KiB, 9));
        replies.push(...upload);
        expect(leaks(stack, replies)).toEqual([]);
      } finally {
        stack.nexus.options.urlBase = 'self';
      }
    });

    it('passes a third-party redirect (CDN) unchanged and does not follow it', async () => {
      const digest = `sha256:${'ab'.repeat(32)}`;
      const signedQuery = '?X-Amz-Credential=AKIA%2F20260101%2Fus-east-1&X-Amz-Signature=de%3Dad%2Bbe&x=%C3%A9';
      stack.nexus.options.blobRedirect = (_repo, name, d) =>
        name === 'team/cdn'
          ? `http://cdn.example/registry/blobs/${d}${signedQuery}`
          : name === 'team/cdn-local'
            ? `${cdn.url}/blobs/${d}${signedQuery}`
            : undefined;
      try {
        const before = stack.nexus.seen.length;
        const far = await call(stack.router.port, {
          path: `/v2/team/cdn/blobs/${digest}`,
          host: `127.0.0.1:${stack.router.port}`,
          headers: { authorization: AUTH },
        });
        expect(far.status).toBe(307);
        expect(far.headers.location).toBe(`http://cdn.example/registry/blobs/${digest}${signedQuery}`);
        const near = await call(stack.router.port, {
          path: `/v2/team/cdn-local/blobs/${digest}`,
          host: `127.0.0.1:${stack.router.port}`,
          headers: { authorization: AUTH },
        });
        expect(near.status).toBe(307);
        expect(near.headers.location).toBe(`${cdn.url}/blobs/${digest}${signedQuery}`);
        // Authorization went to the chosen upstream (the group prefix) and nowhere else.
        const asked = stack.nexus.seen.slice(before);
        expect(asked.map((s) => `${s.repo} ${s.method} ${s.path}`)).toEqual([
          `docker-group GET /v2/team/cdn/blobs/${digest}`,
          `docker-group GET /v2/team/cdn-local/blobs/${digest}`,
        ]);
        for (const s of asked) expect(s.headers.authorization).toBe(AUTH);
        await new Promise((r) => setTimeout(r, 300));
        expect(cdn.seen).toEqual([]);
      } finally {
        stack.nexus.options.blobRedirect = undefined;
      }
    });
  });

  describe('basic auth (htpasswd on hosted and group)', () => {
    let stack: Stack;
    const replies: Reply[] = [];

    beforeAll(async () => {
      stack = await startStack(runtime, 'basic');
    });
    afterAll(() => stack?.stop());

    it('passes the Basic challenge unchanged', async () => {
      const ping = await call(stack.router.port, { path: '/v2/', host: `127.0.0.1:${stack.router.port}` });
      replies.push(ping);
      expect(ping.status).toBe(401);
      expect(ping.headers['www-authenticate']).toBe('Basic realm="basic-realm"');
    });

    it('pushes and pulls with skopeo --creds, and no header names the origin', async () => {
      const image = await smallImage(work, 'basic-app', 'v1');
      await copy(image.ref(), dockerRef(stack.tap.url, 'team/app', 'v1'), { creds: CREDS });
      expect(await inspectDigest(dockerRef(stack.hosted.url, 'team/app', 'v1'), { creds: CREDS })).toBe(image.manifestDigest);
      const pulled = join(work, 'basic-pulled');
      await copy(dockerRef(stack.tap.url, 'team/app', 'v1'), `oci:${pulled}:v1`, { creds: CREDS });
      expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(image.manifestDigest);
      // The credentials reached the registries (through the router and the origin).
      expect(stack.nexus.seen.filter((s) => s.repo === 'docker-hosted' && s.method === 'PUT').every((s) => s.headers.authorization === AUTH)).toBe(true);
      const { replies: upload } = await handUpload(stack.router.port, `127.0.0.1:${stack.router.port}`, 'team/raw', Buffer.alloc(48 * KiB, 3), {
        authorization: AUTH,
      });
      replies.push(...upload);
      expect(leaks(stack, replies)).toEqual([]);
    });

    it('refuses a wrong password with a clear 401 and writes nothing', async () => {
      const wrong = basicAuth(USER, 'wrong password');
      const post = await call(stack.router.port, {
        method: 'POST',
        path: '/v2/team/denied/blobs/uploads/',
        host: `127.0.0.1:${stack.router.port}`,
        headers: { authorization: wrong },
      });
      replies.push(post);
      expect(post.status).toBe(401);
      expect(JSON.parse(post.body).errors[0]).toMatchObject({ code: 'UNAUTHORIZED', message: 'authentication required' });

      const image = await smallImage(work, 'basic-denied', 'v1');
      const push = await tryCopy(image.ref(), dockerRef(stack.tap.url, 'team/denied', 'v1'), { creds: `${USER}:wrong password` });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/unauthorized: authentication required/);
      const pull = await tryCopy(dockerRef(stack.tap.url, 'team/app', 'v1'), `oci:${join(work, 'basic-denied-pull')}:v1`, { creds: `${USER}:wrong password` });
      expect(pull.code).not.toBe(0);
      expect(pull.stderr).toMatch(/unauthorized: authentication required/);
      expect((await headManifest(stack.hosted.url, 'team/denied', 'v1', { headers: { authorization: AUTH } })).status).toBe(404);
      expect(existsSync(repositoryDir(stack.hosted, 'team/denied'))).toBe(false);
      expect(leaks(stack, replies)).toEqual([]);
    });
  });

  describe('bearer auth (token service on the origin, JWTs verified by the registries)', () => {
    let stack: Stack;
    let issuer: TokenIssuer;
    const replies: Reply[] = [];

    beforeAll(async () => {
      issuer = await createTokenIssuer({ service: SERVICE, issuer: 'nexus-like-token-issuer', users: { [USER]: PASSWORD } });
      stack = await startStack(runtime, 'bearer', issuer);
    });
    afterAll(() => stack?.stop());

    it('the registries verify the JWTs for real (x5c and libtrust kid headers accepted, a foreign key refused)', async () => {
      const access = [{ type: 'registry', name: 'catalog', actions: ['*'] }];
      for (const keyHeader of ['x5c', 'kid'] as const) {
        const token = await issuer.sign(access, { account: USER, keyHeader });
        expect((await fetch(`${stack.hosted.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } })).status, keyHeader).toBe(200);
      }
      const stranger = await createTokenIssuer({ service: SERVICE, issuer: issuer.issuer, users: {} });
      const forged = await fetch(`${stack.hosted.url}/v2/_catalog`, { headers: { authorization: `Bearer ${await stranger.sign(access)}` } });
      expect(forged.status).toBe(401);
      expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
      // And the origin's own challenge names the origin: what the router has to rewrite.
      const direct = await call(stack.nexus.port, { path: '/repository/docker-group/v2/', host: 'public.example' });
      expect(direct.headers['www-authenticate']).toBe(`Bearer realm="${stack.nexus.url}/repository/docker-group/v2/token",service="${SERVICE}"`);
    });

    it("hands the client a realm on the router's host:port, and routes the token request to the token role", async () => {
      const host = `127.0.0.1:${stack.router.port}`;
      const ping = await call(stack.router.port, { path: '/v2/', host });
      replies.push(ping);
      expect(ping.status).toBe(401);
      expect(ping.headers['www-authenticate']).toBe(`Bearer realm="http://${host}/v2/token",service="${SERVICE}"`);

      const before = stack.nexus.seen.length;
      const scope = encodeURIComponent('repository:team/raw:pull,push');
      const tokenReply = await call(stack.router.port, {
        path: `/v2/token?account=${USER}&scope=${scope}&service=${SERVICE}`,
        host,
        headers: { authorization: AUTH },
      });
      replies.push(tokenReply);
      expect(tokenReply.status, tokenReply.body).toBe(200);
      expect(stack.nexus.seen.slice(before).map((s) => `${s.repo} ${s.path}`)).toEqual([
        `docker-group /v2/token?account=${USER}&scope=${scope}&service=${SERVICE}`,
      ]);
      const token = JSON.parse(tokenReply.body).token as string;
      const { replies: upload } = await handUpload(stack.router.port, host, 'team/raw', Buffer.alloc(40 * KiB, 5), { authorization: `Bearer ${token}` });
      replies.push(...upload);
      expect(leaks(stack, replies)).toEqual([]);
    });

    it(
      'Nexus 3.78+ doubles the port of a forwarded host:port; behind the router a client on :5001 sees realm ' + 'http://registry.example.com:5001/v2/token',
      async () => {
        stack.nexus.options.urlBase = 'nexus-3.78';
        try {
          // What such a Nexus makes of a forwarded host that carries the port (the router sent that before).
          const doubled = await call(stack.nexus.port, {
            path: '/repository/docker-group/v2/',
            host: 'registry.example.com:5001',
            headers: { 'x-forwarded-host': 'registry.example.com:5001' },
          });
          expect(doubled.headers['www-authenticate']).toBe(
            `Bearer realm="http://registry.example.com:5001:5001/repository/docker-group/v2/token",service="${SERVICE}"`,
          );
          for (const host of ['registry.example.com:5001', 'registry-noxfh.example.com:5001']) {
            const before = stack.nexus.seen.length;
            const ping = await call(stack.router.port, { path: '/v2/', host });
            replies.push(ping);
            expect(ping.status).toBe(401);
            expect(ping.headers['www-authenticate'], host).toBe(`Bearer realm="http://${host}/v2/token",service="${SERVICE}"`);
            const sent = stack.nexus.seen.slice(before)[0]!.headers;
            if (host.startsWith('registry.')) expect([sent['x-forwarded-host'], sent['x-forwarded-port']]).toEqual(['registry.example.com', '5001']);
            else expect([sent['x-forwarded-host'], sent['x-forwarded-port']]).toEqual([undefined, undefined]);
            // And the token request through that realm works.
            const scope = encodeURIComponent('repository:team/raw:pull');
            const tokenReply = await call(stack.router.port, { path: `/v2/token?scope=${scope}&service=${SERVICE}`, host, headers: { authorization: AUTH } });
            expect(tokenReply.status, tokenReply.body).toBe(200);
          }
        } finally {
          stack.nexus.options.urlBase = 'self';
        }
      },
    );

    it('follows the site options token: write and ping: write', async () => {
      const host = `localhost:${stack.router.port}`;
      const before = stack.nexus.seen.length;
      const ping = await call(stack.router.port, { path: '/v2/', host });
      replies.push(ping);
      expect(ping.status).toBe(401);
      expect(ping.headers['www-authenticate']).toBe(`Bearer realm="http://${host}/v2/token",service="${SERVICE}"`);
      const tokenReply = await call(stack.router.port, {
        path: `/v2/token?scope=repository%3Ateam%2Fraw%3Apull&service=${SERVICE}`,
        host,
        headers: { authorization: AUTH },
      });
      replies.push(tokenReply);
      expect(tokenReply.status, tokenReply.body).toBe(200);
      expect(stack.nexus.seen.slice(before).map((s) => `${s.repo} ${s.path.split('?')[0]}`)).toEqual(['docker-hosted /v2/', 'docker-hosted /v2/token']);
      expect(leaks(stack, replies)).toEqual([]);
    });

    it('pushes and pulls with skopeo --creds via the rewritten realm, and no header names the origin', async () => {
      const image = await smallImage(work, 'bearer-app', 'v1');
      const issuedBefore = issuer.issued.length;
      await copy(image.ref(), dockerRef(stack.tap.url, 'team/app', 'v1'), { creds: CREDS });
      const pulled = join(work, 'bearer-pulled');
      await copy(dockerRef(stack.tap.url, 'team/app', 'v1'), `oci:${pulled}:v1`, { creds: CREDS });
      expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(image.manifestDigest);
      // It landed in hosted (checked directly, with a token of our own).
      const pullToken = await issuer.sign([{ type: 'repository', name: 'team/app', actions: ['pull'] }], { account: USER });
      expect((await headManifest(stack.hosted.url, 'team/app', 'v1', { headers: { authorization: `Bearer ${pullToken}` } })).digest).toBe(image.manifestDigest);

      // skopeo asked the router for its tokens (the realm it saw), and got push rights for alice.
      const realms = stack.tap.exchanges.flatMap((e) => e.headers.filter(([n]) => n.toLowerCase() === 'www-authenticate').map(([, v]) => v));
      expect(realms.length).toBeGreaterThan(0);
      for (const realm of realms) expect(realm).toContain(`realm="${stack.tap.url}/v2/token"`);
      expect(stack.tap.exchanges.some((e) => e.url.startsWith('/v2/token?') && e.status === 200)).toBe(true);
      const issued = issuer.issued.slice(issuedBefore);
      expect(issued.some((t) => t.account === USER && t.access.some((a) => a.name === 'team/app' && a.actions.includes('push')))).toBe(true);
      expect(leaks(stack, replies)).toEqual([]);
    });

    it('refuses a wrong password at the token endpoint and writes nothing', async () => {
      const host = `127.0.0.1:${stack.router.port}`;
      const denied = await call(stack.router.port, {
        path: `/v2/token?scope=${encodeURIComponent('repository:team/denied:pull,push')}&service=${SERVICE}`,
        host,
        headers: { authorization: basicAuth(USER, 'wrong password') },
      });
      replies.push(denied);
      expect(denied.status).toBe(401);
      expect(JSON.parse(denied.body).errors[0].message).toBe('bad username or password');

      const image = await smallImage(work, 'bearer-denied', 'v1');
      const push = await tryCopy(image.ref(), dockerRef(stack.tap.url, 'team/denied', 'v1'), { creds: `${USER}:wrong password` });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/unable to retrieve auth token: invalid username\/password: unauthorized: bad username or password/);
      const pull = await tryCopy(dockerRef(stack.tap.url, 'team/app', 'v1'), `oci:${join(work, 'bearer-denied-pull')}:v1`, { creds: `${USER}:wrong password` });
      expect(pull.code).not.toBe(0);
      expect(pull.stderr).toMatch(/bad username or password/);
      expect(existsSync(repositoryDir(stack.hosted, 'team/denied'))).toBe(false);
      expect(leaks(stack, replies)).toEqual([]);
    });
  });
});
