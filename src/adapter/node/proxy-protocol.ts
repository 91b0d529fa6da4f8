/**
 * A Node listener with `"proxyProtocol": true` (also Bun's and Deno's node:http): a net.Server
 * accepts on the listener's address, reads each connection's PROXY header
 * (../proxy-protocol.ts), then hands the socket, with the bytes after the header put back, to
 * the http or https server as if that server had accepted it (`emit('connection')`). The header
 * comes before the TLS handshake, so an https server gets the socket before TLS starts. The
 * socket's `remoteAddress`/`remotePort` become the header's source, so the request's peer
 * (getConnInfo in serve.ts) is the client; a TLS socket takes them from the socket under it.
 *
 * Node's TLSSocket reads a net.Socket through its C++ handle, past anything put back with
 * `unshift` (Node 20): when the TLS handshake's first bytes came in one read with the header,
 * the https server gets the socket through a JS stream instead (`SocketStream`), which TLS reads
 * through JavaScript, put-back bytes first.
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { Duplex } from 'node:stream';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { createAdaptorServer, type serve } from '@hono/node-server';
import { awaitProxyHeader, type ProxySource } from '../proxy-protocol.ts';

type ServeOptions = Parameters<typeof serve>[0];
type ListeningListener = Parameters<typeof serve>[1];

/** The connection's peer seen as `source`, for every reader of the socket's address. */
function seenFrom(socket: Socket | Duplex, source: ProxySource): void {
  Object.defineProperty(socket, 'remoteAddress', { value: source.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: source.address.includes(':') ? 'IPv6' : 'IPv4', configurable: true });
}

/**
 * Hands `socket` to `server` (its 'connection') once its PROXY header is read, seen from the
 * header's source; a connection without a valid header within the server's header timeout is
 * closed unheard. For connections accepted elsewhere too (a primary handing them to a worker).
 */
export function handAfterProxyHeader(server: Server, socket: Socket): void {
  socket.on('error', () => {});
  const tls = server instanceof TlsServer;
  if (tls) addressTlsSockets(server);
  awaitProxyHeader(socket, server.headersTimeout || 30_000, (source) => {
    const handed = tls && socket.readableLength > 0 ? new SocketStream(socket) : socket;
    if (source) seenFrom(handed, source);
    server.emit('connection', handed);
    socket.resume();
  });
}

/**
 * A socket as a plain Duplex (no handle), so that a TLSSocket over it reads through JavaScript:
 * the bytes `unshift` put back first, then the rest as they come. Backpressure both ways.
 */
class SocketStream extends Duplex {
  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
  }
  override _read(): void {
    this.socket.resume();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }
  override _final(done: (error?: Error | null) => void): void {
    this.socket.end(done);
  }
  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.socket.destroy();
    done(error);
  }
}

const addressed = new WeakSet<Server>();

/**
 * An https server wraps each connection in a TLSSocket, whose address comes from the TCP handle:
 * give it the header's, from the socket or SocketStream under it (Node keeps the net.Socket as
 * `_parent`, and a JS stream as the TLS handle's `_parentWrap.stream`).
 */
function addressTlsSockets(server: Server): void {
  if (addressed.has(server)) return;
  addressed.add(server);
  server.prependListener('secureConnection', (tls: TLSSocket) => {
    const inner = tls as TLSSocket & { _parent?: Socket; _handle?: { _parentWrap?: { stream?: Duplex } } };
    const under = (inner._parent ?? inner._handle?._parentWrap?.stream) as (Duplex & { remoteAddress?: string; remotePort?: number }) | undefined;
    if (under && Object.hasOwn(under, 'remoteAddress')) seenFrom(tls, { address: under.remoteAddress!, port: under.remotePort! });
  });
}

/**
 * @hono/node-server's `serve` for a listener whose connections start with a PROXY header: the
 * same server (plain or https, from `options`), listening through a net.Server that reads the
 * header first, within the server's header timeout (`headersTimeout`); a connection with no valid
 * header is closed before any of it reaches the server. The returned server's `close()` also
 * stops the net.Server, and its 'error' event carries the net.Server's (a busy address).
 */
export function serveAfterProxyHeader(options: ServeOptions, listening: ListeningListener): Server {
  const server = createAdaptorServer(options) as Server;
  const front = createTcpServer((socket) => handAfterProxyHeader(server, socket));
  front.on('error', (error) => server.emit('error', error));
  // The server never listened, so its own close() would call back at once: the net.Server's calls back once
  // every connection it accepted has closed (the server's close still closes the idle ones).
  const close = server.close.bind(server);
  server.close = ((done?: (error?: Error) => void) => {
    front.close(() => done?.());
    close();
    return server;
  }) as Server['close'];
  server.address = () => front.address();
  front.listen(options.port ?? 0, options.hostname, () => {
    // As its own listen() would: the http server tracks its connections (header timeout, closeIdleConnections) from 'listening'.
    server.emit('listening');
    listening?.(front.address() as Parameters<NonNullable<ListeningListener>>[0]);
  });
  return server;
}
