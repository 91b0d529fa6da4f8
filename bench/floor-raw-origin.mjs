/**
 * The upstream side shared by the Node floors with the cheapest reads Node has
 * (bench/floor-node-raw.mjs, bench/floor-hono-node-raw.mjs): keep-alive `net.connect({ onread })`
 * connections to one origin, reading into pooled 1 MiB buffers, and the parse of an answer's head.
 */
import { connect } from 'node:net';

/** Answers up to this many bytes are gathered and sent in one piece. */
export const SMALL = 64 * 1024;
const BUFFER = 1 << 20;
/** Fields that describe one connection, not the message. */
export const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

const buffers = [];
const take = () => buffers.pop() ?? Buffer.allocUnsafe(BUFFER);
/** Gives a read buffer back to the pool (once nothing still needs its bytes). */
export const release = (buffer) => buffers.push(buffer);

/**
 * Connections to `origin` (a URL): `take()` an idle one or a new one, whose reads go to
 * `conn.onData(n, buffer)` (return false to pause reading) and whose end calls `conn.onGone()`;
 * `keep(conn)` puts it back as idle.
 */
export function rawOrigin(origin) {
  const idle = [];
  const open = () => {
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
  };
  return { take: () => idle.pop() ?? open(), keep: (conn) => idle.push(conn) };
}

/**
 * The head in `text` up to `end` (where its blank line starts): status, the fields without
 * hop-by-hop ones as [name, value] pairs (names as sent), the Content-Length (-1 when none) and
 * whether the connection may be reused (false after `Connection: close`, as nginx sends after
 * keepalive_requests).
 */
export function parseHead(text, end) {
  const lines = text.slice(0, end).split('\r\n');
  const fields = [];
  let length = -1;
  let reuse = true;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const lower = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (lower === 'content-length') length = Number(value);
    if (lower === 'connection' && /close/i.test(value)) reuse = false;
    if (!HOP.has(lower)) fields.push([name, value]);
  }
  return { status: Number(lines[0].slice(9, 12)), fields, length, reuse };
}
