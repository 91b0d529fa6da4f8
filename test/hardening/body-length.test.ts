/**
 * Request body framing, on every runtime: a body that came with `Content-Length` reaches the
 * upstream with that same `Content-Length` and no `Transfer-Encoding` (origins and ingresses that
 * do not read chunked bodies answer 411 to them), with its bytes unchanged; a chunked body still
 * arrives whole (chunked, or with a length if the runtime knows it: either framing is fine, the
 * bytes must be equal). Issue 14: Deno's fetch sent every streamed body chunked.
 *
 * The origin is raw (node:net), so what is asserted is what was on the wire: the head as sent and
 * the body after de-chunking.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { HOST, siteConfig } from './support.ts';

const SIZE = 300_000;

interface Arrival {
  head: string;
  /** Header fields by lower-case name (last value wins; none of these repeat). */
  fields: Record<string, string>;
  body: Buffer;
}

/** Reads `Content-Length` or chunked bodies (extensions and trailers skipped); records each request whole. */
async function startFramingOrigin(): Promise<{ url: string; arrivals: Arrival[]; cut(): number; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  // Connections that closed in the middle of a request (its head in, its body not whole).
  let cut = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    socket.on('close', () => {
      sockets.delete(socket);
      if (buffer.indexOf('\r\n\r\n') >= 0) cut++;
    });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseOne(buffer);
        if (!parsed) return;
        arrivals.push(parsed.arrival);
        buffer = buffer.subarray(parsed.consumed);
        const answer = JSON.stringify({ bytes: parsed.arrival.body.length });
        socket.write(`HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`);
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    arrivals,
    cut: () => cut,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

function parseOne(buffer: Buffer): { arrival: Arrival; consumed: number } | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buffer.subarray(0, end).toString('latin1');
  const fields: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let at = end + 4;
  if (/chunked/i.test(fields['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
      at = lineEnd + 2;
      if (size === 0) {
        // Trailer fields (none expected), then the blank line.
        const close = buffer.indexOf('\r\n\r\n', at - 2);
        if (close < 0) return undefined;
        return { arrival: { head, fields, body: Buffer.concat(parts) }, consumed: close + 4 };
      }
      if (buffer.length < at + size + 2) return undefined;
      parts.push(buffer.subarray(at, at + size));
      at += size + 2;
    }
  }
  const length = Number(fields['content-length'] ?? 0);
  if (buffer.length < at + length) return undefined;
  return { arrival: { head, fields, body: Buffer.from(buffer.subarray(at, at + length)) }, consumed: at + length };
}

/** Sends `body` in 64 KiB writes, with its length or (`chunked`) without; resolves with the status. */
function send(base: string, method: string, path: string, body: Buffer, chunked: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      method,
      headers: {
        host: HOST,
        'content-type': 'application/octet-stream',
        ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }),
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
    req.end();
  });
}

/** Sends the head and `sent` of `declared` bytes, then closes the connection (a client gone mid-upload). */
function abandon(base: string, path: string, declared: number, sent: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { method: 'PATCH', headers: { host: HOST, 'content-length': String(declared) } });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(randomBytes(sent), () => setTimeout(() => req.destroy(), 300));
  });
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.each(RUNTIMES)('request body framing on %s', (runtime) => {
  let origin: Awaited<ReturnType<typeof startFramingOrigin>>;
  let router: RouterProcess;

  beforeAll(async () => {
    origin = await startFramingOrigin();
    router = await startRouter(runtime, siteConfig(origin.url), { quiet: true });
  }, 30_000);

  afterAll(async () => {
    await router?.stop();
    await origin?.close();
  });

  const upload = '/v2/framing/blobs/uploads/0c6f9b5e-5a1b-4d7e-9f3c-000000000001';
  it.each([
    ['PUT', `${upload}?digest=sha256:${'0'.repeat(64)}`],
    ['PATCH', upload],
    ['POST', '/v2/framing/blobs/uploads/'],
  ])('%s with Content-Length 300000 arrives with that length, not chunked, bytes equal', async (method, path) => {
    const body = randomBytes(SIZE);
    const before = origin.arrivals.length;
    expect(await send(router.url, method, path, body, false)).toBe(201);
    const arrival = origin.arrivals[before]!;
    expect(arrival.head.split('\r\n')[0]).toBe(`${method} ${path} HTTP/1.1`);
    expect(arrival.fields['content-length']).toBe(String(SIZE));
    expect(arrival.fields['transfer-encoding']).toBeUndefined();
    expect(arrival.body.length).toBe(SIZE);
    expect(digest(arrival.body)).toBe(digest(body));
  });

  it('a chunked PATCH arrives whole', async () => {
    const body = randomBytes(SIZE);
    const before = origin.arrivals.length;
    expect(await send(router.url, 'PATCH', upload, body, true)).toBe(201);
    const arrival = origin.arrivals[before]!;
    // Chunked on the way out; a runtime that read the whole body first may send its length instead.
    if (arrival.fields['transfer-encoding'] === undefined) expect(arrival.fields['content-length']).toBe(String(SIZE));
    else expect(arrival.fields['transfer-encoding']).toBe('chunked');
    expect(arrival.body.length).toBe(SIZE);
    expect(digest(arrival.body)).toBe(digest(body));
  });

  it('a client gone mid-upload cuts the upstream request: the origin never gets a whole body', async () => {
    const before = origin.arrivals.length;
    const cut = origin.cut();
    await abandon(router.url, upload, SIZE, 100_000);
    // The upstream connection closes with the request unfinished (its head in, its body short).
    await until(() => origin.cut() > cut);
    expect(origin.arrivals.length).toBe(before);
  });
});
