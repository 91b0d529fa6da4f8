/**
 * PROXY protocol listeners on Bun.serve and Deno.serve, which hand the router no raw socket to
 * read a header from: a small TCP front (node:net, the same in Bun and Deno) accepts on the
 * listener's address, reads each connection's PROXY header (proxy-protocol.ts), connects to the
 * runtime's server on a loopback port of its own and pipes both ways, TLS included (the header
 * comes before the handshake, so TLS still ends in the runtime's server). The front remembers which
 * of its loopback connections (by source address and port) carries which client, and the adapter
 * asks it for the request's peer (`peerBehindFront`). Any local process can reach that loopback
 * port too: a connection the front did not make is refused (`NOT_FROM_FRONT`), never served as the
 * loopback peer (which `realIp.from` may trust) nor as another connection's client. A Unix socket
 * would keep other hosts' users out but names no peer per connection in Bun.serve or Deno.serve, so
 * nothing could map a request back to its client. Node's own servers read the header in place
 * instead (node/proxy-protocol.ts).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ListenEntry } from '../config/serving.ts';
import type { PemPair } from '../config/tls-files.ts';
import { listeningLine, type ProcessHooks } from './lifecycle.ts';
import { addressInUseHint, type ServerOps } from './listeners.ts';
import { awaitProxyHeader } from './proxy-protocol.ts';
import { workerRole } from './workers-role.ts';

const LOOPBACK = '127.0.0.1';

/** One proxied listener: its public front and the runtime's server behind it on a loopback port. */
interface Front {
  /** The entry the runtime's server is started with: loopback, the port it got. */
  readonly inner: ListenEntry;
  innerPort: number;
  /** The runtime's server the front feeds now (a SIGHUP replaces it on the same loopback port). */
  current?: unknown;
  /** `address:port` a loopback connection comes from → the client address its PROXY header named (or the balancer's, for LOCAL/UNKNOWN). */
  readonly clients: Map<string, string>;
  readonly server: Server;
  publicPort?: number;
}

/** Fronts by the loopback entry their server was started with (what the adapter's handler knows). */
const frontOf = new WeakMap<ListenEntry, Front>();

/** What `peerBehindFront` says of a connection to a proxied listener's loopback server that its front did not make. */
export const NOT_FROM_FRONT = null;

/** The answer to a request on a connection the front did not make (`NOT_FROM_FRONT`): 403, and the connection closed. */
export function notFromFrontResponse(): Response {
  return new Response('this port takes connections from the PROXY protocol front only\n', {
    status: 403,
    headers: { 'content-type': 'text/plain', connection: 'close' },
  });
}

/** `127.0.0.1` for `::ffff:127.0.0.1` (how a dual-stack socket may name an IPv4 peer), else the text as is. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The address a request came from, for a handler of a server started by `withProxyFronts`: on a
 * proxied listener's loopback server, the client of the front's connection from `address`:`port`
 * (the loopback peer the runtime names), or `NOT_FROM_FRONT` (null) when the front made no such
 * connection (refuse the request: notFromFrontResponse); on any other listener, `address` as is.
 */
export function peerBehindFront(entry: ListenEntry, address: string | undefined, port: number | undefined): string | undefined | null {
  const front = frontOf.get(entry);
  if (!front) return address;
  if (address === undefined || port === undefined) return NOT_FROM_FRONT;
  return front.clients.get(`${plainAddress(address)}:${port}`) ?? NOT_FROM_FRONT;
}

/**
 * `ops` with a front for every entry with `proxyProtocol`: its server is started on a loopback
 * port and the front listens on the entry's address, printing the listener's start line when it
 * does (the adapter prints none for such entries) and ending the process (exit 1) when it cannot
 * listen. A front stops accepting when its current server is drained. `headerSeconds` bounds the
 * wait for a connection's PROXY header.
 */
export function withProxyFronts<S>(ops: ServerOps<S>, hooks: ProcessHooks, source: string, headerSeconds: number): ServerOps<S> {
  const fronts = new Map<ListenEntry, Front>();
  const byServer = new Map<S, Front>();
  return {
    ...ops,
    start(entry: ListenEntry, port: number, pairs: PemPair[]): S {
      if (!entry.proxyProtocol) return ops.start(entry, port, pairs);
      let front = fronts.get(entry);
      if (!front) {
        front = openFront(entry, headerSeconds * 1000);
        const server = ops.start(front.inner, 0, pairs);
        front.innerPort = ops.port(server);
        fronts.set(entry, front);
        startFront(front, entry, pairs.length > 0, hooks, source);
        front.current = server;
        byServer.set(server, front);
        return server;
      }
      const server = ops.start(front.inner, front.innerPort, pairs);
      front.current = server;
      byServer.set(server, front);
      return server;
    },
    port(server: S): number {
      const front = byServer.get(server);
      return front?.publicPort ?? ops.port(server);
    },
    drain(server: S): Promise<void> {
      const front = byServer.get(server);
      byServer.delete(server);
      if (front && front.current === server) front.server.close();
      return ops.drain(server);
    },
  };
}

/** A front for `entry`, not listening yet; its server's loopback entry is known to `peerBehindFront`. */
function openFront(entry: ListenEntry, headerMs: number): Front {
  const clients = new Map<string, string>();
  const inner: ListenEntry = { ...entry, host: LOOPBACK, port: 0 };
  const front: Front = {
    inner,
    innerPort: 0,
    clients,
    server: createServer({ allowHalfOpen: true }, (socket) => relay(socket, front, headerMs)),
  };
  frontOf.set(inner, front);
  return front;
}

/** Listens on the entry's public address; the start line once it does, exit 1 when it cannot. */
function startFront(front: Front, entry: ListenEntry, tls: boolean, hooks: ProcessHooks, source: string): void {
  front.server.once('error', (error) => {
    const where = `${entry.host.includes(':') ? `[${entry.host}]` : entry.host}:${entry.port}`;
    hooks.log(`registry-router: cannot listen on ${where}: ${error.message}${addressInUseHint(error, where, 'listen')}`);
    hooks.exit(1);
  });
  // Workers of one router (Bun, Deno: workers-role.ts) each run a front on the same address, as their servers share theirs.
  front.server.listen({ port: entry.port, host: entry.host, ...(workerRole() && { reusePort: true }) }, () => {
    const address = front.server.address();
    if (!address || typeof address === 'string') return;
    front.publicPort = address.port;
    hooks.log(listeningLine(tls ? 'https' : 'http', address.address, address.port, source));
  });
}

/**
 * One connection: its PROXY header, then a loopback connection to the runtime's server, piped both
 * ways with half-closes passed on. No valid header: the connection is closed and the server never
 * hears of it. Either side failing cuts the other.
 */
function relay(socket: Socket, front: Front, headerMs: number): void {
  socket.on('error', () => {});
  awaitProxyHeader(socket, headerMs, (header) => {
    const client = header?.address ?? socket.remoteAddress ?? '';
    const inner = connect({ host: LOOPBACK, port: front.innerPort, allowHalfOpen: true });
    inner.setNoDelay(true);
    socket.setNoDelay(true);
    inner.on('error', () => socket.destroy());
    socket.once('close', () => inner.destroy());
    inner.once('connect', () => {
      if (inner.localAddress === undefined || inner.localPort === undefined) return void socket.destroy();
      const key = `${plainAddress(inner.localAddress)}:${inner.localPort}`;
      front.clients.set(key, client);
      inner.once('close', () => front.clients.delete(key));
      socket.pipe(inner);
      inner.pipe(socket);
      socket.resume();
    });
  });
}
