/**
 * Streamed answers through the router as a real process, one per runtime: a body that keeps moving
 * is never cut, a declared length reaches the client, and a body that ends short breaks the
 * transfer instead of looking whole.
 */
import { connect } from 'node:net';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin } from '../support/origin.ts';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';

/** Whether the server closes an idle keep-alive connection within 8 s after a streamed answer. */
const KEEP_ALIVE_CLOSES: Record<(typeof RUNTIMES)[number], boolean> = {
  node: false,
  'bun-node': true,
  bun: true,
  deno: false,
  'deno-node': false,
  workerd: true,
};

/** Where `nativePipe` hands HUGE answers to the server untouched (Bun.serve, both Bun entries). */
const PIPED_NATIVELY = new Set<(typeof RUNTIMES)[number]>(['bun', 'bun-node']);

const PIECE = 1024;
const PIECES = 10;
/** Above SMALL_BODY (64 KiB), so the router streams it instead of reading it whole. */
const LARGE = 256 * 1024;
/**
 * At least nativePipe.minSize (1 MiB): with `nativePipe` on, Bun.serve (both Bun entries) gets the upstream body untouched
 * and pipes it natively (src/forward/native-pipe.ts); Node, Deno and workerd stream it through JavaScript.
 */
const HUGE = 2 * 1024 * 1024;

function origin(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url!.split('?')[0]!;
  if (path === '/pieces' || path === '/pieces-chunked') {
    // 10 pieces 500 ms apart: 5 s in all, each gap well inside timeouts.idle (2 s).
    const piece = Number(new URL(req.url!, 'http://x').searchParams.get('piece') ?? PIECE);
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(path === '/pieces' && { 'content-length': piece * PIECES }) });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(piece, 1));
      if (++sent === PIECES) {
        clearInterval(timer);
        res.end();
      }
    }, 500);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (path === '/stall') {
    // Half of its declared length, then silence: only the router's idle timer can end it.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LARGE });
    res.write(Buffer.alloc(LARGE / 2, 3));
    return;
  }
  if (path === '/huge' || path === '/huge-short' || path === '/huge-stall') {
    // Whole; or closed after half of it; or half of it, then silence.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': HUGE });
    const upTo = path === '/huge' ? HUGE : HUGE / 2;
    let sent = 0;
    const pump = () => {
      while (sent < upTo) {
        sent += 64 * 1024;
        if (!res.write(Buffer.alloc(64 * 1024, 4))) return void res.once('drain', pump);
      }
      if (path === '/huge') res.end();
      else if (path === '/huge-short') setTimeout(() => res.destroy(), 200);
    };
    pump();
    return;
  }
  if (path === '/large' || path === '/short') {
    // `/short` declares LARGE and closes after half of it.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LARGE });
    const half = path === '/short';
    let sent = 0;
    const pump = () => {
      while (sent < (half ? LARGE / 2 : LARGE)) {
        sent += 16 * 1024;
        if (!res.write(Buffer.alloc(16 * 1024, 2))) return void res.once('drain', pump);
      }
      if (half) setTimeout(() => res.destroy(), 200);
      else res.end();
    };
    pump();
    return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
}

interface Received {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  /** True when the body ended as its framing says; false when the transfer broke off. */
  complete: boolean;
  ms: number;
}

/** A GET through the router, whatever happens to its body. */
function get(router: RouterProcess, path: string): Promise<Received> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    let answer: IncomingMessage | undefined;
    const req = httpRequest({ host: '127.0.0.1', port: router.port, path, headers: { host: 'stream.example' } }, (res) => {
      answer = res;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode!, headers: res.headers, bytes, complete: res.complete, ms: Date.now() - start }));
    });
    // A reset once the answer has begun is a broken body (its 'close' resolves); before, a failure.
    req.on('error', (error) => answer === undefined && reject(error));
    req.end();
  });
}

/**
 * Seconds from the end of a streamed answer (chunked, on a keep-alive connection) until the router
 * closes the idle connection; `undefined` if still open after `waitMs`.
 */
function keepAliveAfterStream(router: RouterProcess, waitMs: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect(router.port, '127.0.0.1', () => socket.write('GET /pieces-chunked HTTP/1.1\r\nHost: stream.example\r\n\r\n'));
    let seen = '';
    let ended: number | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, 6000 + waitMs);
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (ended === undefined && seen.endsWith('\r\n0\r\n\r\n')) ended = Date.now();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (ended === undefined) reject(new Error(`closed before the answer ended: ${seen.slice(0, 200)}`));
      else resolve((Date.now() - ended) / 1000);
    });
    socket.on('error', () => {});
  });
}

describe.each(RUNTIMES)('streamed answers on %s', (runtime) => {
  let router: RouterProcess;
  let upstream: Awaited<ReturnType<typeof startOrigin>>;

  beforeAll(async () => {
    upstream = await startOrigin(origin);
    // nativePipe: on Bun.serve the HUGE answers go through Bun untouched (ignored by the other runtimes).
    router = await startRouter(runtime, {
      timeouts: { idle: 2 },
      nativePipe: true,
      sites: [{ name: 'web', hosts: ['stream.example'], upstream: upstream.url }],
    });
  });
  afterAll(async () => {
    await router?.stop();
    await upstream?.close();
  });

  // 10 KiB declared is read whole by the core (at most SMALL_BODY); 80 KiB declared and chunked ones stream.
  it.each([
    ['chunked, 10 KiB', '/pieces-chunked', PIECE],
    ['10 KiB declared', '/pieces', PIECE],
    ['80 KiB declared', '/pieces?piece=8192', 8 * PIECE],
  ])(
    'delivers an answer of 10 pieces over 5 s (%s) whole with timeouts.idle 2',
    async (_name, path, piece) => {
      const got = await get(router, path);
      // The pieces come 500 ms apart (the origin's interval): 4.5 s or more in all, over twice timeouts.idle.
      expect({ status: got.status, bytes: got.bytes, complete: got.complete }).toEqual({ status: 200, bytes: piece * PIECES, complete: true });
    },
    15_000,
  );

  const framing = LIMITS[runtime].streamedLength === 'chunked' ? 'chunked (the runtime drops the declared length)' : 'with its Content-Length';
  it(`sends a ${LARGE / 1024} KiB answer ${framing}`, async () => {
    const got = await get(router, '/large');
    expect({ status: got.status, bytes: got.bytes, complete: got.complete }).toEqual({ status: 200, bytes: LARGE, complete: true });
    if (LIMITS[runtime].streamedLength === 'chunked') {
      expect(got.headers['content-length']).toBeUndefined();
      expect(got.headers['transfer-encoding']).toBe('chunked');
    } else {
      expect(got.headers['content-length']).toBe(String(LARGE));
      expect(got.headers['transfer-encoding']).toBeUndefined();
    }
  });

  it('breaks the transfer when the upstream closes halfway through its declared length', async () => {
    const got = await get(router, '/short');
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(LARGE);
  });
  it('breaks the transfer of an answer whose upstream stalls, after timeouts.idle', async () => {
    const got = await get(router, '/stall');
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(LARGE);
    // Not before timeouts.idle (a timer fires late under load, never early), and cut by it: the log names it.
    expect(got.ms).toBeGreaterThanOrEqual(1900);
    const entry = await until(() => router.accessLog().find((line) => line.path === '/stall'));
    expect(entry.error).toMatch(/no byte moved for 2 s \(timeouts\.idle\)/);
  }, 15_000);

  it(`sends a ${HUGE / MiB} MiB answer whole and logs its bytes`, async () => {
    const got = await get(router, '/huge');
    expect({ status: got.status, bytes: got.bytes, complete: got.complete }).toEqual({ status: 200, bytes: HUGE, complete: true });
    const entry = await until(() => router.accessLog().find((line) => line.path === '/huge'));
    expect({ status: entry.status, bytesOut: entry.bytesOut, error: entry.error }).toEqual({ status: 200, bytesOut: HUGE, error: undefined });
  });
  it(`breaks the transfer of a ${HUGE / MiB} MiB answer whose upstream closes halfway`, async () => {
    const got = await get(router, '/huge-short');
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(HUGE);
  });
  // Piped natively (Bun), the stall is cut at the body's deadline: HUGE at nativePipe.floorRate (256 KiB/s: 8 s) plus timeouts.idle,
  // well inside the test's 30 s.
  it(`breaks the transfer of a ${HUGE / MiB} MiB answer whose upstream stalls`, async () => {
    const got = await get(router, '/huge-stall');
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(HUGE);
    expect(got.ms).toBeGreaterThanOrEqual(1900);
    const entry = await until(() => router.accessLog().find((line) => line.path === '/huge-stall'));
    // A body piped natively is logged as its headers go out and cut at its deadline (nothing to log);
    // on the JavaScript path the idle timer cuts it and the log names it.
    if (PIPED_NATIVELY.has(runtime)) expect({ bytesOut: entry.bytesOut, error: entry.error }).toEqual({ bytesOut: HUGE, error: undefined });
    else expect(entry.error).toMatch(/no byte moved for 2 s \(timeouts\.idle\)/);
  }, 30_000);

  // Who closes an idle keep-alive connection after a streamed answer, within 8 s: Bun.serve once
  // its timer is armed again at the answer's end (src/adapter/bun/serve.ts; uWS checks its timers every 4 s),
  // workerd by itself (5 s); Node keeps it for its 65 s keepAliveTimeout, Deno.serve has no timer.
  it(`${KEEP_ALIVE_CLOSES[runtime] ? 'closes' : 'keeps'} an idle keep-alive connection after a streamed answer within 8 s (timeouts.idle 2)`, async () => {
    const closedAfter = await keepAliveAfterStream(router, 8_000);
    if (KEEP_ALIVE_CLOSES[runtime]) expect(closedAfter).toBeLessThanOrEqual(2 + 4 + 0.5);
    else expect(closedAfter).toBeUndefined();
  }, 20_000);
});

const MiB = 1024 * 1024;

/** Polls `find` every 50 ms until it returns something (at most 10 s). */
async function until<T>(find: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('not found within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
