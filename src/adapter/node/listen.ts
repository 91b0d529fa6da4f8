/**
 * The Node adapter's listeners: one @hono/node-server per `listen` entry, node:https for TLS
 * entries. Certificates are read at start and again on `reload()` (SIGHUP): `setSecureContext`
 * swaps them for new connections while connections in flight keep theirs.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { createAdaptorServer, serve } from '@hono/node-server';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isTls, type CertPair, type ListenEntry } from '../../config/serving.ts';
import { missingFileHint } from '../../config/tls-files.ts';
import { addressInUseHint } from '../listeners.ts';
import { listenerKey, onHandedConnection, workerRole } from '../workers-role.ts';
import { handAfterProxyHeader, serveAfterProxyHeader } from './proxy-protocol.ts';
import { FlushedEndResponse } from './flushed-end.ts';

type FetchHandler = Parameters<typeof serve>[0]['fetch'];

export interface Listener {
  readonly entry: ListenEntry;
  readonly server: Server;
  readonly scheme: 'http' | 'https';
  /** Re-reads the certificate files (TLS only); throws, keeping the old ones, when they do not load. */
  reload(): void;
}

interface LoadedPair {
  cert: Buffer;
  key: Buffer;
  context: SecureContext;
  x509: X509Certificate;
}

/**
 * Node's 300 s request timeout would cut long layer uploads; idle timeouts guard instead. The
 * header timeout (`timeouts.header`) still closes clients that trickle their headers, with
 * requestTimeout 0 too; Node checks it every connectionsCheckingInterval (30 s by default, which
 * would let a 2 s timeout run 32 s), so check at a quarter of it, at least once a second.
 */
const serverOptions = (headerSeconds: number) => ({
  requestTimeout: 0,
  headersTimeout: headerSeconds * 1000,
  connectionsCheckingInterval: Math.min(1000, (headerSeconds * 1000) / 4),
  keepAliveTimeout: 65_000,
  // Node's parser stops at 16 KiB of headers by default with a bare 431; let the guard's 64 KiB
  // limit decide (431 in the client's format), with Node's own answer only well past it.
  maxHeaderSize: 80 * 1024,
  // end() once the queued bytes have left, so that draining never destroys a slow client's last megabytes.
  ServerResponse: FlushedEndResponse as typeof ServerResponse,
});

/**
 * node:http hands CONNECT to a 'connect' listener and, without one, drops the connection without
 * a word. Answer it as the guard does on other runtimes (src/request/guard.ts): 405, then close.
 */
function refuseConnect(_request: unknown, socket: Duplex): void {
  const body = JSON.stringify({ error: 'unsupported', message: 'CONNECT is not supported: this router is not a forward proxy' });
  socket.on('error', () => {});
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Reads and checks each pair: a key that does not match its certificate fails here, with the file names. */
export function loadCertPairs(pairs: readonly CertPair[], warn: (line: string) => void = () => {}): LoadedPair[] {
  return pairs.map(({ cert, key }) => {
    try {
      const certPem = readFileSync(cert);
      const keyPem = readFileSync(key);
      const context = createSecureContext({ cert: certPem, key: keyPem });
      const x509 = new X509Certificate(certPem);
      const expires = Date.parse(x509.validTo);
      if (expires < Date.now()) warn(`registry-router: certificate ${cert} expired on ${x509.validTo}`);
      else if (expires < Date.now() + 14 * 86_400_000) warn(`registry-router: certificate ${cert} expires on ${x509.validTo}`);
      return { cert: certPem, key: keyPem, context, x509 };
    } catch (error) {
      throw new Error(`cannot use TLS certificate ${cert} with key ${key}: ${(error as Error).message}${missingFileHint(error)}`);
    }
  });
}

/** The pair whose certificate names `servername` (wildcards included), else the first. */
function pick(pairs: readonly LoadedPair[], servername: string): LoadedPair {
  return pairs.find((pair) => pair.x509.checkHost(servername) !== undefined) ?? pairs[0]!;
}

/**
 * A busy address fails after `listen()` returns, as an 'error' event whose message the adapter
 * prints (node/serve.ts): the hint (what holds it, which setting moves the port) goes into that
 * message before the adapter's own handler sees it.
 */
function withAddressHint(server: Server | HttpsServer, entry: ListenEntry, field: string): void {
  server.prependOnceListener('error', (error: Error) => {
    error.message += addressInUseHint(error, `${entry.host.includes(':') ? `[${entry.host}]` : entry.host}:${entry.port}`, field);
  });
}

/**
 * @hono/node-server's `serve` for a lone router. In a worker of several (workers-role.ts) on Node,
 * the same server without a socket of its own: the primary accepted the connections and hands
 * them over unread, and each is emitted as the server's 'connection' (TLS servers then do the
 * handshake here). Under Bun's node:http a worker would need reusePort, which Bun's node:http
 * lacks: on-bun.ts serves workers through Bun.serve instead.
 */
function serveOrJoin(entry: ListenEntry, options: Parameters<typeof serve>[0], onListening: (info: AddressInfo) => void): Server {
  if (workerRole()?.sharing !== 'handed') return (entry.proxyProtocol ? serveAfterProxyHeader : serve)(options, onListening) as Server;
  const server = createAdaptorServer(options) as Server;
  const sockets = new Set<Socket>();
  const waiting: Array<(error?: Error) => void> = [];
  let closing = false;
  const closeServer = server.close.bind(server);
  const finish = () => {
    if (!closing || sockets.size) return;
    closeServer();
    for (const done of waiting.splice(0)) done();
  };
  onHandedConnection(listenerKey(entry), (handed) => {
    const socket = handed as Socket;
    if (closing) return void socket.destroy();
    sockets.add(socket);
    // What net.Server does for the sockets it accepts itself (http's noDelay default): without it,
    // Nagle and delayed ACKs hold small answers ~40 ms.
    socket.setNoDelay(true);
    socket.once('close', () => {
      sockets.delete(socket);
      finish();
    });
    if (entry.proxyProtocol) return handAfterProxyHeader(server, socket);
    server.emit('connection', socket);
    socket.resume();
  });
  // close() of a server that never listened would call back at once (net counts only the
  // connections it accepted itself): wait until the handed connections have closed.
  server.close = ((done?: (error?: Error) => void) => {
    closing = true;
    server.closeIdleConnections();
    if (done) waiting.push(done);
    finish();
    return server;
  }) as Server['close'];
  setImmediate(() => {
    // As listen() would: the http server tracks its connections (header timeout, closeIdleConnections) from 'listening'.
    server.emit('listening');
    onListening({ address: entry.host, family: entry.host.includes(':') ? 'IPv6' : 'IPv4', port: entry.port });
  });
  return server;
}

/** `field` names the entry in hints (`listen[0]`, which PORT sets too). */
export function listen(
  entry: ListenEntry,
  fetch: FetchHandler,
  onListening: (listener: Listener, address: AddressInfo) => void,
  warn: (line: string) => void,
  headerSeconds = 30,
  field = 'listen',
): Listener {
  const options = serverOptions(headerSeconds);
  if (!isTls(entry)) {
    let listener: Listener;
    const server = serveOrJoin(entry, { fetch, hostname: entry.host, port: entry.port, serverOptions: options }, (info) => onListening(listener, info));
    server.on('connect', refuseConnect);
    withAddressHint(server, entry, field);
    listener = { entry, server, scheme: 'http', reload() {} };
    return listener;
  }

  let pairs = loadCertPairs(entry.certs, warn);
  const first = pairs[0]!;
  let listener: Listener;
  const server = serveOrJoin(
    entry,
    {
      fetch,
      hostname: entry.host,
      port: entry.port,
      createServer: createHttpsServer,
      serverOptions: {
        ...options,
        cert: first.cert,
        key: first.key,
        // Several certificates: choose by the name the client asks for; no SNI (an IP) gets the first.
        ...(entry.certs.length > 1 && {
          SNICallback: (servername: string, done: (error: Error | null, context?: SecureContext) => void) => done(null, pick(pairs, servername).context),
        }),
      },
    },
    (info) => onListening(listener, info),
  ) as unknown as HttpsServer;
  server.on('connect', refuseConnect);
  withAddressHint(server, entry, field);
  listener = {
    entry,
    server: server as unknown as Server,
    scheme: 'https',
    reload() {
      if (typeof server.setSecureContext !== 'function')
        throw new Error('this runtime cannot swap certificates in place (Bun: use src/bun.ts); restart the router');
      const next = loadCertPairs(entry.certs, warn);
      server.setSecureContext({ cert: next[0]!.cert, key: next[0]!.key });
      pairs = next;
    },
  };
  return listener;
}
