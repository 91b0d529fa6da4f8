import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { etagSuffix, mapBodyUrls } from '../../src/passes/body-urls.ts';
import { buildOutgoing } from '../../src/passes/outgoing.ts';
import type { UpstreamResponse } from '../../src/exchange.ts';
import { makeExchange } from '../support/exchange.ts';

const NEXUS = { preset: 'npm', upstreams: { read: 'http://nexus:8081/repository/npm-group/', write: 'http://nexus:8081/repository/npm-hosted/' } } as const;

/** A packument as a path-based Nexus writes it: tarball URLs from the Host it was given plus its own path. */
function packument(base: string): string {
  return (
    `{"name":"@team/app","versions":{"1.0.0":{"name":"@team/app","version":"1.0.0",` +
    `"dist":{"tarball":"${base}/repository/npm-group/@team/app/-/app-1.0.0.tgz","shasum":"x"},` +
    `"homepage":"https://github.com/team/app","repository":{"url":"git+https://github.com/team/app.git"}}},"dist-tags":{"latest":"1.0.0"}}`
  );
}

function answer(body: string | Uint8Array, headers: Record<string, string> = {}): UpstreamResponse {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return {
    status: 200,
    headers: new Headers({ 'content-type': 'application/json', 'content-length': String(bytes.byteLength), ...headers }),
    body: new Response(bytes as Uint8Array<ArrayBuffer>).body,
  };
}

describe('packument URL mapping', () => {
  it('maps tarball URLs that point into an upstream, keeps every other byte, fixes Content-Length and ETag', async () => {
    const exchange = makeExchange('https://npm.example.com/@team%2fapp', { site: NEXUS, headers: { accept: 'application/vnd.npm.install-v1+json' } });
    expect(exchange.mapUrls).toBe(true);
    const response = answer(packument('https://npm.example.com'), { etag: '"abc"' });
    await mapBodyUrls(exchange, response);
    const text = await new Response(response.body as BodyInit).text();
    expect(text).toBe(packument('https://npm.example.com').replace('https://npm.example.com/repository/npm-group/', 'https://npm.example.com/'));
    expect(response.headers.get('content-length')).toBe(String(new TextEncoder().encode(text).byteLength));
    expect(response.headers.get('etag')).toBe(`"abc${etagSuffix(exchange)}"`);
    // The client's conditional request goes out with the upstream's own ETag again.
    const revalidate = makeExchange('https://npm.example.com/@team%2fapp', { site: NEXUS, headers: { 'if-none-match': `"abc${etagSuffix(exchange)}"` } });
    const outgoing = buildOutgoing(revalidate);
    expect(outgoing.headers.get('if-none-match')).toBe('"abc"');
    expect(outgoing.headers.get('accept-encoding')).toBe('identity');
  });

  it('maps the internal host:port too, and decodes a gzip answer', async () => {
    const exchange = makeExchange('http://npm.example.com:4873/express', { site: NEXUS });
    const response = answer(gzipSync(packument('http://nexus:8081')), { 'content-encoding': 'gzip', etag: '"e1"' });
    await mapBodyUrls(exchange, response);
    const body = JSON.parse(await new Response(response.body as BodyInit).text());
    expect(body.versions['1.0.0'].dist.tarball).toBe('http://npm.example.com:4873/@team/app/-/app-1.0.0.tgz');
    expect(body.versions['1.0.0'].homepage).toBe('https://github.com/team/app');
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.get('etag')).toMatch(/^W\/"e1-rr/);
  });

  it('passes a packument over the cap unmapped and byte for byte, with a note for the access log', async () => {
    const exchange = makeExchange('https://npm.example.com/big', { site: NEXUS });
    const original = packument('https://npm.example.com');
    const chunked: UpstreamResponse = { status: 200, headers: new Headers({ 'content-type': 'application/json' }), body: new Response(original).body };
    await mapBodyUrls(exchange, chunked, 64);
    expect(await new Response(chunked.body as BodyInit).text()).toBe(original);
    expect(exchange.tally.note).toMatch(/over the 64-byte mapping cap/);
  });

  it('leaves tarballs, errors and non-JSON alone', async () => {
    const tarball = makeExchange('https://npm.example.com/@team%2fapp/-/app-1.0.0.tgz', { site: NEXUS });
    expect(tarball.mapUrls).toBeFalsy();
    const exchange = makeExchange('https://npm.example.com/express', { site: NEXUS });
    const notFound = { ...answer('{"error":"not found"}'), status: 404 };
    await mapBodyUrls(exchange, notFound);
    expect(await new Response(notFound.body as BodyInit).text()).toBe('{"error":"not found"}');
  });
});

describe('PyPI index page mapping', () => {
  const PYPI = { preset: 'pypi', upstreams: { read: 'http://nexus:8081/repository/pypi-group/', write: 'http://nexus:8081/repository/pypi-hosted/' } } as const;

  it('maps absolute href links into an upstream, keeps relative ones and third-party ones', async () => {
    const exchange = makeExchange('http://pypi.example.com/simple/demo/', { site: PYPI });
    const page = [
      '<!DOCTYPE html><html><body>',
      '<a href="http://pypi.example.com/repository/pypi-group/packages/demo-1.0-py3-none-any.whl#sha256=ab">demo-1.0-py3-none-any.whl</a>',
      '<a href=\'http://nexus:8081/repository/pypi-group/packages/demo-1.0.tar.gz?a=1&amp;b=2#sha256=cd\' data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>',
      '<a href="../../packages/demo-0.9.tar.gz#sha256=ef">demo-0.9.tar.gz</a>',
      '<a href="https://files.example.org/demo-0.8.tar.gz">demo-0.8.tar.gz</a>',
      '</body></html>',
    ].join('\n');
    const response = answer(page, { 'content-type': 'text/html; charset=utf-8' });
    await mapBodyUrls(exchange, response);
    const text = await new Response(response.body as BodyInit).text();
    expect(text.split('\n').slice(1, 5)).toEqual([
      '<a href="http://pypi.example.com/packages/demo-1.0-py3-none-any.whl#sha256=ab">demo-1.0-py3-none-any.whl</a>',
      '<a href=\'http://pypi.example.com/packages/demo-1.0.tar.gz?a=1&amp;b=2#sha256=cd\' data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>',
      '<a href="../../packages/demo-0.9.tar.gz#sha256=ef">demo-0.9.tar.gz</a>',
      '<a href="https://files.example.org/demo-0.8.tar.gz">demo-0.8.tar.gz</a>',
    ]);
    expect(response.headers.get('content-length')).toBe(String(new TextEncoder().encode(text).byteLength));
  });
});
