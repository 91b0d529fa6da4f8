/**
 * Bad requests as raw bytes (RFC 9112 framing and field syntax, RFC 9110 CONNECT): each is refused
 * with a 4xx (or 501 for a transfer coding the router does not forward), and nothing reaches the
 * origin, a raw `net` server that logs every byte it gets. Where the runtime itself answers before
 * the router's code runs, LIMITS[runtime].parserAnswers documents what it answers instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { BAD_REQUESTS, GOOD_REQUEST, HOST, outcome, rawRequest, siteConfig, sleep, startRawOrigin, type RawOrigin } from './support.ts';

/**
 * A request the runtime might still be working on when the reply comes (a pipelined one after a
 * refusal) gets this long to reach the origin; whatever arrives later is caught by the last test.
 */
const SETTLE_MS = 50;
const ABSOLUTE_FORM = 'absolute-form naming another host';

const refused = (status: number | undefined) => status !== undefined && ((status >= 400 && status < 500) || status === 501);

describe('LIMITS.parserAnswers', () => {
  it('names only bad requests that exist', () => {
    const names = new Set(BAD_REQUESTS.map((bad) => bad.name));
    for (const runtime of RUNTIMES) expect(Object.keys(LIMITS[runtime].parserAnswers).filter((name) => !names.has(name))).toEqual([]);
  });
});

describe.each(RUNTIMES)('bad requests on %s', (runtime) => {
  let router: RouterProcess;
  let origin: RawOrigin;
  const limits = LIMITS[runtime];

  beforeAll(async () => {
    origin = await startRawOrigin();
    router = await startRouter(runtime, siteConfig(origin.url), { quiet: true });
  });
  afterAll(async () => {
    await router?.stop();
    await origin?.close();
  });

  it('the control: a good request reaches the origin', async () => {
    const reply = await rawRequest(router.port, GOOD_REQUEST);
    expect(reply.status).toBe(200);
    expect(origin.lines.at(-1)).toBe('GET /v2/ HTTP/1.1');
  });

  it('the guard lets well-framed bodies through: Content-Length and chunked uploads reach the origin', async () => {
    const head = (framing: string) => `PATCH /v2/a/blobs/uploads/u1 HTTP/1.1\r\nHost: ${HOST}\r\n${framing}\r\n\r\n`;
    for (const bytes of [head('Content-Length: 4') + 'abcd', head('Transfer-Encoding: chunked') + '4\r\nabcd\r\n0\r\n\r\n']) {
      const before = origin.lines.length;
      const reply = await rawRequest(router.port, bytes);
      expect(reply.status).toBe(200);
      expect(origin.lines.slice(before)).toEqual(['PATCH /v2/a/blobs/uploads/u1 HTTP/1.1']);
    }
  });

  /** Where the bad requests start in origin.lines, and what the documented exceptions forwarded. */
  let firstBad: number | undefined;
  const forwarded: string[] = [];

  for (const bad of BAD_REQUESTS) {
    const documented = bad.name === ABSOLUTE_FORM && limits.absoluteForm === 'host-header' ? 'host-header' : limits.parserAnswers[bad.name];
    const expectation =
      documented === undefined
        ? `refused with ${bad.status} or another 4xx; nothing reaches the origin`
        : documented === 'host-header'
          ? 'routed by Host, the runtime drops the authority (LIMITS.absoluteForm)'
          : documented === 'unfolded'
            ? 'unfolded into one field value and forwarded (RFC 9112 §5.2 allows it; LIMITS.parserAnswers)'
            : `answered ${documented} by the runtime before the router runs; nothing reaches the origin (LIMITS.parserAnswers)`;

    it(`${bad.name}: ${expectation}`, async () => {
      firstBad ??= origin.lines.length;
      const bytes = origin.bytes();
      const lines = origin.lines.length;
      const reply = await rawRequest(router.port, bad.bytes, 2000);
      await sleep(SETTLE_MS);
      const reached = origin.lines.slice(lines);
      console.info(`${runtime}: ${bad.name} → ${outcome(reply)} in ${reply.ms} ms${reached.length ? `, origin saw ${JSON.stringify(reached)}` : ''}`);
      if (documented === 'host-header' || documented === 'unfolded') forwarded.push(...reached);
      if (documented === 'host-header') {
        expect(reply.status).toBe(200);
        expect(reached).toEqual(['GET /v2/ HTTP/1.1']);
      } else if (documented === 'unfolded') {
        // One request, whose folded field arrives as one line: the continuation never becomes a field of its own.
        expect(reply.status).toBe(200);
        expect(reached).toHaveLength(1);
        expect(origin.heads.at(-1)).toMatch(/\r\nx-folded: a\s+(b|Transfer-Encoding: chunked)(\r\n|$)/i);
      } else {
        if (documented === undefined) expect(refused(reply.status), `status ${outcome(reply)}`).toBe(true);
        else expect(reply.status).toBe(documented);
        expect(reached).toEqual([]);
        expect(origin.bytes()).toBe(bytes);
      }
    });
  }

  it('late arrivals: nothing but the documented forwards reached the origin while the bad requests ran', async () => {
    await sleep(500);
    expect(origin.lines.slice(firstBad ?? origin.lines.length)).toEqual(forwarded);
  });

  it('after all that, a good request on a fresh connection still reaches the origin', async () => {
    const reply = await rawRequest(router.port, GOOD_REQUEST);
    expect(reply.status).toBe(200);
  });
});
