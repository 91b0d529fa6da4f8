/**
 * No request leaves its upstream's path prefix, on every runtime. Each target is sent as raw bytes
 * (as `curl --path-as-is` would) to a router whose upstreams are Nexus-style prefixes on a small
 * origin that records every request target it receives. Escapes get 400 in registry JSON and never
 * reach the origin; legitimate encodings arrive byte for byte under the prefix.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin } from '../support/origin.ts';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { ESCAPES, LEGITIMATE } from '../support/path-escapes.ts';

const HOST = 'registry.test';

/** One request whose target goes out exactly as written (node:http does not normalize paths). */
function rawRequest(port: number, target: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: target, headers: { host: HOST }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${target}`)));
    req.end();
  });
}

// Escapes with more ways to write them: literal dot segments the URL parser resolves, and mixes.
const PLAIN_DOTS = [
  '/v2/../../../service/rest/v1/script',
  '/v2/.%2e/x',
  '/v2/%2E./x',
  '/v2/a/%2e/b',
  '/v2/%2e%2e/%2e%2e/service/rest/v1/script',
  '/v2/a/./../../x',
];

describe.each(RUNTIMES)('path prefix on %s', (runtime) => {
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let router: RouterProcess;

  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok'));
    router = await startRouter(
      runtime,
      {
        sites: [
          {
            name: 'docker',
            hosts: [HOST],
            preset: 'docker',
            upstreams: { read: `${origin.url}/repository/docker-group/`, write: `${origin.url}/repository/docker-hosted/` },
          },
        ],
      },
      { quiet: true },
    );
  });
  afterAll(async () => {
    await router?.stop();
    await origin?.close();
  });

  it(`refuses ${ESCAPES.length} hidden dot-segment variants with 400 in registry JSON, and none reaches the origin`, async () => {
    for (const [target, why] of ESCAPES) {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const answer = await rawRequest(router.port, target, method);
        expect(answer.status, `${method} ${target} (${why})`).toBe(400);
        if (method === 'GET') expect(JSON.parse(answer.body).errors[0].code, target).toBe('NAME_INVALID');
      }
    }
    expect(origin.seen.map((s) => s.url)).toEqual([]);
  });

  it('resolves literal dot segments inside the prefix, or refuses them: never outside', async () => {
    for (const target of PLAIN_DOTS) {
      const before = origin.seen.length;
      const answer = await rawRequest(router.port, target);
      expect([200, 400], target).toContain(answer.status);
      for (const seen of origin.seen.slice(before)) {
        expect(seen.url.startsWith('/repository/docker-group/'), seen.url).toBe(true);
        expect(seen.url, target).not.toMatch(/(^|\/)\.\.?(\/|$)|%2e|%2f\.|;/i);
      }
    }
  });

  it(`passes ${LEGITIMATE.length} legitimate encodings byte for byte, queries included`, async () => {
    for (const path of LEGITIMATE) {
      const target = `${path}?q=a%2Fb%2e%2e&x=..%2f`;
      const before = origin.seen.length;
      const answer = await rawRequest(router.port, target);
      expect(answer.status, target).toBe(200);
      const prefix = path.includes('/blobs/uploads/') ? '/repository/docker-hosted' : '/repository/docker-group';
      expect(
        origin.seen.slice(before).map((s) => s.url),
        target,
      ).toEqual([`${prefix}${target}`]);
    }
  });
});
