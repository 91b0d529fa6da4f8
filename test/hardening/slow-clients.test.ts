/**
 * Slow clients (slowloris): 300 connections per runtime that trickle their headers a byte a
 * second. A normal request must still be answered while all of them are open, and the slow connections must
 * be closed once `timeouts.header` (2 s here) has passed, where the runtime lets the router set
 * it; where it does not, LIMITS[runtime].headerTimeout documents what it does instead.
 *
 * Every runtime runs at once (the phase is mostly waiting on timers), so the file takes about as
 * long as the slowest runtime's fixed timeout, not the sum.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { GOOD_REQUEST, HOST, rawRequest, siteConfig, sleep, startRawOrigin, type RawOrigin, type RawReply } from './support.ts';

const SLOW = 300;
const HEADER_S = 2;
/** Node checks header timeouts every quarter of them: a connection closes up to this late. */
const CONFIG_SLACK_MS = 2000;
/** uWS and kj time out on coarse ticks: their fixed timeouts land up to this late. */
const FIXED_SLACK_MS = 5000;

interface SlowConnection {
  socket: Socket;
  opened: number;
  /** ms after `opened`, when the router closed it; undefined while open. */
  closedAfter?: number;
  /** What the router said before closing (Node: 408). */
  said: string;
}

interface Fleet {
  router: RouterProcess;
  slow: SlowConnection[];
  /** Normal requests made while all slow connections were open: right after they connected, and a second later. */
  answers: RawReply[];
  /** Slow connections still open as each normal answer came in. */
  openDuringAnswers: number[];
  ticker?: NodeJS.Timeout;
  /** An upload whose 3-byte body comes a byte a second (started with the fleet, awaited by its test). */
  slowBody?: Promise<RawReply>;
}

/** A request whose headers come at once and whose body takes 3 s. */
function slowBody(port: number): Promise<RawReply> {
  return new Promise((resolve) => {
    const started = Date.now();
    let raw = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`PATCH /v2/a/blobs/uploads/slow HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 3\r\nConnection: close\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        socket.write('x');
        if (++sent === 3) clearInterval(timer);
      }, 1000);
    });
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]) || undefined, raw, closed: true, ms: Date.now() - started }));
  });
}

const PREFIX = `GET /v2/ HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `;

/** Opens `SLOW` connections that send the start of a request, then one more byte every second. */
async function openSlow(port: number): Promise<{ slow: SlowConnection[]; ticker: NodeJS.Timeout }> {
  const slow = await Promise.all(
    Array.from(
      { length: SLOW },
      () =>
        new Promise<SlowConnection>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1');
          const connection: SlowConnection = { socket, opened: 0, said: '' };
          socket.once('connect', () => {
            connection.opened = Date.now();
            socket.write(PREFIX);
            resolve(connection);
          });
          socket.once('error', (error) => (connection.opened ? undefined : reject(error)));
          socket.on('error', () => {});
          socket.on('data', (chunk: Buffer) => (connection.said += chunk.toString('latin1')));
          socket.on('close', () => (connection.closedAfter ??= Date.now() - connection.opened));
        }),
    ),
  );
  const ticker = setInterval(() => {
    for (const { socket } of slow) if (!socket.destroyed) socket.write('a');
  }, 1000);
  return { slow, ticker };
}

const stillOpen = (slow: SlowConnection[]) => slow.filter((c) => c.closedAfter === undefined).length;

let origin: RawOrigin;
const fleets = new Map<Runtime, Fleet>();

beforeAll(async () => {
  origin = await startRawOrigin();
  const routers = await Promise.all(
    RUNTIMES.map((runtime) => startRouter(runtime, siteConfig(origin.url, { timeouts: { header: HEADER_S } }), { quiet: true })),
  );
  // Warm: the first request pays for the upstream connection and the JIT, not the slow clients.
  for (const router of routers) await rawRequest(router.port, GOOD_REQUEST);
  // One runtime after the other: its 300 connect, then the normal request is timed at once (well
  // inside the 2 s), the rest keep trickling meanwhile.
  for (const [i, runtime] of RUNTIMES.entries()) {
    const router = routers[i]!;
    const { slow, ticker } = await openSlow(router.port);
    const fleet: Fleet = { router, slow, answers: [], openDuringAnswers: [], ticker };
    fleet.answers.push(await rawRequest(router.port, GOOD_REQUEST));
    fleet.openDuringAnswers.push(stillOpen(slow));
    fleets.set(runtime, fleet);
  }
  for (const fleet of fleets.values()) fleet.slowBody = slowBody(fleet.router.port);
  // A second measure once every runtime's slow connections have trickled a byte more.
  await sleep(1000 - (Date.now() - Math.max(...[...fleets.values()].map((f) => f.slow.at(-1)!.opened))));
  for (const fleet of fleets.values()) {
    fleet.answers.push(await rawRequest(fleet.router.port, GOOD_REQUEST));
    fleet.openDuringAnswers.push(stillOpen(fleet.slow));
  }
}, 120_000);

afterAll(async () => {
  for (const fleet of fleets.values()) {
    clearInterval(fleet.ticker);
    for (const { socket } of fleet.slow) socket.destroy();
  }
  await Promise.all([...fleets.values()].map((fleet) => fleet.router.stop()));
  await origin?.close();
});

/** Waits until every slow connection is closed, or `ms` after the last one opened. */
async function allClosed(fleet: Fleet, ms: number): Promise<void> {
  const deadline = Math.max(...fleet.slow.map((c) => c.opened)) + ms;
  while (stillOpen(fleet.slow) > 0 && Date.now() < deadline) await sleep(100);
}

describe.each(RUNTIMES)('slow clients on %s', (runtime) => {
  const limit = LIMITS[runtime].headerTimeout;

  it(`${SLOW} slow-header connections: a normal request is answered while all of them are still open`, () => {
    const fleet = fleets.get(runtime)!;
    console.info(
      `${runtime}: normal request with ${fleet.openDuringAnswers.join(' / ')} slow connections open ` +
        `answered in ${fleet.answers.map((a) => `${a.ms} ms`).join(' / ')}`,
    );
    expect(fleet.openDuringAnswers).toEqual(fleet.answers.map(() => SLOW));
    // Counted once each answer was in: none of the slow connections had been closed meanwhile.
    for (const answer of fleet.answers) expect(answer.status).toBe(200);
  });

  if (limit === 'config') {
    const latestS = HEADER_S + CONFIG_SLACK_MS / 1000;
    it(`closes all ${SLOW} after timeouts.header (${HEADER_S} s; within ${HEADER_S} – ${latestS} s of their first byte), answering 408`, async () => {
      const fleet = fleets.get(runtime)!;
      await allClosed(fleet, HEADER_S * 1000 + CONFIG_SLACK_MS + 1000);
      const times = fleet.slow.map((c) => c.closedAfter ?? Infinity);
      console.info(
        `${runtime}: slow connections closed after ${Math.min(...times)}–${Math.max(...times)} ms; ` +
          `${fleet.slow.filter((c) => c.said.startsWith('HTTP/1.1 408')).length} got a 408`,
      );
      expect(Math.min(...times)).toBeGreaterThanOrEqual(HEADER_S * 1000 - 100);
      expect(Math.max(...times)).toBeLessThanOrEqual(HEADER_S * 1000 + CONFIG_SLACK_MS);
      expect(fleet.slow.every((c) => c.said.startsWith('HTTP/1.1 408'))).toBe(true);
    });
  } else if (typeof limit === 'number') {
    it(`closes all ${SLOW} after the runtime's own fixed ${limit} s, not timeouts.header (LIMITS.headerTimeout)`, async () => {
      const fleet = fleets.get(runtime)!;
      await allClosed(fleet, limit * 1000 + FIXED_SLACK_MS + 1000);
      const times = fleet.slow.map((c) => c.closedAfter ?? Infinity);
      console.info(`${runtime}: slow connections closed after ${Math.min(...times)}–${Math.max(...times)} ms (fixed ${limit} s)`);
      expect(Math.min(...times)).toBeGreaterThanOrEqual(limit * 1000 - 500);
      expect(Math.max(...times)).toBeLessThanOrEqual(limit * 1000 + FIXED_SLACK_MS);
    });
  } else {
    it(`keeps all ${SLOW} open well past timeouts.header: the runtime has no header timeout (LIMITS.headerTimeout)`, async () => {
      const fleet = fleets.get(runtime)!;
      const wait = Math.max(...fleet.slow.map((c) => c.opened)) + HEADER_S * 1000 + CONFIG_SLACK_MS + 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      console.info(`${runtime}: ${stillOpen(fleet.slow)} of ${SLOW} slow connections still open ${HEADER_S + CONFIG_SLACK_MS / 1000 + 1} s after they opened`);
      expect(stillOpen(fleet.slow)).toBe(SLOW);
    });
  }

  it(`a body that takes 3 s (longer than timeouts.header) is not cut: the timeout covers headers only`, async () => {
    const reply = await fleets.get(runtime)!.slowBody!;
    expect(reply.status).toBe(200);
    expect(reply.ms).toBeGreaterThanOrEqual(3000);
  });
});
