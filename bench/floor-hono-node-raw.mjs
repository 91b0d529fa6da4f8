/**
 * The Hono floor of Node with the cheapest upstream reads Node has (bench/floor.ts): a Hono app
 * served by @hono/node-server (as the router is), whose one handler builds the upstream request
 * the way a Fetch app must (method, path and query from `c.req.raw.url`, headers from
 * `c.req.raw.headers`) and sends it over the keep-alive `net.connect({ onread })` HTTP/1.1 client
 * of bench/floor-raw-origin.mjs (reads into pooled 1 MiB buffers), as a function that resolves to the answer.
 * An answer up to 64 KiB is gathered and returned as `new Response(body, { status, headers })`
 * with the headers as a plain object; a larger one as a web stream of copies of the reads (with
 * backpressure). Bodiless requests only (anything with a body answers 501); answers need a
 * Content-Length (else 502).
 *
 *   node bench/floor-hono-node-raw.mjs PORT ORIGIN_URL
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { HOP, parseHead, rawOrigin, release, SMALL } from './floor-raw-origin.mjs';

const [port, origin] = [Number(process.argv[2]), new URL(process.argv[3])];
const upstream = rawOrigin(origin);

/**
 * One bodiless request to the origin: `head` is the request line and header lines, without the
 * blank line. Resolves to `{ status, headers, body }` (headers a plain object without hop-by-hop
 * fields; body null, a Buffer up to 64 KiB, or a ReadableStream); rejects when the connection
 * fails before the head is in or the answer has no Content-Length.
 */
function send(method, head) {
  return new Promise((resolve, reject) => {
    const conn = upstream.take();
    conn.socket.write(`${head}\r\n\r\n`, 'latin1');
    let parsed; // the answer's head text until it is complete, then true
    let left = 0; // body bytes still to come
    let small = null; // gathered body of a small answer
    let stream = null; // controller of a large answer's stream
    let answer = null;
    let reuse = true;
    const done = () => {
      conn.onData = conn.onGone = undefined;
      if (reuse) upstream.keep(conn);
      else conn.socket.end();
    };
    const fail = (error) => {
      conn.onData = conn.onGone = undefined;
      conn.socket.destroy();
      if (stream) stream.error(error);
      else reject(error);
    };
    conn.onGone = () => fail(new Error('origin connection gone'));
    conn.onData = (n, buffer) => {
      let from = 0;
      if (parsed !== true) {
        const text = (parsed ?? '') + buffer.toString('latin1', 0, n);
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) {
          parsed = text;
          release(buffer);
          return true;
        }
        from = n - (text.length - end - 4);
        const head = parseHead(text, end);
        const { status, length } = head;
        reuse = head.reuse;
        const headers = {};
        for (const [name, value] of head.fields) {
          const lower = name.toLowerCase();
          headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
        }
        parsed = true;
        const bodiless = method === 'HEAD' || status === 204 || status === 304;
        if (!bodiless && length < 0) {
          release(buffer);
          fail(new Error('no Content-Length'));
          return false;
        }
        left = bodiless ? 0 : length;
        answer = { status, headers, body: null };
        if (left <= SMALL) small = [];
        else {
          answer.body = new ReadableStream({
            start: (controller) => {
              stream = controller;
            },
            pull: () => conn.socket.resume(),
            cancel: () => fail(new Error('cancelled')),
          });
          resolve(answer);
        }
      }
      const count = Math.min(left, n - from);
      left -= count;
      if (small) {
        if (count) small.push(Buffer.from(buffer.subarray(from, from + count)));
        release(buffer);
        if (left === 0) {
          done();
          if (small.length) answer.body = small.length === 1 ? small[0] : Buffer.concat(small);
          resolve(answer);
        }
        return true;
      }
      if (count) stream.enqueue(new Uint8Array(Buffer.from(buffer.subarray(from, from + count))));
      release(buffer);
      if (left === 0) {
        done();
        stream.close();
        return true;
      }
      return stream.desiredSize > 0;
    };
  });
}

const app = new Hono();
app.all('*', async (c) => {
  const req = c.req.raw;
  // Not `req.body`: on @hono/node-server's request that builds a whole Fetch Request (a stream of the incoming).
  if (Number(req.headers.get('content-length') ?? 0) > 0 || req.headers.has('transfer-encoding')) return new Response(null, { status: 501 });
  const url = req.url;
  const lines = [`${req.method} ${url.slice(url.indexOf('/', url.indexOf('//') + 2))} HTTP/1.1`];
  for (const [name, value] of req.headers) if (!HOP.has(name)) lines.push(`${name}: ${value}`);
  try {
    const answer = await send(req.method, lines.join('\r\n'));
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  } catch {
    return new Response(null, { status: 502 });
  }
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => console.error(`listening on ${port}`));
