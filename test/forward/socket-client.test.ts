import { createServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { UpstreamClient, UpstreamResponse } from '../../src/forward/client.ts';
import { countOf } from '../../src/forward/counted-body.ts';
import { socketClient } from '../../src/forward/socket-client.ts';
import { pipedAnswer, sink, until } from '../support/sink.ts';

// src/forward/socket-client.ts against in-process origins: framing (Content-Length, chunked, to the
// close), heads (reason phrase, repeated headers, 1xx, malformed), the pipe into a Node writable
// (bytes in order; its backpressure, client abort, short body and idle cut are in
// node-pipe.test.ts for both Node clients), keep-alive reuse and the retry of a stale connection.

const MiB = 1024 * 1024;
/** Byte `i` of a patterned body: a misplaced or overwritten buffer shows. */
const pattern = (size: number, seed = 0) => Buffer.from(Uint8Array.from({ length: size }, (_, i) => (i * 7 + seed + (i >> 16)) & 255));
const BIG = pattern(8 * MiB, 3);
const JSON_BODY = Buffer.from(JSON.stringify({ items: Array.from({ length: 20000 }, (_, i) => `item-${i}`) }));
const seen = { closed: new Set<string>(), ports: [] as number[], targets: [] as string[] };

const origin = createServer((req, res) => {
  res.on('close', () => seen.closed.add(req.url!));
  seen.ports.push(req.socket.remotePort!);
  seen.targets.push(req.url!);
  if (req.url!.startsWith('/echo')) {
    res.end(req.url);
  } else if (req.url === '/small') {
    res.statusMessage = 'Fine Indeed';
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('x-two', ['one', 'two']);
    res.end('{"ok":true}');
  } else if (req.url === '/head') {
    res.writeHead(200, { 'content-length': 123456789, 'docker-content-digest': 'sha256:x' });
    res.end();
  } else if (req.url === '/no-content') {
    res.writeHead(204).end();
  } else if (req.url === '/chunked') {
    // Chunked (no Content-Length), in uneven pieces.
    res.writeHead(200, { 'content-type': 'application/json' });
    let at = 0;
    const more = () => {
      if (at >= JSON_BODY.length) return void res.end();
      res.write(JSON_BODY.subarray(at, at + 7777));
      at += 7777;
      setImmediate(more);
    };
    more();
  } else if (req.url === '/big') {
    res.writeHead(200, { 'content-length': BIG.length });
    writeAll(res, BIG);
  } else if (req.url === '/stall') {
    res.writeHead(200, { 'content-length': 2 * MiB });
    res.write(Buffer.alloc(100 * 1024, 3));
  } else if (req.url === '/short-small') {
    res.writeHead(200, { 'content-length': 1000 });
    res.write(Buffer.alloc(500, 4), () => res.socket?.destroy());
  }
});
/** Writes `body` in 64 KiB pieces with backpressure. */
function writeAll(res: ServerResponse, body: Buffer): void {
  let at = 0;
  const more = () => {
    while (at < body.length) {
      const piece = body.subarray(at, at + 64 * 1024);
      at += piece.length;
      if (!res.write(piece)) {
        res.once('drain', more);
        return;
      }
    }
    res.end();
  };
  more();
}

/** A raw origin for what node:http will not send: 1xx, close-delimited bodies, broken heads, dropped keep-alive connections. */
let rawRequests = 0;
const raw = createNetServer((socket: Socket) => {
  let served = 0;
  socket.on('data', (data) => {
    const path = data.toString('latin1').split(' ')[1];
    rawRequests++;
    served++;
    if (path === '/interim') {
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n');
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi'), 20);
    } else if (path === '/to-close') {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n');
      socket.write(pattern(300 * 1024, 9));
      setTimeout(() => socket.end(), 20);
    } else if (path === '/chunked-broken') {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
      setTimeout(() => socket.destroy(), 20);
    } else if (path === '/broken') {
      socket.end('HTTP/1.1 2OO OK\r\n\r\n');
    } else if (path === '/bad-header') {
      socket.end('HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 0\r\n\r\n');
    } else if (path === '/lone-cr') {
      socket.end('HTTP/1.1 200 OK\r\nx-odd: value\r\r\ncontent-length: 0\r\n\r\n');
    } else if (path === '/drops-second') {
      // The first answer keeps the connection; the second request on it is dropped unanswered (a stale keep-alive connection).
      if (served === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none');
      else socket.destroy();
    }
  });
});

let base = '';
let rawBase = '';
const fallback: UpstreamClient & { sent: number } = {
  sent: 0,
  send() {
    fallback.sent++;
    return Promise.resolve({ status: 299, headers: new Headers(), body: null });
  },
};
const client = socketClient({ idle: 1, connect: 5 }, fallback);

beforeAll(async () => {
  await new Promise<void>((done) => origin.listen(0, '127.0.0.1', done));
  await new Promise<void>((done) => raw.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  rawBase = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await client.close?.();
  origin.closeAllConnections();
  origin.close();
  raw.close();
});

function send(url: string, method = 'GET', signal = new AbortController().signal): Promise<UpstreamResponse> {
  return client.send({ url, method, headers: new Headers({ host: 'origin.test' }), body: null, signal });
}

async function text(answer: UpstreamResponse): Promise<Buffer> {
  if (answer.body instanceof Uint8Array) return Buffer.from(answer.body);
  return Buffer.from(await new Response(answer.body).arrayBuffer());
}

async function piped(path: string) {
  const signal = new AbortController().signal;
  const answer = await send(base + path, 'GET', signal);
  return { answer, ...pipedAnswer(answer, signal) };
}

it('reads a small answer whole, with its reason phrase and repeated headers', async () => {
  const answer = await send(`${base}/small`);
  expect(answer.status).toBe(200);
  expect(answer.statusText).toBe('Fine Indeed');
  expect(answer.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  expect(answer.headers.get('x-two')).toBe('one, two');
  expect(answer.body).toBeInstanceOf(Uint8Array);
  expect((await text(answer)).toString()).toBe('{"ok":true}');
});

it('reuses a keep-alive connection', async () => {
  seen.ports.length = 0;
  await send(`${base}/small`);
  await send(`${base}/small`);
  await send(`${base}/small`);
  expect(new Set(seen.ports).size).toBe(1);
});

it('answers HEAD and 204 without a body, keeping the declared length', async () => {
  const head = await send(`${base}/head`, 'HEAD');
  expect(head.body).toBeNull();
  expect(head.headers.get('content-length')).toBe('123456789');
  const none = await send(`${base}/no-content`);
  expect(none.status).toBe(204);
  expect(none.body).toBeNull();
  // The connection is still good after both.
  expect((await text(await send(`${base}/small`))).toString()).toBe('{"ok":true}');
});

it('decodes a chunked answer on the web-stream path', async () => {
  const answer = await send(`${base}/chunked`);
  expect(answer.body).toBeInstanceOf(ReadableStream);
  expect((await text(answer)).equals(JSON_BODY)).toBe(true);
  expect(countOf(answer.body)!.bytes).toBe(JSON_BODY.length);
});

it('errors the web stream of a chunked answer that breaks off', async () => {
  const answer = await send(`${rawBase}/chunked-broken`);
  let ended: { error?: unknown } | undefined;
  countOf(answer.body)!.whenEnded((error) => {
    ended = { error };
  });
  await expect(text(answer)).rejects.toThrow();
  expect(ended?.error).toBeDefined();
});

it('reads a body without length to the close', async () => {
  const answer = await send(`${rawBase}/to-close`);
  expect((await text(answer)).equals(pattern(300 * 1024, 9))).toBe(true);
});

it('skips 1xx interim answers', async () => {
  const answer = await send(`${rawBase}/interim`);
  expect(answer.status).toBe(200);
  expect(answer.headers.get('link')).toBeNull();
  expect((await text(answer)).toString()).toBe('hi');
});

it('refuses a malformed head as an upstream error', async () => {
  await expect(send(`${rawBase}/broken`)).rejects.toMatchObject({ name: 'UpstreamError', kind: 'unreachable' });
  await expect(send(`${rawBase}/bad-header`)).rejects.toMatchObject({ name: 'UpstreamError', kind: 'unreachable' });
  // A lone CR at a value's end (trim() took it off before; the client's server would refuse to write it).
  await expect(send(`${rawBase}/lone-cr`)).rejects.toMatchObject({ name: 'UpstreamError', kind: 'unreachable' });
});

it('retries once on a new connection when a reused one was dropped', async () => {
  const before = rawRequests;
  expect((await text(await send(`${rawBase}/drops-second`))).toString()).toBe('one');
  expect((await text(await send(`${rawBase}/drops-second`))).toString()).toBe('one');
  expect(rawRequests - before).toBe(3);
});

it('answers many concurrent requests while the origin drops keep-alive connections now and then', async () => {
  // Each connection serves 3 requests (then "Connection: close") and is closed after 30 ms idle: both kinds of stale connection.
  const busy = createServer((req, res) => {
    const delay = Number(req.url!.slice(1)) % 3;
    setTimeout(() => res.end(req.url), delay);
  });
  busy.keepAliveTimeout = 30;
  busy.maxRequestsPerSocket = 3;
  await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
  const busyBase = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
  let next = 0;
  const worker = async () => {
    while (next < 1500) {
      const n = next++;
      if (n % 100 === 0) await new Promise((done) => setTimeout(done, 35));
      expect((await text(await send(`${busyBase}/${n}`))).toString()).toBe(`/${n}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  busy.closeAllConnections();
  busy.close();
}, 30_000);

it('says which upstream is unreachable', async () => {
  const closed = createNetServer();
  await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await expect(send(`http://127.0.0.1:${port}/x`)).rejects.toThrow(/connection refused/);
});

it('leaves requests with a body, other methods and https to the other client', async () => {
  const signal = new AbortController().signal;
  await client.send({ url: `${base}/small`, method: 'PUT', headers: new Headers(), body: null, signal });
  await client.send({ url: 'https://127.0.0.1:1/x', method: 'GET', headers: new Headers(), body: null, signal });
  expect(fallback.sent).toBe(2);
});

it('pipes a large answer into a Node writable, bytes in order, and ends it', async () => {
  const { pipe, count, ended } = await piped('/big');
  const out = sink();
  pipe(out);
  await until(() => out.writableFinished);
  expect(Buffer.concat(out.received).equals(BIG)).toBe(true);
  await until(() => ended() !== undefined);
  expect(ended()!.error).toBeUndefined();
  expect(count.bytes).toBe(BIG.length);
  // And the web-stream path for the same answer.
  const again = await send(`${base}/big`);
  expect((await text(again)).equals(BIG)).toBe(true);
});

// Backpressure, the client leaving, a stall and a short body on the pipe: test/forward/node-pipe.test.ts, for both Node clients.

it('says a small body broke off', async () => {
  await expect(send(`${base}/short-small`)).rejects.toThrow(/broke off after 500 of its 1000 bytes/);
});

it('aborts the upstream when the client goes away before the answer', async () => {
  const controller = new AbortController();
  const pending = send(`${base}/stall`, 'GET', controller.signal).then((answer) => answer.body && void (answer.body as ReadableStream).cancel());
  seen.closed.delete('/stall');
  controller.abort(new Error('client left'));
  await expect(pending).rejects.toThrow(/client left/);
});

it('sends the request target as the passes built it: query kept, a fragment left out, userinfo through the URL parser', async () => {
  seen.targets.length = 0;
  expect((await text(await send(`${base}/echo/a%2Fb?x=1&y=%20#frag`))).toString()).toBe('/echo/a%2Fb?x=1&y=%20');
  const port = (origin.address() as AddressInfo).port;
  expect((await text(await send(`http://user:pw@127.0.0.1:${port}/echo/u?q`))).toString()).toBe('/echo/u?q');
  expect(seen.targets).toEqual(['/echo/a%2Fb?x=1&y=%20', '/echo/u?q']);
});

it('sends nothing for a client already gone, and the connection taken for it is not left behind', async () => {
  await send(`${base}/small`);
  seen.targets.length = 0;
  const controller = new AbortController();
  controller.abort(new Error('gone before'));
  await expect(send(`${base}/small`, 'GET', controller.signal)).rejects.toThrow(/gone before/);
  expect((await text(await send(`${base}/small`))).toString()).toBe('{"ok":true}');
  expect(seen.targets).toEqual(['/small']);
});
