/**
 * Direct uploads (README "At the edge"): workerd (miniflare) is the edge with a site body cap of
 * 8 MiB standing in for the platform's; a router on Node or Bun beside the registry is the origin
 * side (`uploadsFromEdge`); real docker-registry hosted and group behind both. skopeo and ctr push
 * an image with a 64 MiB layer through the edge: the worker hands out sealed upload Locations, the
 * layer goes to the origin side, and the worker never sees a body over 8 MiB. Tampered, expired and
 * misplaced capabilities are refused and write nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITY_PARAM, sealCapability, uploadKey } from '../../src/edge/capability.ts';
import { headManifest } from '../support/blob.ts';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import { frontProxy } from '../support/front-proxy.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest } from '../support/skopeo.ts';

const MiB = 1024 * 1024;
const KEY = 'edge-test-shared-secret';
const CAP = 8 * MiB;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request on its own connection. A body over 1 MiB goes as curl sends one: `Expect: 100-continue`,
 * and the body after the server's 100 or after 1 s without an answer. A server that refuses the
 * upload by its Content-Length (413) then answers before any of the body is on the wire; a body
 * written into a connection the server closes unread is reset under the client, answer and all, on
 * servers that do not read it away first (local workerd).
 */
function call(url: string, method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const expectContinue = body !== undefined && body.length > 1024 * 1024;
    let sent = !expectContinue;
    // An answer before the body was sent ends the request: nothing of the body goes.
    const done = (reply: Reply) => {
      if (!sent) req.destroy();
      resolve(reply);
    };
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method,
        path: target.pathname + target.search,
        headers: { ...headers, ...(body && { 'content-length': String(body.length) }), ...(expectContinue && { expect: '100-continue' }) },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done({ status: res.statusCode!, headers: res.headers, body: text }));
        // A router that answers early and closes may reset the socket under the rest of our body.
        res.on('error', () => done({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    let answered = false;
    // The router may answer (413) and close before the whole body is written: the answer counts.
    req.on('response', () => (answered = true));
    // The reset of an early answer can surface on the socket after the request is done with it.
    req.on('socket', (socket) => socket.on('error', () => {}));
    req.on('error', (error) => (answered ? undefined : reject(error)));
    if (!expectContinue) return void req.end(body);
    const sendBody = () => {
      if (sent || answered) return;
      sent = true;
      req.end(body);
    };
    req.on('continue', sendBody);
    const wait = setTimeout(sendBody, 1000);
    req.on('response', () => clearTimeout(wait));
    req.flushHeaders();
  });
}

interface LogLine {
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  upstream: string | null;
}
const logLines = (router: RouterProcess): LogLine[] => router.accessLog() as LogLine[];

describe.each(['node', 'bun'] as const)('direct uploads: workerd edge, %s origin side', (originRuntime) => {
  let work: string;
  let hosted: Registry;
  let group: Registry;
  let origin: RouterProcess;
  let edge: RouterProcess;
  let edgeFront: Awaited<ReturnType<typeof frontProxy>>;
  let image: BuiltImage;

  beforeAll(async () => {
    process.env.UPLOAD_KEY = KEY;
    work = await mkdtemp(join(tmpdir(), 'rr-edge-'));
    hosted = await startRegistry({ name: `edge-hosted-${originRuntime}` });
    group = await startRegistry({ name: `edge-group-${originRuntime}`, proxyRemote: hosted.url });
    const upstreams = { read: group.url, write: hosted.url };
    origin = await startRouter(originRuntime, {
      sites: [{ name: 'uploads', hosts: ['127.0.0.1'], preset: 'docker', upstreams, uploadsFromEdge: { keyEnv: 'UPLOAD_KEY' } }],
    });
    edge = await startRouter('workerd', {
      sites: [
        {
          name: 'docker',
          hosts: ['localhost'],
          preset: 'docker',
          upstreams,
          maxBodySize: CAP,
          health: { checks: false },
          directUploads: { url: `http://127.0.0.1:${origin.port}`, keyEnv: 'UPLOAD_KEY', ttl: 600 },
        },
        // The same edge without direct uploads: a big layer gets a registry 413 that says what to do.
        { name: 'capped', hosts: ['capped.localhost'], preset: 'docker', upstreams, maxBodySize: CAP, health: { checks: false } },
      ],
    });
    // skopeo tries TLS first; local workerd never answers a ClientHello (see front-proxy.ts).
    edgeFront = await frontProxy(edge.port);
    image = await buildImage(join(work, 'images'), {
      tag: '1.0',
      layers: [{ randomBytes: 64 * MiB, seed: `edge-${originRuntime}` }, { files: { 'app/version': '1.0\n' } }],
    });
  }, 180_000);

  afterAll(async () => {
    await edgeFront?.close();
    await edge?.stop();
    await origin?.stop();
    await Promise.all([group?.stop(), hosted?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const edgeHost = () => `localhost:${new URL(edgeFront.url).port}`;

  it('skopeo pushes a 64 MiB layer through an edge capped at 8 MiB: the layer goes to the origin side, sealed', async () => {
    await copy(image.ref(), `docker://${edgeHost()}/team/big:1.0`);
    expect(await inspectDigest(dockerRef(hosted.url, 'team/big', '1.0'))).toBe(image.manifestDigest);
    const edgeLog = logLines(edge);
    expect(edgeLog.some((line) => line.method === 'POST' && line.path === '/v2/team/big/blobs/uploads/' && line.status === 202)).toBe(true);
    expect(Math.max(...edgeLog.map((line) => line.bytesIn))).toBeLessThanOrEqual(CAP);
    const originLog = logLines(origin);
    const layerUpload = originLog.filter((line) => (line.method === 'PATCH' || line.method === 'PUT') && line.path.startsWith('/v2/team/big/blobs/uploads/'));
    expect(Math.max(...layerUpload.map((line) => line.bytesIn))).toBeGreaterThanOrEqual(64 * MiB);
    // The pull comes back through the edge with equal digests.
    const pulled = join(work, `pulled-${originRuntime}`);
    await copy(`docker://${edgeHost()}/team/big:1.0`, `oci:${pulled}:1.0`);
    expect(await inspectDigest(`oci:${pulled}:1.0`)).toBe(image.manifestDigest);
  });

  it('ctr pushes the same image under another name through the edge', async () => {
    let containerd: Containerd | undefined;
    try {
      containerd = await startContainerd();
      const local = await containerd.importImage(image, 'edge/local', { tag: '1.0' });
      await containerd.push(`${edgeHost()}/team/ctr:1.0`, local);
      const head = await headManifest(hosted.url, 'team/ctr', '1.0');
      expect(head.status).toBe(200);
      expect(head.digest).toBe(image.manifestDigest);
    } finally {
      await containerd?.stop();
    }
  });

  it('without directUploads the edge answers a big layer with a registry 413 naming directUploads', async () => {
    const post = await call(`${edge.url}/v2/team/capped/blobs/uploads/`, 'POST', Buffer.alloc(0), { host: `capped.localhost:${edge.port}` });
    expect(post.status).toBe(202);
    const location = new URL(String(post.headers.location));
    const patch = await call(`${edge.url}${location.pathname}${location.search}`, 'PATCH', Buffer.alloc(CAP + 1), {
      host: `capped.localhost:${edge.port}`,
      'content-type': 'application/octet-stream',
    });
    expect(patch.status).toBe(413);
    expect(JSON.parse(patch.body).errors[0].message).toMatch(/directUploads/);
  });

  it('refuses missing, tampered, expired and misplaced capabilities with 403/401, and none of them writes', async () => {
    const post = await call(`${edge.url}/v2/team/refused/blobs/uploads/`, 'POST', Buffer.alloc(0), { host: `localhost:${edge.port}` });
    expect(post.status).toBe(202);
    const sealed = new URL(String(post.headers.location));
    expect(sealed.origin).toBe(`http://127.0.0.1:${origin.port}`);
    const token = sealed.searchParams.get(CAPABILITY_PARAM)!;
    expect(token.length).toBeGreaterThan(20);
    expect(sealed.search).not.toContain('Basic');
    const path = sealed.pathname;
    const otherPath = path.replace(/uploads\/[^/]+$/, 'uploads/00000000-0000-0000-0000-000000000000');
    const key = await uploadKey(KEY);
    const expired = await sealCapability(key, { authorization: null, path, expires: Math.floor(Date.now() / 1000) - 1 });
    const tampered = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
    const bare = sealed.search.replace(new RegExp(`[?&]${CAPABILITY_PARAM}=[^&]*`), '');
    const body = Buffer.alloc(1024, 1);
    const before = logLines(origin).length;
    const attempts: Array<[string, string, number]> = [
      ['no capability', `${path}${bare}`, 403],
      ['tampered', `${path}${bare}&${CAPABILITY_PARAM}=${tampered}`, 401],
      ['expired', `${path}${bare}&${CAPABILITY_PARAM}=${expired}`, 401],
      ['for another upload', `${otherPath}${bare}&${CAPABILITY_PARAM}=${token}`, 401],
      ['not an upload at all', `/v2/team/refused/manifests/1.0?${CAPABILITY_PARAM}=${token}`, 403],
    ];
    for (const [what, target, status] of attempts) {
      const reply = await call(`http://127.0.0.1:${origin.port}${target}`, 'PATCH', body, {
        host: `127.0.0.1:${origin.port}`,
        'content-type': 'application/octet-stream',
      });
      expect(reply.status, what).toBe(status);
      expect(JSON.parse(reply.body).errors[0].message, what).toBeTypeOf('string');
    }
    // Log lines are written when each answer has gone out: wait for all of them.
    for (let i = 0; i < 50 && logLines(origin).length < before + attempts.length; i++) await new Promise((r) => setTimeout(r, 100));
    const refused = logLines(origin).slice(before);
    expect(refused.map((line) => line.upstream)).toEqual(attempts.map(() => null));
    // The sealed Location itself still works: the upload was not disturbed by the attempts.
    const ok = await call(sealed.href, 'PATCH', body, { host: `127.0.0.1:${origin.port}`, 'content-type': 'application/octet-stream' });
    expect(ok.status).toBe(202);
    expect(new URL(String(ok.headers.location)).searchParams.get(CAPABILITY_PARAM)).toBeTruthy();
  });
});
