import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socketClient } from '../../src/forward/socket-client.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { pipedAnswer, sink, until } from '../support/sink.ts';

// The pipe to a Node writable (the Node adapter's path for streamed answers, see
// src/adapter/node/serve.ts) of both Node clients, undici's and the socket client
// (src/forward/socket-client.ts): backpressure to the upstream, the client leaving aborts the
// upstream, a stall or a short body breaks the sink; undici's also moves the bytes queued in its
// web stream before the pipe (the socket client holds them unread, see its own tests).

const MiB = 1024 * 1024;
/** What the origin's handlers did, per test path. */
const seen = { backpressure: false, closed: new Set<string>() };
let release: (() => void) | undefined;
const origin = createServer((req, res) => {
  res.on('close', () => seen.closed.add(req.url!));
  if (req.url === '/queued') {
    // 100 KiB, then the rest (chunked) once the test has piped.
    res.writeHead(200);
    res.write(Buffer.alloc(100 * 1024, 1));
    release = () => res.end(Buffer.alloc(3 * MiB, 2));
  } else if (req.url === '/big') {
    res.writeHead(200, { 'content-length': 64 * MiB });
    writeUntilFull(res, 64 * MiB);
  } else if (req.url === '/stall') {
    res.writeHead(200, { 'content-length': 2 * MiB });
    res.write(Buffer.alloc(100 * 1024, 3));
  } else if (req.url === '/short') {
    res.writeHead(200, { 'content-length': 2 * MiB });
    res.write(Buffer.alloc(500 * 1024, 4), () => res.socket?.destroy());
  }
});
/** Writes `total` bytes in 64 KiB pieces with backpressure, noting when a write reports the socket full. */
function writeUntilFull(res: ServerResponse, total: number): void {
  let left = total;
  const more = () => {
    while (left > 0) {
      left -= 64 * 1024;
      if (!res.write(Buffer.alloc(64 * 1024, 5))) {
        seen.backpressure = true;
        res.once('drain', more);
        return;
      }
    }
    res.end();
  };
  more();
}
let base = '';
const timeouts = { idle: 1, connect: 5 };
const clients = { undici: undiciClient(timeouts), socket: socketClient(timeouts, undiciClient(timeouts)) };
type Client = (typeof clients)['undici'];

beforeAll(async () => {
  await new Promise<void>((done) => origin.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const client of Object.values(clients)) await client.close?.();
  origin.closeAllConnections();
  origin.close();
});

async function get(client: Client, path: string) {
  const signal = new AbortController().signal;
  const answer = await client.send({ url: base + path, method: 'GET', headers: new Headers(), body: null, signal });
  return pipedAnswer(answer, signal);
}

it('undici: pipes the bytes queued in the web stream before the pipe, then the rest, and ends the writable', async () => {
  const { pipe, count, ended } = await get(clients.undici, '/queued');
  await until(() => count.bytes >= 100 * 1024);
  const out = sink();
  pipe(out);
  release!();
  await until(() => out.writableFinished);
  const body = Buffer.concat(out.received);
  expect(body.length).toBe(100 * 1024 + 3 * MiB);
  expect(body[0]).toBe(1);
  expect(body[100 * 1024 - 1]).toBe(1);
  expect(body[100 * 1024]).toBe(2);
  await until(() => ended() !== undefined);
  expect(ended()!.error).toBeUndefined();
  expect(count.bytes).toBe(body.length);
});

describe.each(Object.entries(clients))('%s client', (_name, client) => {
  it('pauses the upstream while the writable is full, and aborts it when the client goes away', async () => {
    seen.backpressure = false;
    seen.closed.delete('/big');
    const { pipe, count, ended } = await get(client, '/big');
    const out = sink(true);
    pipe(out);
    await until(() => seen.backpressure);
    // The transfer settles: no byte more over 10 polls in a row. Without the pause undici would read
    // all 64 MiB into the writable's buffer (and be past 16 MiB or still moving).
    let last = -1;
    let still = 0;
    await until(() => {
      still = count.bytes === last ? still + 1 : 0;
      last = count.bytes;
      return still >= 10 || count.bytes >= 16 * MiB;
    });
    expect(count.bytes).toBeLessThan(16 * MiB);
    out.destroy();
    await until(() => seen.closed.has('/big'));
    await until(() => ended() !== undefined);
    expect(String(ended()!.error)).toMatch(/went away|aborted|closed/);
  });

  it('breaks the writable when the upstream stalls for timeouts.idle', async () => {
    const { pipe, ended } = await get(client, '/stall');
    const out = sink();
    let error: Error | undefined;
    out.on('error', (e) => {
      error = e;
    });
    pipe(out);
    await until(() => out.destroyed);
    expect(out.writableFinished).toBe(false);
    expect(String(error)).toMatch(/no byte moved for 1 s/);
    await until(() => ended() !== undefined);
    expect(ended()!.error).toBeDefined();
  });

  it('breaks the writable when the upstream sends less than its Content-Length', async () => {
    const { pipe, ended } = await get(client, '/short');
    const out = sink();
    out.on('error', () => {});
    pipe(out);
    await until(() => out.destroyed);
    expect(out.writableFinished).toBe(false);
    expect(Buffer.concat(out.received).length).toBeLessThan(2 * MiB);
    await until(() => ended() !== undefined);
    expect(ended()!.error).toBeDefined();
  });
});
