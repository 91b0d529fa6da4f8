/**
 * Edge cases a real registry cannot produce on demand, driven through the router as a real
 * process (one per runtime) against small in-process origins.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin } from '../support/origin.ts';
import { freePort } from '../support/ports.ts';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { leaveMidUpload } from '../support/uploads.ts';

/** MiB the firehose origin has handed to its socket so far. */
let firehoseSent = 0;

const BULK = Buffer.alloc(5 * 1024 * 1024, 5);
const GZIPPED = gzipSync(Buffer.from('{"hello":"registry"}'.repeat(100)));

function handler(role: string) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = req.url!.split('?')[0]!;
    res.setHeader('x-origin', role);
    if (path.endsWith('/hang')) return; // never answers
    if (path.endsWith('/gzip')) {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json', 'content-length': GZIPPED.length });
      return res.end(GZIPPED);
    }
    if (path.endsWith('/firehose')) {
      // Writes 256 MiB as fast as the socket takes it; `firehoseSent` shows how far backpressure let it get.
      const chunk = Buffer.alloc(1024 * 1024, 3);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 256 * chunk.length });
      firehoseSent = 0;
      const pump = () => {
        while (firehoseSent < 256) {
          firehoseSent++;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      return pump();
    }
    if (path.endsWith('/untyped-empty')) {
      // A registry's upload answers: no body, no Content-Type.
      res.writeHead(202, { 'content-length': 0, location: '/v2/team/app/blobs/uploads/1' });
      return res.end();
    }
    if (path.endsWith('/untyped')) {
      res.writeHead(400, { 'content-length': 6 });
      return res.end('exists');
    }
    if (path.endsWith('/redirect')) {
      res.writeHead(307, { location: 'http://cdn.example/blob' });
      return res.end();
    }
    if (path.endsWith('/bulk')) {
      // 5 MiB at once: most of it waits in buffers while its client does not read.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BULK.length });
      return res.end(BULK);
    }
    if (path.endsWith('/slow')) {
      let sent = 0;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 20 * 1024 });
      const timer = setInterval(() => {
        res.write(Buffer.alloc(1024, 1));
        if (++sent === 20) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      return;
    }
    if (path.includes('/manifests/')) {
      // A HEAD answer carries the length of the body it does not send.
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'content-length': 1234,
        connection: 'close, x-hop',
        'x-hop': 'secret',
      });
      return res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1234, 32));
    }
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(req.method === 'GET' ? 200 : 201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bytes }));
    });
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(
  router: RouterProcess,
  opts: { method?: string; path: string; host: string; headers?: Record<string, string | number>; body?: Buffer | 'chunked'; chunks?: number },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      // A connection per request: a kept one reused as the router's 2 s keep-alive runs out is reset under the client.
      { host: '127.0.0.1', port: router.port, method: opts.method ?? 'GET', path: opts.path, headers: { host: opts.host, ...opts.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body === 'chunked') {
      // A streamed body of `chunks` MiB, written as fast as the router takes it.
      let left = opts.chunks ?? 3;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!req.write(Buffer.alloc(1024 * 1024, 7))) return void req.once('drain', pump);
        }
        req.end();
      };
      req.on('error', () => {});
      pump();
    } else req.end(opts.body);
  });
}

describe.each(RUNTIMES)('router edge cases on %s', (runtime) => {
  let router: RouterProcess;
  let read: Awaited<ReturnType<typeof startOrigin>>;
  let write: Awaited<ReturnType<typeof startOrigin>>;
  let web: Awaited<ReturnType<typeof startOrigin>>;
  const DOCKER = 'idocker.io:5000';

  beforeAll(async () => {
    [read, write, web] = await Promise.all([startOrigin(handler('read')), startOrigin(handler('write')), startOrigin(handler('web'))]);
    const deadPort = await freePort();
    router = await startRouter(runtime, {
      timeouts: { idle: 2 },
      sites: [
        { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: read.url, write: write.url } },
        { name: 'web', hosts: ['repo.example.com', '*.example.org'], upstream: web.url, maxBodySize: '1m', rules: [{ methods: ['DELETE'], to: 'deny' }] },
        { name: 'down', hosts: ['down.example.com'], preset: 'docker', upstream: `http://127.0.0.1:${deadPort}` },
      ],
    });
  });
  afterAll(async () => {
    await router?.stop();
    await Promise.all([read?.close(), write?.close(), web?.close()]);
  });

  it('answers 421 for an unknown Host and forwards nothing', async () => {
    const before = read.seen.length + write.seen.length + web.seen.length;
    const reply = await send(router, { path: '/v2/', host: 'unknown.example:5000' });
    expect(reply.status).toBe(421);
    expect(JSON.parse(reply.body.toString()).errors[0].code).toBe('UNSUPPORTED');
    expect(read.seen.length + write.seen.length + web.seen.length).toBe(before);
  });

  it('splits reads and writes by the docker rules', async () => {
    expect((await send(router, { path: '/v2/team/app/tags/list', host: DOCKER })).headers['x-origin']).toBe('read');
    expect((await send(router, { method: 'POST', path: '/v2/team/app/blobs/uploads/', host: DOCKER })).headers['x-origin']).toBe('write');
    expect((await send(router, { method: 'HEAD', path: `/v2/team/app/blobs/sha256:${'0'.repeat(64)}`, host: DOCKER })).headers['x-origin']).toBe('write');
  });

  const hostSent = LIMITS[runtime].sendsHost ? 'the client Host with its port' : 'the upstream Host (a worker cannot choose it)';
  it(`sends ${hostSent} and clean forwarding headers`, async () => {
    const reply = await send(router, {
      path: '/v2/x/tags/list?n=1&last=a%2Fb',
      host: DOCKER,
      headers: { 'x-forwarded-host': 'a, b', 'x-forwarded-for': '198.51.100.9', connection: 'x-private', 'x-private': '1' },
    });
    const seen = JSON.parse(reply.body.toString());
    expect(seen.url).toBe('/v2/x/tags/list?n=1&last=a%2Fb');
    expect(seen.headers.host).toBe(LIMITS[runtime].sendsHost ? DOCKER : new URL(read.url).host);
    // The port travels apart, so a Nexus 3.78+ cannot double it.
    expect([seen.headers['x-forwarded-host'], seen.headers['x-forwarded-port']]).toEqual(['idocker.io', '5000']);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-for']).toMatch(/^198\.51\.100\.9, (::ffff:)?127\.0\.0\.1$/);
    expect(seen.headers['x-real-ip']).toMatch(/127\.0\.0\.1$/);
    expect(seen.headers['x-private']).toBeUndefined();
  });

  const absoluteRouted = {
    authority: 'by its authority',
    'host-header': 'by Host (the runtime drops the authority)',
    refused: 'nowhere (the runtime refuses it)',
  }[LIMITS[runtime].absoluteForm];
  it(`routes an absolute-form request target ${absoluteRouted}`, async () => {
    const absolute = (host: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(router.port, '127.0.0.1', () => {
          socket.write(`GET http://repo.example.com/abs?q=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        });
        let data = '';
        socket.on('data', (c) => (data += c));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
    const before = web.seen.length;
    const raw = await absolute('unknown.invalid');
    switch (LIMITS[runtime].absoluteForm) {
      case 'authority':
        expect(raw).toMatch(/^HTTP\/1\.1 200/);
        expect(raw).toMatch(/x-origin: web/i);
        break;
      case 'host-header':
        // Routed by the Host header: an unknown one is refused, a known one is served.
        expect(raw).toMatch(/^HTTP\/1\.1 421/);
        expect(await absolute('repo.example.com')).toMatch(/x-origin: web/i);
        break;
      case 'refused':
        expect(raw).toMatch(/^HTTP\/1\.1 [45]\d\d/);
        expect(web.seen.length).toBe(before);
        break;
    }
  });

  it("answers a method a rule denies itself, in the client's format", async () => {
    const before = web.seen.length;
    const reply = await send(router, { method: 'DELETE', path: '/pkg', host: 'repo.example.com' });
    expect(reply.status).toBe(405);
    expect(JSON.parse(reply.body.toString())).toMatchObject({ error: 'denied', message: 'site web does not accept DELETE /pkg' });
    expect(web.seen.length).toBe(before);
  });

  it('matches wildcard hosts', async () => {
    expect((await send(router, { path: '/w', host: 'a.example.org' })).headers['x-origin']).toBe('web');
  });

  it('answers HEAD with the origin Content-Length and no body, and strips hop-by-hop headers', async () => {
    const reply = await send(router, { method: 'HEAD', path: '/v2/team/app/manifests/latest', host: DOCKER });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-length']).toBe('1234');
    expect(reply.body.length).toBe(0);
    expect(reply.headers['x-hop']).toBeUndefined();
  });

  const typesUntyped = LIMITS[runtime].typesUntypedBodies;
  it(`adds no Content-Type to answers that had none${typesUntyped ? ` (except ${typesUntyped} on a body: the runtime adds it)` : ''}`, async () => {
    const empty = await send(router, { method: 'POST', path: '/v2/team/app/blobs/uploads/untyped-empty', host: DOCKER });
    expect(empty.status).toBe(202);
    expect(empty.headers['content-type']).toBeUndefined();
    expect(empty.headers['content-length']).toBe('0');
    const body = await send(router, { path: '/untyped', host: 'repo.example.com' });
    expect(body.status).toBe(400);
    expect(body.body.toString()).toBe('exists');
    expect(body.headers['content-type']).toBe(LIMITS[runtime].typesUntypedBodies);
  });

  it('passes compressed bytes through undecoded', async () => {
    const reply = await send(router, { path: '/gzip', host: 'repo.example.com', headers: { 'accept-encoding': 'gzip' } });
    expect(reply.headers['content-encoding']).toBe('gzip');
    expect(Number(reply.headers['content-length'] ?? reply.body.length)).toBe(GZIPPED.length);
    expect(reply.body.equals(GZIPPED)).toBe(true);
  });

  it('holds a fast origin back while the client reads slowly (no response buffering)', async () => {
    const paused = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: router.port, path: '/firehose', headers: { host: 'repo.example.com' } }, (res) => {
        let got = 0;
        res.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got < 16 * 1024 * 1024) return;
          // Stop reading after 16 MiB; whatever the origin writes meanwhile sits in buffers.
          res.pause();
          setTimeout(() => {
            resolve(firehoseSent);
            req.destroy();
          }, 2000);
          res.removeAllListeners('data');
        });
      });
      req.on('error', (error) => (error.message.includes('socket hang up') ? undefined : reject(error)));
      req.end();
    });
    // Socket buffers on both hops and a few stream chunks fit in far less than the 256 MiB on offer.
    console.info(`${runtime}: origin wrote ${paused} MiB while the client held 16`);
    expect(paused).toBeLessThan(64);
  });

  it('hands redirects to the client instead of following them', async () => {
    const reply = await send(router, { path: '/redirect', host: 'repo.example.com' });
    expect(reply.status).toBe(307);
    expect(reply.headers.location).toBe('http://cdn.example/blob');
  });

  it('refuses a body over the cap by its Content-Length without forwarding', async () => {
    const before = web.seen.length;
    const reply = await send(router, { method: 'PUT', path: '/big', host: 'repo.example.com', body: Buffer.alloc(2 * 1024 * 1024) });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body.toString()).message).toMatch(/larger than this site accepts/);
    await new Promise((r) => setTimeout(r, 200));
    expect(web.seen.length).toBe(before);
  });

  it('cuts a streamed body as soon as it passes the cap: 413, and the origin never gets all of it', async () => {
    const before = web.seen.length;
    const reply = await send(router, { method: 'PUT', path: '/streamed', host: 'repo.example.com', body: 'chunked', chunks: 8 }).catch((e: Error) => e);
    if (!(reply instanceof Error)) expect(reply.status).toBe(413);
    const seen = await web.waitFor(before + 1);
    expect(seen.bodyBytes).toBeLessThan(8 * 1024 * 1024);
    expect(seen.complete).toBe(false);
  });

  it('answers 502 in registry JSON when the upstream is down', async () => {
    const reply = await send(router, { path: '/v2/', host: 'down.example.com' });
    expect(reply.status).toBe(502);
    expect(reply.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const body = JSON.parse(reply.body.toString());
    expect(body.errors[0].code).toBe('UNAVAILABLE');
    // The cause by name, not "unreachable" (src/forward/net-errors.ts); workerd's fetch names none.
    expect(body.errors[0].message).toMatch(
      runtime === 'workerd' ? /127\.0\.0\.1:\d+: connection failed or was lost/ : /127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/,
    );
  });

  it('answers 504 when the upstream stays silent past the idle timeout', async () => {
    const started = Date.now();
    const reply = await send(router, { path: '/v2/x/hang', host: DOCKER });
    expect(reply.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('aborts the upstream upload when the client goes away mid-body', async () => {
    const before = write.seen.length;
    await leaveMidUpload(router.port, { method: 'PATCH', path: '/v2/a/blobs/uploads/u1', host: DOCKER });
    const seen = await write.waitFor(before + 1, 5000);
    expect(seen.complete).toBe(false);
  });

  it('writes one JSON access-log line per request', async () => {
    await send(router, { path: '/v2/team/app/tags/list', host: DOCKER });
    const lines = router
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const entry = lines.findLast((l) => l.path === '/v2/team/app/tags/list');
    expect(entry).toMatchObject({ site: 'docker', host: DOCKER, method: 'GET', status: 200, role: 'read', upstream: read.url });
    expect(entry.bytesOut).toBeGreaterThan(0);
    expect(typeof entry.durationMs).toBe('number');
  });

  it('finishes transfers in flight on SIGTERM, a slow upstream and a client that stopped reading alike, then exits 0', async () => {
    const download = send(router, { path: '/slow', host: 'repo.example.com' });
    // A client that reads nothing of its answer until after SIGTERM: the rest of its answer waits
    // in the router's buffers, and must not go with the connections the drain closes as idle.
    let resume = () => {};
    const resumed = new Promise<void>((r) => (resume = r));
    let reading: () => void;
    const started = new Promise<void>((r) => (reading = r));
    const paused = new Promise<number>((done, fail) => {
      const req = httpRequest({ host: '127.0.0.1', port: router.port, path: '/bulk', headers: { host: 'repo.example.com' } }, (res) => {
        let bytes = 0;
        res.pause();
        reading();
        void resumed.then(() => res.resume());
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => done(bytes));
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end();
    });
    await started;
    await new Promise((r) => setTimeout(r, 500));
    const exit = router.stop('SIGTERM');
    // Long enough for the drain to look for idle connections several times (every 100 ms on Node).
    await new Promise((r) => setTimeout(r, 500));
    resume();
    expect(await paused).toBe(BULK.length);
    const reply = await download;
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBe(20 * 1024);
    expect(await exit).toBe(0);
  });
});
