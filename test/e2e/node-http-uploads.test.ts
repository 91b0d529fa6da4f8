/**
 * Uploads through node:http — Node's, and Bun's where `bun run src/node.ts` serves through it (a
 * PyPI site makes it choose that server, src/adapter/node/on-bun.ts) — where the request body is
 * read straight from the IncomingMessage (src/adapter/node/incoming-body.ts): bytes arrive whole and
 * in order, a body past the cap is cut, an unread body still gets its error answer, and a client
 * that leaves mid-body, or sends less than it declared, breaks the upload at the origin.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin } from '../support/origin.ts';
import { startRouter, type RouterProcess } from '../support/router.ts';
import { leaveMidUpload } from '../support/uploads.ts';

const HOST = 'pypi.example.com';

/** The origin: answers a body's length and SHA-256 once it has all of it. */
function handler(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  req.on('end', () => {
    const body = JSON.stringify({ bytes, sha256: hash.digest('hex') });
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** A POST of `chunks` (written as the router takes them, chunked); the status and body of the answer. */
function put(port: number, path: string, chunks: Buffer[], headers: Record<string, string | number> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { host: HOST, ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    let next = 0;
    const pump = () => {
      while (next < chunks.length) if (!req.write(chunks[next++])) return void req.once('drain', pump);
      req.end();
    };
    pump();
  });
}

describe.each(['node', 'bun-node'] as const)('uploads through node:http on %s (a PyPI site)', (runtime) => {
  let router: RouterProcess;
  let origin: Awaited<ReturnType<typeof startOrigin>>;

  beforeAll(async () => {
    origin = await startOrigin(handler);
    router = await startRouter(runtime, {
      sites: [{ name: 'pypi', hosts: [HOST], preset: 'pypi', upstream: `${origin.url}/repository/pypi/`, maxBodySize: '16m' }],
    });
  });
  afterAll(async () => {
    await router?.stop();
    await origin?.close();
  });

  // Node always does; under Bun a PyPI site is what makes the Node entry serve through node:http.
  if (runtime === 'bun-node') {
    it('serves through node:http', () => {
      expect(router.stderr()).toMatch(/serving through node:http/);
    });
  }

  it('passes an upload through whole and in order', async () => {
    // Chunks of different sizes and contents: a chunk lost, repeated or reordered changes the digest.
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(37_000 + i * 4_099, i));
    const whole = Buffer.concat(chunks);
    const reply = await put(router.port, '/legacy/', chunks);
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body)).toEqual({ bytes: whole.length, sha256: createHash('sha256').update(whole).digest('hex') });
  });

  it('passes a body with a declared length through whole', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
    const reply = await put(router.port, '/legacy/', [body], { 'content-length': body.length });
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body).bytes).toBe(body.length);
  });

  it('answers 413 to a declared length over the cap, the body unread, and forwards nothing', async () => {
    const before = origin.seen.length;
    const body = Buffer.alloc(17 * 1024 * 1024);
    const reply = await put(router.port, '/legacy/', [body], { 'content-length': body.length }).catch((error: Error) => error);
    // The client may still be writing when the answer and the close come; either way nothing went upstream.
    if (!(reply instanceof Error)) expect(reply.status).toBe(413);
    await new Promise((r) => setTimeout(r, 200));
    expect(origin.seen.length).toBe(before);
  });

  it('cuts a streamed body as soon as it passes the cap: 413, and the origin never gets all of it', async () => {
    const before = origin.seen.length;
    const chunks = Array.from({ length: 24 }, () => Buffer.alloc(1024 * 1024, 1));
    const reply = await put(router.port, '/legacy/', chunks).catch((error: Error) => error);
    if (!(reply instanceof Error)) expect(reply.status).toBe(413);
    const seen = await origin.waitFor(before + 1);
    expect(seen.bodyBytes).toBeLessThan(24 * 1024 * 1024);
    expect(seen.complete).toBe(false);
  });

  it('breaks the upload at the origin when the client goes away mid-body', async () => {
    const before = origin.seen.length;
    await leaveMidUpload(router.port, { method: 'POST', path: '/legacy/', host: HOST });
    const seen = await origin.waitFor(before + 1, 5000);
    expect(seen.complete).toBe(false);
  });

  it('breaks the upload at the origin when the body is shorter than its Content-Length', async () => {
    const before = origin.seen.length;
    const socket = connect(router.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`POST /legacy/ HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 2000000\r\n\r\n`);
    socket.write(Buffer.alloc(700_000, 4));
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy();
    const seen = await origin.waitFor(before + 1, 5000);
    expect(seen.complete).toBe(false);
    expect(seen.bodyBytes).toBeLessThan(2_000_000);
  });
});
