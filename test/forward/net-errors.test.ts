/**
 * An upstream that cannot answer is named by its cause (connection refused, name not found, TLS
 * or scheme mismatch, certificate, reset), not "X is unreachable": in the 502 body, in the access
 * log's `error`, whose `bytesOut` counts the router's own error body. Real sockets on loopback,
 * through both upstream clients (undici on Node; the Fetch API one Bun, Deno and workerd use).
 */
import type { Server } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { createApp, type RouterApp } from '../../src/app.ts';
import { createCa, issueLeaf, sansFor } from '../../src/certs/issue.ts';
import { parseConfig } from '../../src/config/load.ts';
import { UpstreamError, type UpstreamClient } from '../../src/forward/client.ts';
import { fetchClient } from '../../src/forward/fetch-client.ts';
import { describeFailure } from '../../src/forward/net-errors.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { freePort } from '../support/ports.ts';

const timeouts = { idle: 5, connect: 2 };
const CLIENTS: Array<[string, () => UpstreamClient]> = [
  ['undici client', () => undiciClient(timeouts)],
  ['fetch client', () => fetchClient(timeouts)],
];

const servers: Array<Server | net.Server> = [];
const listen = async <S extends Server | net.Server>(server: S): Promise<number> => {
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
};

let ports: { closed: number; plain: number; tls: number; reset: number };

beforeAll(async () => {
  // A certificate for 127.0.0.1 from a CA the client does not trust.
  const ca = await createCa('ec', 'untrusted test CA');
  const leaf = await issueLeaf(ca, sansFor(['127.0.0.1', 'localhost']), 'ec');
  ports = {
    closed: await freePort(),
    plain: await listen(createHttpServer((_req, res) => res.end('plain'))),
    tls: await listen(createHttpsServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => res.end('tls'))),
    reset: await listen(net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy()))),
  };
});
afterAll(async () => {
  for (const server of servers) {
    (server as Server).closeAllConnections?.();
    await new Promise((done) => server.close(done));
  }
});

const send = (client: UpstreamClient, url: string) =>
  client.send({ url, method: 'GET', headers: new Headers(), body: null, signal: new AbortController().signal });

describe.each(CLIENTS)('upstream failures by cause, %s', (_name, makeClient) => {
  const client = makeClient();
  afterAll(() => client.close?.());

  const failure = async (url: string): Promise<UpstreamError> => {
    const error = await send(client, url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UpstreamError);
    return error as UpstreamError;
  };

  it('connection refused', async () => {
    const error = await failure(`http://127.0.0.1:${ports.closed}/v2/`);
    expect(error.message).toBe(`127.0.0.1:${ports.closed}: connection refused (ECONNREFUSED)`);
    expect(error.kind).toBe('unreachable');
  });

  it('name not found', async () => {
    // .invalid never resolves (RFC 6761); without a resolver at all the lookup fails as temporary.
    const error = await failure('http://registry.invalid:8082/v2/');
    expect(error.message).toMatch(/^registry\.invalid:8082: (name not found \(DNS\)|name lookup failed \(temporary DNS failure\))/);
  });

  it('https:// to a plain HTTP port: TLS/scheme mismatch', async () => {
    const error = await failure(`https://127.0.0.1:${ports.plain}/v2/`);
    expect(error.message).toMatch(new RegExp(`^127\\.0\\.0\\.1:${ports.plain}: TLS/scheme mismatch: .*plain HTTP\\? \\(then write http://\\)`));
  });

  it('http:// to a TLS port: closed before an answer, with the https:// hint', async () => {
    const error = await failure(`http://127.0.0.1:${ports.tls}/v2/`);
    expect(error.message).toMatch(/write https:\/\//);
  });

  it('a certificate the client does not trust', async () => {
    const error = await failure(`https://127.0.0.1:${ports.tls}/v2/`);
    expect(error.message).toMatch(/TLS certificate not accepted .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
  });

  it('connection reset', async () => {
    const error = await failure(`http://127.0.0.1:${ports.reset}/v2/`);
    expect(error.message).toBe(`127.0.0.1:${ports.reset}: connection reset (ECONNRESET)`);
  });
});

describe('causes as Bun, Deno and workerd word them', () => {
  const cause = (error: unknown, url = 'http://nexus:8082/v2/') => describeFailure(error, url).what;
  it('Bun: the code on the TypeError', () => {
    expect(cause(Object.assign(new TypeError('ECONNREFUSED: Unable to connect.'), { code: 'ECONNREFUSED' }))).toBe('connection refused');
    expect(cause(Object.assign(new TypeError('EPROTO: The TLS handshake failed.'), { code: 'EPROTO' }), 'https://nexus:8082/')).toMatch(
      /^TLS\/scheme mismatch/,
    );
  });
  it('Deno: only a message, in the cause', () => {
    const deno = (message: string) => new TypeError('fetch failed', { cause: new Error(message) });
    expect(cause(deno('client error (Connect): tcp connect error: Connection refused (os error 111)'))).toBe('connection refused');
    expect(cause(deno('client error (Connect): dns error: failed to lookup address information: Name or service not known'))).toBe('name not found (DNS)');
    expect(cause(deno('client error (Connect): received corrupt message of type InvalidContentType'), 'https://nexus:8443/')).toMatch(/^TLS\/scheme mismatch/);
    expect(cause(deno('client error (SendRequest): invalid HTTP version parsed'))).toMatch(/^TLS\/scheme mismatch: the answer is not HTTP/);
    expect(cause(deno('Connection reset by peer (os error 104)'))).toBe('connection reset');
  });
  it('workerd: no cause to name', () => {
    expect(cause(new Error('Network connection lost.'))).toMatch(/^connection failed or was lost/);
  });
});

describe('the 502 and its access-log line', () => {
  let app: RouterApp;
  let server: Server;
  let url: string;
  const log: AccessEntry[] = [];

  beforeAll(async () => {
    const config = parseConfig({
      sites: [
        { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstream: `http://127.0.0.1:${ports.closed}`, rules: [{ methods: ['DELETE'], to: 'deny' }] },
      ],
    });
    app = createApp(config, { client: undiciClient(timeouts), log: (entry) => log.push(entry), healthLog: () => {} });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
    await new Promise<void>((done) => (server.listening ? done() : server.once('listening', () => done())));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    app?.stop();
    server?.closeAllConnections();
    await new Promise((done) => server?.close(done));
  });

  const get = async (path: string, method = 'GET', host = 'idocker.io') => {
    const before = log.length;
    const res = await request(`${url}${path}`, { method: method as 'GET', headers: { host } });
    const body = await res.body.text();
    for (let i = 0; i < 50 && log.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    return { status: res.statusCode, body, entry: log.at(-1)! };
  };

  it('names the cause in the body and the log, and counts the body it wrote', async () => {
    const { status, body, entry } = await get('/v2/team/app/manifests/1.0');
    expect(status).toBe(502);
    const message = (JSON.parse(body) as { errors: Array<{ message: string }> }).errors[0]!.message;
    expect(message).toBe(`read upstream of site docker: 127.0.0.1:${ports.closed}: connection refused (ECONNREFUSED)`);
    expect(entry).toMatchObject({ status: 502, error: `127.0.0.1:${ports.closed}: connection refused (ECONNREFUSED)`, bytesOut: Buffer.byteLength(body) });
  });

  it('counts the other answers the router writes itself: 421, 405, 400', async () => {
    for (const [path, method, host, status] of [
      ['/v2/', 'GET', 'nobody.example', 421],
      ['/v2/a/manifests/1', 'DELETE', 'idocker.io', 405],
      ['/v2/..%2fx', 'GET', 'idocker.io', 400],
    ] as const) {
      const reply = await get(path, method, host);
      expect(reply.status).toBe(status);
      expect(reply.body.length).toBeGreaterThan(0);
      expect(reply.entry).toMatchObject({ status, bytesOut: Buffer.byteLength(reply.body) });
    }
  });

  it('a HEAD gets no body, and the log says 0 bytes', async () => {
    const { status, body, entry } = await get('/v2/team/app/manifests/1.0', 'HEAD');
    expect(status).toBe(502);
    expect(body).toBe('');
    expect(entry.bytesOut).toBe(0);
  });
});
