/**
 * Blob cache at the edge (src/edge/blob-cache.ts), workerd only: the worker with `blobCache` in
 * front of real docker-registry hosted and pull-through group, both behind htpasswd, a logging
 * proxy between the worker and the group so the test sees what the origin was asked; skopeo pulls
 * through the worker (via frontProxy). miniflare's local Cache API stores for real (in a temp
 * folder by default, `cache: true`): the second pull is answered from it.
 *
 * A small in-process origin on a second site serves wrong, short and over-size bodies for a digest:
 * none of them is ever served from the cache.
 *
 * Last, the worker's memory while it streams: flat from 256 MiB to 2 GiB more each way (it grew by
 * ~40 MiB over that before src/stream/tap.ts read workerd's bodies 64 KiB at a time).
 */
import { createHash } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frontProxy } from '../support/front-proxy.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { LIMITS, startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest } from '../support/skopeo.ts';

const MiB = 1024 * 1024;
const USER = { user: 'puller', password: 'cache-test-secret' };
const CREDS = `${USER.user}:${USER.password}`;
const BASIC = `Basic ${Buffer.from(CREDS).toString('base64')}`;
const WRONG = `Basic ${Buffer.from(`${USER.user}:not-the-password`).toString('base64')}`;

interface Seen {
  method: string;
  path: string;
  query: string;
  status: number;
}

/** An HTTP proxy in front of `target` that records every request and its answer's status. */
async function loggingProxy(target: string): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const base = new URL(target);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://proxy');
    const upstream = http.request(
      { host: base.hostname, port: base.port, method: req.method, path: req.url, headers: { ...req.headers, host: base.host } },
      (answer) => {
        seen.push({ method: req.method!, path: url.pathname, query: url.search, status: answer.statusCode! });
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A GET through the worker with a Host of our choosing; a body that breaks off comes back short. */
function get(url: string, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = http.request({ host: target.hostname, port: target.port, method: 'GET', path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      // An origin that broke off: the body ends short and the connection closes.
      res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', (error) => (answered ? undefined : reject(error)));
    req.end();
  });
}

interface LogLine {
  method: string;
  path: string;
  status: number;
  site: string;
  role: string | null;
  bytesOut: number;
  cache?: string;
}
const logLines = (router: RouterProcess): LogLine[] =>
  router
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

/** Log lines are written when each body is done: wait until `count` lines for `path` are there. */
async function linesFor(router: RouterProcess, path: string, count: number): Promise<LogLine[]> {
  for (let i = 0; i < 100; i++) {
    const lines = logLines(router).filter((line) => line.path === path);
    if (lines.length >= count) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
  return logLines(router).filter((line) => line.path === path);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('blob cache at the edge (workerd)', () => {
  let work: string;
  let hosted: Registry;
  let group: Registry;
  let groupLog: Awaited<ReturnType<typeof loggingProxy>>;
  let edge: RouterProcess;
  let edgeFront: Awaited<ReturnType<typeof frontProxy>>;
  let image: BuiltImage;
  // The in-process origin of the `poison` site: what it answers for a blob is set per test.
  let originAnswer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.writeHead(404).end();
  const originSeen: Array<{ method: string; path: string }> = [];
  let origin: http.Server;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rr-edge-cache-'));
    // The group, which reads go to and the cache's checks ask, requires login. Hosted stands for an
    // internal member (Distribution's proxy cannot log in to an htpasswd remote: see nexus.test.ts).
    hosted = await startRegistry({ name: 'cache-hosted' });
    group = await startRegistry({ name: 'cache-group', proxyRemote: hosted.url, htpasswd: USER });
    groupLog = await loggingProxy(group.url);
    origin = http.createServer((req, res) => {
      originSeen.push({ method: req.method!, path: new URL(req.url!, 'http://origin').pathname });
      originAnswer(req, res);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
    edge = await startRouter('workerd', {
      sites: [
        {
          name: 'docker',
          hosts: ['localhost', '127.0.0.1'],
          preset: 'docker',
          upstreams: { read: groupLog.url, write: hosted.url },
          health: { checks: false },
          blobCache: true,
        },
        {
          name: 'poison',
          hosts: ['poison.localhost'],
          preset: 'docker',
          upstreams: { read: originUrl, write: originUrl },
          health: { checks: false },
          blobCache: true,
        },
      ],
    });
    // skopeo tries TLS first; local workerd never answers a ClientHello (see front-proxy.ts).
    edgeFront = await frontProxy(edge.port);
    image = await buildImage(join(work, 'image'), {
      tag: '1.0',
      layers: [{ randomBytes: 8 * MiB, seed: 'edge-cache-base' }, { files: { 'app/version': '1.0\n' } }, { randomBytes: 2 * MiB, seed: 'edge-cache-top' }],
    });
    // Straight into hosted: the pulls below are what this suite is about.
    await copy(image.ref(), dockerRef(hosted.url, 'team/app', '1.0'));
  }, 180_000);

  afterAll(async () => {
    if (process.env.DEBUG_CACHE)
      console.log(edge?.stderr(), edge?.stdout(), await group?.logTail(30), await hosted?.logTail(30), JSON.stringify(groupLog?.seen));
    await edgeFront?.close();
    await edge?.stop();
    await groupLog?.close();
    await new Promise((resolve) => (origin ? origin.close(resolve) : resolve(undefined)));
    await Promise.all([group?.destroy(), hosted?.destroy()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const edgeRef = (tag: string) => `docker://localhost:${new URL(edgeFront.url).port}/team/app:${tag}`;
  const blobDigests = () => [image.configDigest, ...image.layerDigests];
  const blobPath = (digest: string) => `/v2/team/app/blobs/${digest}`;

  it('the second pull of an image takes every blob from the cache: the origin sees only HEADs for them', async () => {
    const before = groupLog.seen.length;
    await copy(edgeRef('1.0'), `oci:${join(work, 'pull-1')}:1.0`, { srcCreds: CREDS });
    expect(await inspectDigest(`oci:${join(work, 'pull-1')}:1.0`)).toBe(image.manifestDigest);
    const first = groupLog.seen.slice(before).filter((seen) => seen.path.includes('/blobs/'));
    for (const digest of blobDigests())
      expect(
        first.filter((seen) => seen.path === blobPath(digest) && seen.method === 'GET' && seen.status === 200),
        digest,
      ).toHaveLength(1);

    const middle = groupLog.seen.length;
    await copy(edgeRef('1.0'), `oci:${join(work, 'pull-2')}:1.0`, { srcCreds: CREDS });
    expect(await inspectDigest(`oci:${join(work, 'pull-2')}:1.0`)).toBe(image.manifestDigest);
    const second = groupLog.seen.slice(middle);
    const blobRequests = second.filter((seen) => seen.path.includes('/blobs/'));
    expect(blobRequests.map((seen) => `${seen.method} ${seen.path} ${seen.status}`).sort()).toEqual(
      blobDigests()
        .map((digest) => `HEAD ${blobPath(digest)} 200`)
        .sort(),
    );
    expect(blobRequests.every((seen) => seen.query === '?registry-router-cache-check=read')).toBe(true);
    // The manifest by tag was asked of the origin both times: tags are never cached.
    expect(second.filter((seen) => seen.method === 'GET' && seen.path === '/v2/team/app/manifests/1.0')).toHaveLength(1);

    // The access log says which was which; the authorization HEADs went to the group (read), never to hosted.
    for (const digest of blobDigests()) {
      const lines = await linesFor(edge, blobPath(digest), 3);
      expect(
        lines.map((line) => `${line.method} ${line.status} ${line.cache} ${line.role}`),
        digest,
      ).toEqual(['GET 200 miss read', 'HEAD 200 check read', 'GET 200 hit cache']);
      const hit = lines[2]!;
      expect(hit.bytesOut).toBe(image.blobs.find((blob) => blob.digest === digest)!.size);
    }
  });

  it("a client with wrong or no credentials gets the origin's 401 for a cached blob", async () => {
    const digest = image.layerDigests[0]!;
    const host = { host: `localhost:${edge.port}` };
    const before = groupLog.seen.length;
    for (const authorization of [WRONG, undefined]) {
      const reply = await get(edge.url, blobPath(digest), { ...host, ...(authorization && { authorization }) });
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toMatch(/^Basic /);
      expect(JSON.parse(reply.body.toString()).errors[0].code).toBe('UNAUTHORIZED');
    }
    // Each: the check was refused, then the GET went to the origin as without a cache.
    expect(groupLog.seen.slice(before).map((seen) => `${seen.method} ${seen.status}`)).toEqual(['HEAD 401', 'GET 401', 'HEAD 401', 'GET 401']);
    // The right credentials still get it from the cache.
    const ok = await get(edge.url, blobPath(digest), { ...host, authorization: BASIC });
    expect(ok.status).toBe(200);
    expect(`sha256:${sha256(ok.body)}`).toBe(digest);
  });

  it('answers a Range from the cache with 206', async () => {
    const digest = image.layerDigests[0]!;
    const bytes = await readFile(join(image.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
    const before = groupLog.seen.length;
    const reply = await get(edge.url, blobPath(digest), { host: `localhost:${edge.port}`, authorization: BASIC, range: 'bytes=1000-1999' });
    expect(reply.status).toBe(206);
    expect(reply.headers['content-range']).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(reply.body.equals(bytes.subarray(1000, 2000))).toBe(true);
    expect(groupLog.seen.slice(before).map((seen) => seen.method)).toEqual(['HEAD']);
  });

  describe('an origin that sends the wrong bytes for a digest', () => {
    const good = Buffer.alloc(256 * 1024, 'good bytes ');
    const digest = `sha256:${sha256(good)}`;
    const path = `/v2/team/poison/blobs/${digest}`;
    const host = () => ({ host: `poison.localhost:${edge.port}` });
    const serve = (body: Buffer, { declare = body.length, cut = false } = {}) => {
      originAnswer = (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(declare), 'docker-content-digest': digest });
        if (req.method === 'HEAD') return void res.end();
        if (cut) {
          res.write(body);
          setTimeout(() => res.destroy(), 50);
        } else res.end(body);
      };
    };
    const asked = (from: number) => originSeen.slice(from).map((seen) => seen.method);

    it('never poisons the cache: a wrong body, then a short one, each time a miss again', async () => {
      const wrong = Buffer.alloc(good.length, 'bad bytes! ');
      serve(wrong);
      let from = originSeen.length;
      const first = await get(edge.url, path, host());
      expect(first.status).toBe(200);
      // The client gets what the origin sent (docker checks the digest itself) …
      expect(first.body.equals(wrong)).toBe(true);
      // … and the next request is a miss again, not a HEAD before cached bytes.
      const second = await get(edge.url, path, host());
      expect(second.body.equals(wrong)).toBe(true);
      expect(asked(from)).toEqual(['GET', 'GET']);
      expect(edge.stderr()).toMatch(new RegExp(`not storing ${digest}.*hash to sha256:${sha256(wrong)}`));

      // The right bytes, cut short by the origin: not stored either.
      serve(good.subarray(0, good.length / 2), { declare: good.length, cut: true });
      from = originSeen.length;
      const short = await get(edge.url, path, host());
      expect(short.body.length).toBeLessThan(good.length);
      serve(good);
      const whole = await get(edge.url, path, host());
      expect(whole.body.equals(good)).toBe(true);
      expect(asked(from)).toEqual(['GET', 'GET']);
      // Only now, stored: the next one is checked with a HEAD and served from the cache.
      from = originSeen.length;
      const cached = await get(edge.url, path, host());
      expect(cached.body.equals(good)).toBe(true);
      expect(asked(from)).toEqual(['HEAD']);
      const lines = (await linesFor(edge, path, 6)).filter((line) => line.method === 'GET').map((line) => line.cache);
      expect(lines).toEqual(['miss', 'miss', 'miss', 'miss', 'hit']);
    });

    it('streams a blob over 512 MiB through uncached (bypass)', async () => {
      const huge = `sha256:${'e'.repeat(64)}`;
      // Declared over the cap; 4 MiB are enough to see it stream (the origin then breaks off, so the
      // line is written: local workerd writes none for a transfer the client hangs up on).
      originAnswer = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(512 * MiB + 1) });
        res.write(Buffer.alloc(4 * MiB));
        setTimeout(() => res.destroy(), 100);
      };
      const hugePath = `/v2/team/poison/blobs/${huge}`;
      const from = originSeen.length;
      const reply = await get(edge.url, hugePath, host());
      expect(reply.status).toBe(200);
      expect(reply.headers['content-length']).toBe(String(512 * MiB + 1));
      expect(reply.body.length).toBe(4 * MiB);
      const [line] = await linesFor(edge, hugePath, 1);
      expect(line!.cache).toBe('bypass');
      expect(asked(from)).toEqual(['GET']);
    });
  });
});

describe('worker memory while streaming (workerd)', () => {
  const chunk = Buffer.alloc(MiB, 0x5a);
  let origin: http.Server;
  let router: RouterProcess;

  /** Writes `size` bytes to `out`, honouring backpressure. */
  const pump = (out: http.ServerResponse | http.ClientRequest, size: number) => {
    let left = size;
    const more = () => {
      while (left > 0) {
        const piece = left >= MiB ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!out.write(piece)) return void out.once('drain', more);
      }
      out.end();
    };
    more();
  };

  beforeAll(async () => {
    // As fast as the loopback goes: downloads of ?n bytes, uploads counted and dropped.
    origin = http.createServer((req, res) => {
      if (req.method === 'GET') {
        const size = Number(new URL(req.url!, 'http://origin').searchParams.get('n') ?? 0);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
        return pump(res, size);
      }
      let got = 0;
      req.on('data', (piece: Buffer) => (got += piece.length));
      req.on('end', () => res.end(String(got)));
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
    router = await startRouter(
      'workerd',
      { sites: [{ name: 'files', hosts: ['127.0.0.1'], preset: 'generic', upstream: url, health: { checks: false } }] },
      { quiet: true },
    );
  });

  afterAll(async () => {
    await router?.stop();
    await new Promise((resolve) => (origin ? origin.close(resolve) : resolve(undefined)));
  });

  const down = (size: number) =>
    new Promise<number>((resolve, reject) => {
      http
        .get(`${router.url}/blob?n=${size}`, { agent: false }, (res) => {
          let got = 0;
          res.on('data', (piece: Buffer) => (got += piece.length));
          res.on('end', () => resolve(got));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  // Chunked, as docker sends a layer.
  const up = (size: number) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request(`${router.url}/upload`, { method: 'PUT', agent: false }, (res) => {
        let text = '';
        res.on('data', (piece: Buffer) => (text += piece));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      pump(req, size);
    });
  const each = async (total: number) => {
    for (let done = 0; done < total; done += 256 * MiB) expect(await down(256 * MiB)).toBe(256 * MiB);
    for (let done = 0; done < total; done += 256 * MiB) expect(await up(256 * MiB)).toBe(String(256 * MiB));
    await new Promise((r) => setTimeout(r, 1000));
    return router.rss();
  };

  it('RSS after 2 GiB more each way stays within 32 MiB of RSS after 256 MiB', async () => {
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, router.rss())), 100);
    try {
      const idle = router.rss();
      const started = Date.now();
      const after256 = await each(256 * MiB);
      const after2304 = await each(2048 * MiB);
      const seconds = (Date.now() - started) / 1000;
      console.info(
        `workerd RSS: idle ${(idle / MiB).toFixed(0)} MiB, after 256 MiB each way ${(after256 / MiB).toFixed(0)} MiB, ` +
          `after 2 GiB more ${(after2304 / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB; ${((2 * 2304) / seconds).toFixed(0)} MiB/s`,
      );
      expect(after2304).toBeLessThanOrEqual(after256 + 32 * MiB);
      expect(peak).toBeLessThan(LIMITS.workerd.rssBudgetMiB * MiB);
    } finally {
      clearInterval(sampler);
    }
  }, 180_000);
});
