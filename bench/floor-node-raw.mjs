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
import { connect } from 'node:net';

const SMALL = 64 * 1024;
const BUFFER = 1 << 20;
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);
const [port, origin] = [Number(process.argv[2]), new URL(process.argv[3])];

const buffers = [];
const take = () => buffers.pop() ?? Buffer.allocUnsafe(BUFFER);
const release = (buffer) => buffers.push(buffer);

/** Idle keep-alive connections to the origin. */
const idle = [];

/** A connection whose reads go to `conn.onData(n, buffer)` (returns false to pause reading). */
function open() {
  const conn = { socket: undefined, onData: undefined, onGone: undefined };
  conn.socket = connect({
    host: origin.hostname,
    port: Number(origin.port || 80),
    noDelay: true,
    onread: {
      buffer: take,
      callback(n, buffer) {
        if (conn.onData) return conn.onData(n, buffer);
        release(buffer);
        return true;
      },
    },
  });
  const gone = () => {
    const i = idle.indexOf(conn);
    if (i >= 0) idle.splice(i, 1);
    conn.onGone?.();
  };
  conn.socket.on('error', gone);
  conn.socket.on('close', gone);
  return conn;
}

createServer((incoming, outgoing) => {
  if (Number(incoming.headers['content-length'] ?? 0) > 0 || incoming.headers['transfer-encoding']) {
    outgoing.writeHead(501).end();
    return;
  }
  const conn = idle.pop() ?? open();
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
    if (reuse) idle.push(conn);
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
      const lines = text.slice(0, end).split('\r\n');
      const status = Number(lines[0].slice(9, 12));
      const headers = [];
      let length = -1;
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon);
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'content-length') length = Number(value);
        if (name.toLowerCase() === 'connection' && /close/i.test(value)) reuse = false;
        if (!HOP.has(name.toLowerCase())) headers.push(name, value);
      }
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
