/**
 * The client's address behind a balancer (issue 21), with Debian's haproxy in front of the router
 * on every server runtime: `send-proxy-v2` to one listener, `send-proxy` (v1) to another, `option
 * forwardfor` to a third (realIp trusts haproxy's 127.0.0.1), and `send-proxy-v2` in TCP mode to a
 * TLS listener (the header comes before the handshake). The client connects from 127.0.0.2, so it
 * differs from haproxy: the origin must see X-Forwarded-For ending in 127.0.0.2 and the router's
 * access log must name it. A connection to a PROXY listener without a valid header is closed and
 * nothing of it reaches the origin; a client that is not a trusted proxy cannot name itself.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin } from '../support/origin.ts';
import { freePort } from '../support/ports.ts';
import { startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { runHaproxy } from '../support/haproxy.ts';

const CLIENT = '127.0.0.2';
const RUNTIMES: Runtime[] = ['node', 'bun-node', 'bun', 'deno'];

let origin: Awaited<ReturnType<typeof startOrigin>>;
let certDir: string;

beforeAll(async () => {
  origin = await startOrigin((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  certDir = mkdtempSync(join(tmpdir(), 'client-address-'));
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=registry.test', '-addext', 'subjectAltName=DNS:registry.test'].concat([
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
    ]),
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
});
afterAll(() => origin?.close());

/** haproxy in front of the router's four listeners; `ports` are its frontends in the same order. */
async function startHaproxy(routerPorts: number[]): Promise<{ ports: number[]; child: ChildProcess; stop(): Promise<void> }> {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  const [v2, v1, xff, tls] = routerPorts;
  const config = [
    'global',
    '  maxconn 100',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    `frontend proxy_v2\n  bind 127.0.0.1:${ports[0]}\n  default_backend proxy_v2`,
    `backend proxy_v2\n  server router 127.0.0.1:${v2} send-proxy-v2`,
    `frontend proxy_v1\n  bind 127.0.0.1:${ports[1]}\n  default_backend proxy_v1`,
    `backend proxy_v1\n  server router 127.0.0.1:${v1} send-proxy`,
    `frontend forwardfor\n  bind 127.0.0.1:${ports[2]}\n  option forwardfor\n  default_backend forwardfor`,
    `backend forwardfor\n  server router 127.0.0.1:${xff}`,
    `frontend tls\n  mode tcp\n  bind 127.0.0.1:${ports[3]}\n  default_backend tls`,
    `backend tls\n  mode tcp\n  server router 127.0.0.1:${tls} send-proxy-v2`,
    '',
  ].join('\n');
  const path = join(mkdtempSync(join(tmpdir(), 'haproxy-')), 'haproxy.cfg');
  writeFileSync(path, config);
  const run = await runHaproxy(
    path,
    config,
    ports.map((port) => ['127.0.0.1', port] as const),
  );
  return { ports, ...run };
}

/** A GET from 127.0.0.2; resolves with the status. */
function get(port: number, path: string, options: { tls?: boolean; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = options.tls ? httpsRequest : httpRequest;
    const req = send(
      {
        host: '127.0.0.1',
        port,
        path,
        localAddress: CLIENT,
        headers: { host: 'registry.test', ...options.headers },
        agent: false,
        ...(options.tls && { servername: 'registry.test', rejectUnauthorized: false }),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Writes `bytes` from 127.0.0.2 and resolves with what came back before the router closed the connection. */
function sendRaw(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: CLIENT }, () => socket.write(bytes));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(answer));
  });
}

/**
 * The loopback ports `pid` listens on besides `known` (Linux /proc): on Bun and Deno, the servers
 * behind the PROXY fronts (proxy-front.ts), which any local process can reach.
 */
function otherLoopbackPorts(pid: number, known: number[]): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode) inodes.add(inode);
    } catch {}
  }
  const ports: number[] = [];
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
    if (state !== '0A' || !local?.startsWith('0100007F:') || !inodes.has(inode!)) continue;
    const port = Number.parseInt(local.slice(9), 16);
    if (!known.includes(port)) ports.push(port);
  }
  return ports;
}

/** The origin's record of the request for `path` (waits for it). */
async function seenAt(path: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = origin.seen.find((request) => request.url === path);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`the origin never saw ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The router's access-log line for `path` (waits for it). */
async function loggedAt(router: RouterProcess, path: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = router.accessLog().find((entry) => entry.path === path);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no access-log line for ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(RUNTIMES)('client address behind haproxy on %s', (runtime) => {
  let router: RouterProcess;
  let haproxy: Awaited<ReturnType<typeof startHaproxy>>;

  beforeAll(async () => {
    router = await startRouter(
      runtime,
      { sites: [{ name: 'raw', hosts: ['registry.test'], upstream: `${origin.url}/` }], realIp: { from: ['127.0.0.1'] } },
      {
        listen: [{ proxyProtocol: true }, { proxyProtocol: true }, {}, { proxyProtocol: true, cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') }],
      },
    );
    haproxy = await startHaproxy(router.ports);
  }, 60_000);
  afterAll(async () => {
    await haproxy?.stop();
    await router?.stop();
  });

  it.each([
    ['send-proxy-v2', 0, '127.0.0.2'],
    ['send-proxy (v1)', 1, '127.0.0.2'],
    ['option forwardfor, realIp trusting haproxy', 2, '127.0.0.2, 127.0.0.2'],
  ] as const)('%s: the origin and the access log name the client, not haproxy', async (_name, frontend, forwardedFor) => {
    const path = `/${runtime}/frontend-${frontend}`;
    expect(await get(haproxy.ports[frontend]!, path)).toBe(200);
    const seen = await seenAt(path);
    expect(seen.headers['x-forwarded-for']).toBe(forwardedFor);
    expect(seen.headers['x-real-ip']).toBe(CLIENT);
    expect((await loggedAt(router, path)).client).toBe(CLIENT);
  });

  it('TLS behind send-proxy-v2 (TCP mode): the header before the handshake, the client named', async () => {
    const path = `/${runtime}/tls`;
    expect(await get(haproxy.ports[3]!, path, { tls: true })).toBe(200);
    expect((await seenAt(path)).headers['x-real-ip']).toBe(CLIENT);
    expect((await loggedAt(router, path)).client).toBe(CLIENT);
  });

  it('TLS whose ClientHello comes in one segment with the PROXY header', async () => {
    const path = `/${runtime}/tls-one-segment`;
    const answer = await new Promise<string>((resolve, reject) => {
      const raw = connect({ port: router.ports[3]!, host: '127.0.0.1', localAddress: CLIENT });
      raw.setNoDelay(true);
      // TLS writes through this stream: its first write (the ClientHello) leaves in one write with the header.
      let prefix: Buffer | undefined = Buffer.from('PROXY TCP6 2001:db8::9 ::1 4000 443\r\n');
      const stream = new Duplex({
        read: () => raw.resume(),
        write(chunk: Buffer, _encoding, done) {
          raw.write(prefix ? Buffer.concat([prefix, chunk]) : chunk, done);
          prefix = undefined;
        },
        final(done) {
          raw.end(done);
        },
      });
      raw.on('data', (chunk) => stream.push(chunk));
      raw.on('end', () => stream.push(null));
      raw.on('error', reject);
      const tls = tlsConnect({ socket: stream, servername: 'registry.test', rejectUnauthorized: false }, () =>
        tls.write(`GET ${path} HTTP/1.1\r\nHost: registry.test\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      tls.on('data', (chunk) => (text += chunk));
      tls.on('end', () => resolve(text));
      tls.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect((await loggedAt(router, path)).client).toBe('2001:db8::9');
  });

  it('TLS behind the PROXY header after a SIGHUP (new certificates; Bun and Deno start a new server behind the same front)', async () => {
    router.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!/SIGHUP, reloaded the certificates/.test(router.stderr())) {
      if (Date.now() > deadline) throw new Error(`no reload line:\n${router.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const n of [1, 2]) {
      const path = `/${runtime}/tls-after-sighup-${n}`;
      expect(await get(haproxy.ports[3]!, path, { tls: true })).toBe(200);
      expect((await loggedAt(router, path)).client).toBe(CLIENT);
    }
  });

  it('without a valid PROXY header the connection is closed and nothing reaches the origin', async () => {
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: registry.test\r\n\r\n`;
    const refused = [
      request(`/${runtime}/no-header`),
      `PROXY TCP4 198.51.100.7 127.0.0.1 4000\r\n${request(`/${runtime}/short-v1`)}`,
      `PROXY TCP4 198.51.100.7 127.0.0.1 4000 80\n${request(`/${runtime}/lone-lf`)}`,
      Buffer.concat([
        Buffer.from('\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04', 'latin1'),
        Buffer.from([198, 51, 100, 7]),
        Buffer.from(request(`/${runtime}/short-v2`)),
      ]),
    ];
    for (const bytes of refused) expect(await sendRaw(router.ports[0]!, bytes)).toBe('');
    // A valid header on the same listener still works, and names the header's source.
    const ok = await sendRaw(
      router.ports[0]!,
      `PROXY TCP4 198.51.100.7 127.0.0.1 4000 80\r\n${request(`/${runtime}/v1-direct`).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`,
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200/);
    expect((await loggedAt(router, `/${runtime}/v1-direct`)).client).toBe('198.51.100.7');
    const paths = ['no-header', 'short-v1', 'lone-lf', 'short-v2'].map((name) => `/${runtime}/${name}`);
    expect(origin.seen.filter((seen) => paths.includes(seen.url))).toEqual([]);
    expect(router.accessLog().filter((entry) => paths.includes(entry.path))).toEqual([]);
  });

  it('a client that is not a trusted proxy cannot set its own address', async () => {
    const path = `/${runtime}/spoofed`;
    expect(await get(router.ports[2]!, path, { headers: { 'x-forwarded-for': '198.51.100.99', 'x-real-ip': '198.51.100.99' } })).toBe(200);
    const seen = await seenAt(path);
    expect(seen.headers['x-forwarded-for']).toBe(`198.51.100.99, ${CLIENT}`);
    expect(seen.headers['x-real-ip']).toBe(CLIENT);
    expect((await loggedAt(router, path)).client).toBe(CLIENT);
  });

  // Only Bun and Deno have a front (Node reads the header in place): defined for them alone rather than skipped.
  if (runtime === 'bun' || runtime === 'deno')
    it("the fronts' loopback servers refuse connections the front did not make (no spoofed X-Forwarded-For from 127.0.0.1)", async () => {
      // The PROXY listeners' servers (plain v2, v1; TLS is refused at the handshake's end the same way).
      const inner = otherLoopbackPorts(router.child.pid!, router.ports);
      expect(inner.length).toBeGreaterThanOrEqual(2);
      let refused = 0;
      for (const port of inner) {
        const path = `/${runtime}/inner-${port}`;
        // From 127.0.0.1, the address realIp.from trusts: before the fix, answered and logged as 6.6.6.6.
        const request = `GET ${path} HTTP/1.1\r\nHost: registry.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n`;
        const answer = await new Promise<string>((resolve) => {
          const socket = connect({ port, host: '127.0.0.1' }, () => socket.write(request));
          let text = '';
          socket.on('data', (chunk) => (text += chunk));
          socket.on('error', () => {});
          socket.on('close', () => resolve(text));
        });
        // The TLS listener's server answers plain text with a TLS alert (Deno) or closes (Bun), the others with 403.
        if (answer.startsWith('HTTP')) refused++;
        expect(answer).toMatch(/^(HTTP\/1\.1 403 |\x15\x03|$)/);
        expect(origin.seen.filter((seen) => seen.url === path)).toEqual([]);
        expect(router.accessLog().filter((entry) => entry.path === path || entry.client === '6.6.6.6')).toEqual([]);
      }
      expect(refused).toBe(2);
      // Connections the front made still name their client.
      const path = `/${runtime}/after-inner`;
      expect(await get(haproxy.ports[0]!, path)).toBe(200);
      expect((await loggedAt(router, path)).client).toBe(CLIENT);
    });

  it('SIGTERM: the fronts close with the servers, exit 0', async () => {
    await haproxy.stop();
    expect(await router.stop()).toBe(0);
  });
});

// `bun run src/node.ts` serves a Maven site on plain HTTP through Bun's node:http (on-bun.ts), where
// the header is read in place as on Node (node/proxy-protocol.ts), not through the loopback front.
describe("PROXY protocol on Bun's node:http (bun-node with a Maven site)", () => {
  it('names the client of the header; no header: closed, nothing forwarded', async () => {
    const router = await startRouter(
      'bun-node',
      { sites: [{ name: 'maven', preset: 'maven', hosts: ['registry.test'], upstream: `${origin.url}/` }] },
      { listen: [{ proxyProtocol: true }] },
    );
    try {
      expect(router.stderr()).toMatch(/serving through node:http/);
      const path = '/bun-node-http/org/example/app/1.0/app-1.0.pom';
      const request = `GET ${path} HTTP/1.1\r\nHost: registry.test\r\nConnection: close\r\n\r\n`;
      expect(await sendRaw(router.port, `PROXY TCP6 2001:db8::7 ::1 4000 80\r\n${request}`)).toMatch(/^HTTP\/1\.1 200/);
      expect((await seenAt(path)).headers['x-real-ip']).toBe('2001:db8::7');
      expect((await loggedAt(router, path)).client).toBe('2001:db8::7');
      expect(await sendRaw(router.port, request.replace(path, `${path}.sha1`))).toBe('');
      expect(origin.seen.filter((seen) => seen.url === `${path}.sha1`)).toEqual([]);
      expect(await router.stop()).toBe(0);
    } finally {
      await router.stop();
    }
  });
});
