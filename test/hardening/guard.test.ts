/**
 * The request guard alone (src/request/guard.ts), on Fetch `Request`s shaped as runtimes hand them
 * over (duplicate fields joined with ", "). The raw-socket suites (requests.test.ts and others)
 * show what reaches it on each runtime.
 */
import { describe, expect, it } from 'vitest';
import { guardRequest, MAX_HEADER_BYTES, MAX_TARGET_BYTES, refuseEarly } from '../../src/request/guard.ts';

/** A Request whose headers are set as given (Headers refuses a few names only in browsers). */
function request(method: string, target: string, headers: Record<string, string>): [Request, URL] {
  const url = new URL(target, 'http://registry.test');
  const init: RequestInit & { duplex?: string } = { method, headers };
  if (method !== 'GET' && method !== 'HEAD') Object.assign(init, { body: new Uint8Array(0), duplex: 'half' });
  return [new Request(url, init), url];
}

const status = (method: string, target: string, headers: Record<string, string>) => guardRequest(...request(method, target, headers))?.status;

describe('guardRequest', () => {
  it.each([
    ['a plain GET', 'GET', '/v2/', { host: 'registry.test' }],
    ['a Host with a port', 'GET', '/v2/', { host: 'registry.test:5000' }],
    ['the highest port', 'GET', '/v2/', { host: 'registry.test:65535' }],
    ['an IPv4 Host', 'GET', '/v2/', { host: '10.0.0.1:8080' }],
    ['an IPv6 Host', 'GET', '/v2/', { host: '[::1]:5000' }],
    ['a chunked upload', 'PATCH', '/v2/a/blobs/uploads/u', { host: 'registry.test', 'transfer-encoding': 'chunked' }],
    ['chunked in capitals', 'PATCH', '/v2/a/blobs/uploads/u', { host: 'registry.test', 'transfer-encoding': 'Chunked' }],
    ['a Content-Length upload', 'PUT', '/v2/a/blobs/uploads/u', { host: 'registry.test', 'content-length': '1024' }],
    ['a tab and obs-text in a value', 'GET', '/v2/', { host: 'registry.test', 'x-note': 'a\tb \u00e9' }],
    [`a target of exactly ${MAX_TARGET_BYTES} bytes`, 'GET', `/${'a'.repeat(MAX_TARGET_BYTES - 1)}`, { host: 'registry.test' }],
  ])('lets %s through', (_name, method, target, headers) => {
    expect(status(method, target, headers)).toBeUndefined();
  });

  it.each([
    ['no Host', 400, 'GET', '/v2/', {}],
    ['two Host fields, joined', 400, 'GET', '/v2/', { host: 'registry.test, other.example' }],
    ['a Host with a path', 400, 'GET', '/v2/', { host: 'registry.test/evil' }],
    ['a Host with userinfo', 400, 'GET', '/v2/', { host: 'user@registry.test' }],
    ['a Host with a query mark', 400, 'GET', '/v2/', { host: 'registry.test?' }],
    ['a Host with a port over 65535', 400, 'GET', '/v2/', { host: 'registry.test:65536' }],
    [`a target over ${MAX_TARGET_BYTES} bytes`, 414, 'GET', `/${'a'.repeat(MAX_TARGET_BYTES)}`, { host: 'registry.test' }],
    [`headers over ${MAX_HEADER_BYTES / 1024} KiB`, 431, 'GET', '/v2/', { host: 'registry.test', 'x-pad': 'a'.repeat(MAX_HEADER_BYTES) }],
    ['a control character in a value', 400, 'GET', '/v2/', { host: 'registry.test', 'x-bad': 'a\u0001b' }],
    ['DEL in a value', 400, 'GET', '/v2/', { host: 'registry.test', 'x-bad': 'a\u007fb' }],
    ['two Content-Lengths, joined', 400, 'PUT', '/v2/a/blobs/uploads/u', { host: 'registry.test', 'content-length': '1, 2' }],
    [
      'Content-Length with Transfer-Encoding',
      400,
      'PUT',
      '/v2/a/blobs/uploads/u',
      { host: 'registry.test', 'content-length': '4', 'transfer-encoding': 'chunked' },
    ],
    ['Transfer-Encoding: gzip, chunked', 501, 'PUT', '/v2/a/blobs/uploads/u', { host: 'registry.test', 'transfer-encoding': 'gzip, chunked' }],
    ['Transfer-Encoding: identity', 501, 'PUT', '/v2/a/blobs/uploads/u', { host: 'registry.test', 'transfer-encoding': 'identity' }],
  ])('refuses %s with %i', (_name, expected, method, target, headers) => {
    expect(status(method, target, headers)).toBe(expected);
  });

  it('refuses CONNECT with 405 (a Fetch Request cannot carry it; runtimes hand it over anyway)', () => {
    const connect = { method: 'CONNECT', url: 'http://registry.test:443', headers: new Headers({ host: 'registry.test:443' }) } as unknown as Request;
    expect(guardRequest(connect, new URL(connect.url))?.status).toBe(405);
  });
});

describe('refuseEarly (Bun.serve, Deno.serve: before the app parses request.url)', () => {
  const fake = (url: string, host: string | null) =>
    ({ url, headers: new Headers(host === null ? {} : { host }), body: null, bodyUsed: false }) as unknown as Request;

  it('passes a well-formed request, and one without Host (the guard answers that)', () => {
    expect(refuseEarly(fake('http://registry.test/v2/', 'registry.test'))).toBeUndefined();
    expect(refuseEarly(fake('http://localhost/v2/', null))).toBeUndefined();
  });

  it('answers 400 in registry JSON when request.url does not parse (Bun: relative; Deno: a Host list)', async () => {
    for (const [url, host] of [
      ['/v2/', 'registry.test, other.example'],
      ['http://registry.test, other.example/v2/', 'registry.test, other.example'],
    ] as const) {
      const response = refuseEarly(fake(url, host))!;
      expect(response.status).toBe(400);
      expect((await response.json()).errors[0].code).toBe('UNSUPPORTED');
    }
  });
});
