/**
 * Shared pieces of the fault suite (test/hardening/*.test.ts): a raw logging origin, a raw-socket
 * client, the bad requests, the router config, and /proc readings of the router process tree.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ConfigInput } from '../../src/config/schema.ts';

export const HOST = 'registry.test';

/** One site, `registry.test`, docker preset, both roles on `origin`. */
export function siteConfig(origin: string, extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    ...extra,
    // No background health checks (on by default): these suites count what reaches the origin byte for byte.
    sites: [{ name: 'docker', hosts: [HOST], preset: 'docker', upstreams: { read: origin, write: origin }, health: { checks: false } }],
  };
}

export interface RawOrigin {
  url: string;
  port: number;
  /** Request lines in arrival order (the first line of each request head, logged as soon as the head is in). */
  lines: string[];
  /** The whole head (request line and fields, without the blank line) of each request, in the same order. */
  heads: string[];
  /** Every byte received, all connections together. */
  bytes(): number;
  /** Connections accepted so far, and open right now. */
  accepted(): number;
  open(): number;
  close(): Promise<void>;
}

/**
 * A `net` server that speaks just enough HTTP/1.1 to answer: it logs each request line, reads a
 * Content-Length or chunked body, and answers 200 with a small JSON body (keep-alive). Being raw,
 * it proves what reached it byte for byte: a refused request leaves `bytes()` where it was.
 */
export async function startRawOrigin(): Promise<RawOrigin> {
  const lines: string[] = [];
  const heads: string[] = [];
  let bytes = 0;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    // Requests answered on this connection, and heads logged (a head is logged on arrival, before its body).
    let served = 0;
    let logged = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const first = head.split('\r\n')[0]!;
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
        if (logged === served) {
          lines.push(first);
          heads.push(head);
          logged++;
        }
        let consumed = end + 4;
        if (chunked) {
          const last = buffer.indexOf('\r\n0\r\n\r\n', end);
          const atStart = buffer.subarray(consumed, consumed + 5).toString() === '0\r\n\r\n';
          if (atStart) consumed += 5;
          else if (last < 0) return;
          else consumed = last + 7;
        } else if (length) {
          if (buffer.length < consumed + Number(length[1])) return;
          consumed += Number(length[1]);
        }
        served++;
        buffer = buffer.subarray(consumed);
        const body = JSON.stringify({ line: first });
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    lines,
    heads,
    bytes: () => bytes,
    accepted: () => accepted,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

/** A server that must never be reached: it counts connections (and bytes) and answers nothing. */
export async function startBait(): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

export interface RawReply {
  /** The status code of the first response, or undefined when none came. */
  status: number | undefined;
  /** Everything the router sent back (latin1). */
  raw: string;
  /** The router closed the connection (before `ms` ran out). */
  closed: boolean;
  ms: number;
}

/**
 * Writes `bytes` on a fresh connection and reads until the first response is complete (by its
 * Content-Length or last chunk), the router closes, or `timeoutMs` passes. Resets from the router count as closed.
 */
export function rawRequest(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<RawReply> {
  const started = Date.now();
  return new Promise((resolve) => {
    let raw = '';
    let done = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      resolve({ status: status ? Number(status[1]) : undefined, raw, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes));
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = raw.slice(0, end);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length && raw.length >= end + 4 + Number(length[1])) finish(false);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head) && raw.endsWith('0\r\n\r\n')) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

/** One bad request as raw bytes, and what the RFC says about it. */
export interface BadRequest {
  name: string;
  bytes: string;
  /** The status we answer where the guard decides (the runtime's parser may answer first). */
  status: number;
}

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
const KiB = 1024;

/**
 * Sent after the body of every framing case: a parser that takes the body's length differently
 * from the router (request smuggling) would see a second request here, and forward it.
 */
export const SMUGGLED = head(['GET /v2/smuggled/tags/list HTTP/1.1', `Host: ${HOST}`]);

/** §3.2, §6.1, §6.3, §5.1, §5.2, §5.5 of RFC 9112; §9.3.6 of RFC 9110 (CONNECT). */
export const BAD_REQUESTS: readonly BadRequest[] = [
  { name: 'two Host fields (different)', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'Host: other.example']), status: 400 },
  { name: 'two Host fields (same)', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, `Host: ${HOST}`]), status: 400 },
  { name: 'Host with a comma list', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}, other.example`]), status: 400 },
  // Deno.serve builds request.url from Host as it comes: these would move the path or cut it off.
  { name: 'Host with a path', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}/evil`]), status: 400 },
  { name: 'Host with userinfo', bytes: head(['GET /v2/ HTTP/1.1', `Host: user@${HOST}`]), status: 400 },
  { name: 'Host with "?"', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}?`]), status: 400 },
  { name: 'Host with "#"', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}#`]), status: 400 },
  { name: 'Host with a space', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST} x`]), status: 400 },
  {
    name: 'Content-Length and Transfer-Encoding',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: 4', 'Transfer-Encoding: chunked']) + '0\r\n\r\n' + SMUGGLED,
    status: 400,
  },
  {
    name: 'two different Content-Lengths',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: 1', 'Content-Length: 2']) + 'ab' + SMUGGLED,
    status: 400,
  },
  {
    name: 'Content-Length list "1, 2"',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: 1, 2']) + 'ab' + SMUGGLED,
    status: 400,
  },
  { name: 'Content-Length "+1"', bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: +1']) + 'a' + SMUGGLED, status: 400 },
  {
    name: 'Transfer-Encoding: xchunked',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Transfer-Encoding: xchunked']) + '0\r\n\r\n' + SMUGGLED,
    status: 501,
  },
  {
    name: 'Transfer-Encoding: chunked, identity',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Transfer-Encoding: chunked, identity']) + '0\r\n\r\n' + SMUGGLED,
    status: 501,
  },
  {
    name: 'Transfer-Encoding: identity',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Transfer-Encoding: identity']) + '0\r\n\r\n' + SMUGGLED,
    status: 501,
  },
  // Chunked is the final coding, so the length is certain (RFC 9112 §6.3): bytes after this body
  // are the client's next request, which Node and Deno have parsed before the 501 closes the
  // connection. No SMUGGLED here: forwarding a well-framed next request is not smuggling.
  {
    name: 'Transfer-Encoding: gzip, chunked',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Transfer-Encoding: gzip, chunked']) + '0\r\n\r\n',
    status: 501,
  },
  {
    name: 'two Transfer-Encoding fields',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Transfer-Encoding: chunked', 'Transfer-Encoding: identity']) + '0\r\n\r\n' + SMUGGLED,
    status: 501,
  },
  {
    name: 'Transfer-Encoding:<TAB>chunked with Content-Length',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: 4', 'Transfer-Encoding:\tchunked']) + '0\r\n\r\n' + SMUGGLED,
    status: 400,
  },
  {
    name: 'Transfer-Encoding:<VT>chunked',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Transfer-Encoding:\x0bchunked']) + '0\r\n\r\n' + SMUGGLED,
    status: 400,
  },
  {
    name: 'space before the colon (Transfer-Encoding : chunked)',
    bytes: head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: 4', 'Transfer-Encoding : chunked']) + '0\r\n\r\n' + SMUGGLED,
    status: 400,
  },
  { name: 'obs-fold (a line starting with a space)', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'X-Folded: a', ' b']), status: 400 },
  {
    name: 'obs-fold hiding Transfer-Encoding',
    bytes:
      head(['POST /v2/a/blobs/uploads/ HTTP/1.1', `Host: ${HOST}`, 'Content-Length: 4', 'X-Folded: a', ' Transfer-Encoding: chunked']) + '0\r\n\r\n' + SMUGGLED,
    status: 400,
  },
  { name: 'NUL in a header value', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'X-Bad: a\0b']), status: 400 },
  { name: 'CTL (0x01) in a header value', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'X-Bad: a\x01b']), status: 400 },
  { name: 'DEL (0x7f) in a header value', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'X-Bad: a\x7fb']), status: 400 },
  { name: 'bare CR in a header value', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'X-Bad: a\rb']), status: 400 },
  { name: 'NUL in the target', bytes: head(['GET /v2/a\0b HTTP/1.1', `Host: ${HOST}`]), status: 400 },
  { name: 'CTL (0x01) in the target', bytes: head(['GET /v2/a\x01b HTTP/1.1', `Host: ${HOST}`]), status: 400 },
  {
    name: 'header section over 64 KiB (70 x 1 KiB fields)',
    bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, ...Array.from({ length: 70 }, (_, i) => `X-Pad-${i}: ${'a'.repeat(KiB)}`)]),
    status: 431,
  },
  { name: 'one header field of 70 KiB', bytes: head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, `X-Pad: ${'a'.repeat(70 * KiB)}`]), status: 431 },
  { name: 'absolute-form naming another host', bytes: head(['GET http://other.example/v2/ HTTP/1.1', `Host: ${HOST}`]), status: 400 },
  { name: 'CONNECT', bytes: head([`CONNECT ${HOST}:443 HTTP/1.1`, `Host: ${HOST}:443`]), status: 405 },
  { name: 'request target over 8 KiB', bytes: head([`GET /v2/${'a'.repeat(9 * KiB)}/tags/list HTTP/1.1`, `Host: ${HOST}`]), status: 414 },
];

/** The good request the bad ones are measured against: it must reach the origin. */
export const GOOD_REQUEST = head(['GET /v2/ HTTP/1.1', `Host: ${HOST}`, 'Connection: close']);

// ---- /proc readings of the router's process tree (Linux) ----

function children(): Map<number, number[]> {
  const tree = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      tree.set(parent, [...(tree.get(parent) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  return tree;
}

/** `root` and its descendants. */
export function treePids(root: number): number[] {
  const tree = children();
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const child of tree.get(pid) ?? []) walk(child);
  };
  walk(root);
  return out;
}

const processName = (pid: number): string => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return '';
  }
};

/**
 * Open file descriptors of the router's process tree, and how many are sockets. For workerd only
 * the workerd process counts (miniflare's node wrapper is test scaffolding), as `rss()` does.
 */
export function openFds(root: number, only?: string): { total: number; sockets: number } {
  let total = 0;
  let sockets = 0;
  for (const pid of treePids(root)) {
    if (only && processName(pid) !== only) continue;
    let entries: string[];
    try {
      entries = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of entries) {
      total++;
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        // closed meanwhile
      }
    }
  }
  return { total, sockets };
}

/** TCP connections in a state (01 = ESTABLISHED) whose remote or local port is `port`, from /proc/net/tcp{,6}. */
export function tcpConnections(port: number, side: 'remote' | 'local', state = '01'): number {
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== state) continue;
      const address = side === 'local' ? cols[1]! : cols[2]!;
      if (parseInt(address.split(':')[1]!, 16) === port) count++;
    }
  }
  return count;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `ms` passes; returns the last result. */
export async function eventually(check: () => boolean, ms: number, every = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(every);
  }
}

/** A one-line summary of a raw reply for test names and logs: "400", "closed", "timeout". */
export const outcome = (reply: RawReply): string => (reply.status !== undefined ? String(reply.status) : reply.closed ? 'closed' : 'no answer');
