/**
 * The floor of a Node proxy with the cheapest upstream reads Node has (bench/floor.ts): node:http
 * in, and towards the origin its own HTTP/1.1 over keep-alive `net.connect({ onread })` sockets
 * that read into pooled 1 MiB buffers, which go to the client's socket as they are, with no copy
 * and no stream in between (the buffer returns to the pool once the write is done). No routing,
 * no header passes, no logging. Forwards method, path and headers of bodiless requests (GET, HEAD,
 * DELETE; anything with a request body answers 501) and answers that have a Content-Length (else
 * 502); an answer up to 64 KiB is gathered and written in one `end()`.
 *
 *   node bench/floor-node-raw.mjs PORT ORIGIN_URL
 */
import { createServer } from 'node:http';
import { HOP, parseHead, rawOrigin, release, SMALL } from './floor-raw-origin.mjs';

const [port, origin] = [Number(process.argv[2]), new URL(process.argv[3])];
const upstream = rawOrigin(origin);

createServer((incoming, outgoing) => {
  if (Number(incoming.headers['content-length'] ?? 0) > 0 || incoming.headers['transfer-encoding']) {
    outgoing.writeHead(501).end();
    return;
  }
  const conn = upstream.take();
  const head = [`${incoming.method} ${incoming.url} HTTP/1.1`];
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
    if (!HOP.has(incoming.rawHeaders[i].toLowerCase())) head.push(`${incoming.rawHeaders[i]}: ${incoming.rawHeaders[i + 1]}`);
  }
  conn.socket.write(`${head.join('\r\n')}\r\n\r\n`, 'latin1');

  let parsed = null; // the answer's head until it is complete
  let left = 0; // body bytes still to come
  let small = null; // gathered body of a small answer
  let reuse = true; // false once the origin said `Connection: close` (nginx does after keepalive_requests)
  const fail = () => {
    conn.onData = conn.onGone = undefined;
    conn.socket.destroy();
    if (!outgoing.headersSent) outgoing.writeHead(502).end();
    else outgoing.destroy();
  };
  const done = () => {
    conn.onData = conn.onGone = undefined;
    if (reuse) upstream.keep(conn);
    else conn.socket.end();
  };
  conn.onGone = fail;
  conn.onData = (n, buffer) => {
    let from = 0;
    if (!Array.isArray(parsed)) {
      const text = (parsed ?? '') + buffer.toString('latin1', 0, n);
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        parsed = text;
        release(buffer);
        return true;
      }
      // The head is latin1 text; its length in characters equals its length in bytes.
      from = n - (text.length - end - 4);
      const answer = parseHead(text, end);
      const { status, length } = answer;
      reuse = answer.reuse;
      const headers = answer.fields.flat();
      parsed = headers;
      const bodiless = incoming.method === 'HEAD' || status === 204 || status === 304;
      if (!bodiless && length < 0) {
        release(buffer);
        fail();
        return false;
      }
      left = bodiless ? 0 : length;
      outgoing.writeHead(status, headers);
      if (left <= SMALL) small = [];
    }
    const count = Math.min(left, n - from);
    left -= count;
    if (small) {
      if (count) small.push(Buffer.from(buffer.subarray(from, from + count)));
      release(buffer);
      if (left === 0) {
        done();
        outgoing.end(small.length ? Buffer.concat(small) : undefined);
      }
      return true;
    }
    let more = true;
    if (count) more = outgoing.write(buffer.subarray(from, from + count), () => release(buffer));
    else release(buffer);
    if (left === 0) {
      done();
      outgoing.end();
      return true;
    }
    if (more) return true;
    outgoing.once('drain', () => conn.socket.resume());
    return false;
  };
  outgoing.on('close', () => {
    if (conn.onData && !outgoing.writableFinished) fail();
  });
}).listen(port, '127.0.0.1', () => console.error(`listening on ${port}`));
