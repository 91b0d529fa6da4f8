/**
 * The router is not an open proxy: whatever a client puts in Host, the request target or a CONNECT,
 * it reaches only the upstreams of a configured site. A "bait" server on another local port must
 * never get a connection; requests that name no site get a 4xx and reach no upstream either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { HOST, outcome, rawRequest, siteConfig, sleep, startBait, startRawOrigin, type RawOrigin } from './support.ts';

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

interface Attempt {
  name: string;
  bytes: (bait: number) => string;
  /** The request names the configured site through Host (Bun routes absolute-form by Host: it may reach the origin, never the bait). */
  hostIsSite?: boolean;
}

const ATTEMPTS: readonly Attempt[] = [
  { name: 'no Host (HTTP/1.1)', bytes: () => head(['GET /v2/ HTTP/1.1']) },
  { name: 'no Host (HTTP/1.0)', bytes: () => head(['GET /v2/ HTTP/1.0']) },
  { name: 'empty Host', bytes: () => head(['GET /v2/ HTTP/1.1', 'Host: ']) },
  { name: 'IP-literal Host naming the bait', bytes: (bait) => head(['GET /v2/ HTTP/1.1', `Host: 127.0.0.1:${bait}`]) },
  { name: 'IPv6-literal Host', bytes: (bait) => head(['GET /v2/ HTTP/1.1', `Host: [::1]:${bait}`]) },
  { name: 'Host naming the bait by name', bytes: (bait) => head(['GET /v2/ HTTP/1.1', `Host: localhost:${bait}`]) },
  { name: 'absolute-form naming the bait, Host the bait', bytes: (bait) => head([`GET http://127.0.0.1:${bait}/v2/ HTTP/1.1`, `Host: 127.0.0.1:${bait}`]) },
  {
    name: 'absolute-form naming the bait, Host the site',
    bytes: (bait) => head([`GET http://127.0.0.1:${bait}/v2/ HTTP/1.1`, `Host: ${HOST}`]),
    hostIsSite: true,
  },
  { name: 'absolute-form https naming the bait', bytes: (bait) => head([`GET https://127.0.0.1:${bait}/v2/ HTTP/1.1`, `Host: 127.0.0.1:${bait}`]) },
  { name: 'CONNECT to the bait', bytes: (bait) => head([`CONNECT 127.0.0.1:${bait} HTTP/1.1`, `Host: 127.0.0.1:${bait}`]) },
  { name: 'CONNECT to the bait, Host the site', bytes: (bait) => head([`CONNECT 127.0.0.1:${bait} HTTP/1.1`, `Host: ${HOST}`]) },
  { name: 'X-Forwarded-Host naming the bait', bytes: (bait) => head(['GET /v2/ HTTP/1.1', `Host: 127.0.0.1:${bait}`, `X-Forwarded-Host: 127.0.0.1:${bait}`]) },
];

describe.each(RUNTIMES)('no open proxy on %s', (runtime) => {
  let router: RouterProcess;
  let origin: RawOrigin;
  let bait: Awaited<ReturnType<typeof startBait>>;

  beforeAll(async () => {
    [origin, bait] = await Promise.all([startRawOrigin(), startBait()]);
    router = await startRouter(runtime, siteConfig(origin.url), { quiet: true });
  });
  afterAll(async () => {
    await router?.stop();
    await Promise.all([origin?.close(), bait?.close()]);
  });

  for (const attempt of ATTEMPTS) {
    // Bun.serve routes absolute-form by Host (LIMITS.absoluteForm): with the site's Host it reaches the site's origin.
    const toSite = attempt.hostIsSite && LIMITS[runtime].absoluteForm === 'host-header';
    const fate = toSite ? "routed to the site's origin by Host (LIMITS.absoluteForm), " : 'refused (4xx or 5xx before the router runs), nothing forwarded, ';
    it(`${attempt.name}: ${fate}the bait never connected`, async () => {
      const bytes = origin.bytes();
      const reply = await rawRequest(router.port, attempt.bytes(bait.port), 2000);
      await sleep(100);
      console.info(`${runtime}: ${attempt.name} → ${outcome(reply)}`);
      expect(bait.connections()).toBe(0);
      if (toSite) {
        expect(reply.status).toBe(200);
        return;
      }
      expect(origin.bytes()).toBe(bytes);
      expect(reply.status === undefined || reply.status >= 400).toBe(true);
      expect(reply.status === undefined && !reply.closed).toBe(false);
    });
  }

  it('the bait got no connection at all', () => {
    expect(bait.connections()).toBe(0);
  });
});
