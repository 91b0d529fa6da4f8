/**
 * The PROXY front of Bun.serve and Deno.serve (src/adapter/proxy-front.ts), here with node:net
 * servers in the runtime's place: a connection through the front names the PROXY header's client;
 * one the front did not make (from 127.0.0.1, or from 127.0.0.2 on the very source port of a front
 * connection) is `NOT_FROM_FRONT`, never the loopback peer nor another connection's client.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { NOT_FROM_FRONT, peerBehindFront, withProxyFronts } from '../../src/adapter/proxy-front.ts';
import type { ListenEntry } from '../../src/config/serving.ts';
import { freePort } from '../support/ports.ts';

describe('proxy-front: which client a loopback connection carries', () => {
  it('keys on source address and port; a connection the front did not make is NOT_FROM_FRONT', async () => {
    // What the inner server saw of each connection: the peer its handler would be given.
    const seen: Array<{ address: string; port: number; peer: string | undefined | null }> = [];
    const servers: Server[] = [];
    // Bun.serve and Deno.serve know their port at once; a net.Server only once listening: one picked beforehand.
    const innerPort = await freePort();
    const ops = withProxyFronts<Server>(
      {
        start(entry: ListenEntry, port: number) {
          // Asked on the first bytes, as the runtime's handler asks on a request.
          const server = createServer((socket: Socket) => {
            socket.once('data', () =>
              seen.push({ address: socket.remoteAddress!, port: socket.remotePort!, peer: peerBehindFront(entry, socket.remoteAddress, socket.remotePort) }),
            );
          });
          server.listen(port || innerPort, entry.host);
          servers.push(server);
          return server;
        },
        port: () => innerPort,
        drain: async (server) => void server.close(),
        readText: () => '',
        log: () => {},
      },
      {
        signals: { on: () => {}, once: () => {} },
        exit: (code) => {
          throw new Error(`exit ${code}`);
        },
        log: () => {},
      },
      'test',
      5,
    );
    const entry = { host: '127.0.0.1', port: 0, proxyProtocol: true } as ListenEntry;
    const server = ops.start(entry, 0, []);
    await once(server, 'listening');
    const inner = innerPort;
    const waitFor = async (count: number) => {
      while (seen.length < count) await new Promise((r) => setTimeout(r, 10));
    };
    const until = async (check: () => number) => {
      let port = check();
      while (!port) {
        await new Promise((r) => setTimeout(r, 10));
        port = check();
      }
      return port;
    };
    const front = await until(() => (ops.port(server) !== inner ? ops.port(server) : 0));

    // Through the front, with a PROXY v1 header naming 198.51.100.7.
    const client = connect({ host: '127.0.0.1', port: front });
    await once(client, 'connect');
    client.write('PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\n');
    await waitFor(1);
    expect(seen[0]!.peer).toBe('198.51.100.7');

    // Straight to the inner server from 127.0.0.1 (what realIp.from may trust): not the loopback peer.
    const direct = connect({ host: '127.0.0.1', port: inner }, () => direct.write('GET / HTTP/1.1\r\n'));
    await waitFor(2);
    expect(seen[1]!.peer).toBe(NOT_FROM_FRONT);

    // From 127.0.0.2 on the source port of the front's live connection: not that connection's client.
    const twin = connect({ host: '127.0.0.1', port: inner, localAddress: '127.0.0.2', localPort: seen[0]!.port }, () => twin.write('GET / HTTP/1.1\r\n'));
    await waitFor(3);
    expect(seen[2]).toMatchObject({ address: '127.0.0.2', port: seen[0]!.port, peer: NOT_FROM_FRONT });

    // Another listener (no proxyProtocol) is left as it is.
    expect(peerBehindFront({ host: '127.0.0.1', port: 1 } as ListenEntry, '127.0.0.1', 5000)).toBe('127.0.0.1');
    for (const socket of [client, direct, twin]) socket.destroy();
    await ops.drain(server);
    for (const s of servers) s.close();
  });
});
