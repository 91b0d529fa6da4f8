/**
 * A Node listener with `"proxyProtocol": true` (also Bun's and Deno's node:http): a net.Server
 * accepts on the listener's address, reads each connection's PROXY header
 * (../proxy-protocol.ts), then hands the socket, with the bytes after the header put back, to
 * the http or https server as if that server had accepted it (`emit('connection')`). The header
 * comes before the TLS handshake, so an https server gets the socket before TLS starts. The
 * socket's `remoteAddress`/`remotePort` become the header's source, so the request's peer
 * (getConnInfo in serve.ts) is the client; a TLS socket takes them from the socket under it.
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { Server } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createAdaptorServer, type serve } from '@hono/node-server';
import { awaitProxyHeader, type ProxySource } from '../proxy-protocol.ts';

type ServeOptions = Parameters<typeof serve>[0];
type ListeningListener = Parameters<typeof serve>[1];

/** The connection's peer seen as `source`, for every reader of the socket's address. */
function seenFrom(socket: Socket, source: ProxySource): void {
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
  awaitProxyHeader(socket, server.headersTimeout || 30_000, (source) => {
    if (source) seenFrom(socket, source);
    server.emit('connection', socket);
    socket.resume();
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
  // An https server wraps the socket in a TLSSocket, whose address comes from the TCP handle: give it the header's.
  server.prependListener('secureConnection', (tls: TLSSocket) => {
    const under = (tls as TLSSocket & { _parent?: Socket })._parent;
    if (under && Object.hasOwn(under, 'remoteAddress')) seenFrom(tls, { address: under.remoteAddress!, port: under.remotePort! });
  });
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
