import { describe, expect, it } from 'vitest';
import { BodyTooLargeError } from '../../src/passes/body-tally.ts';
import { buildOutgoing, dropHopByHop, forwardedFor, forwardedHost, forwardedProto, hostHeader, targetUrl } from '../../src/passes/outgoing.ts';
import { makeExchange } from '../support/exchange.ts';
import { HeaderFields } from '../../src/header-fields.ts';
import { guardRequest, type FieldsSeen } from '../../src/request/guard.ts';

const run = (exchange: ReturnType<typeof makeExchange>, pass: typeof targetUrl) => {
  const outgoing = { url: '', method: exchange.request.method, headers: new Headers(exchange.request.headers), body: null, signal: exchange.request.signal };
  pass(exchange, outgoing);
  return outgoing;
};

describe('outgoing passes', () => {
  it("targetUrl: picks the role's upstream and keeps path and query as sent", () => {
    const get = makeExchange('http://idocker.io:5000/v2/a/b/tags/list?n=10&last=a%2Fb');
    expect(run(get, targetUrl).url).toBe('http://group.internal:8082/v2/a/b/tags/list?n=10&last=a%2Fb');
    const post = makeExchange('http://idocker.io/v2/a/blobs/uploads/', { method: 'POST' });
    expect(run(post, targetUrl).url).toBe('http://hosted.internal:8083/v2/a/blobs/uploads/');
  });

  it('targetUrl: joins a path prefix without double slashes', () => {
    for (const read of ['http://nexus:8081/repository/docker-group/', 'http://nexus:8081/repository/docker-group']) {
      const exchange = makeExchange('http://idocker.io/v2/', { site: { upstreams: { read, write: read } } });
      expect(run(exchange, targetUrl).url).toBe('http://nexus:8081/repository/docker-group/v2/');
    }
  });

  it('dropHopByHop: removes connection headers, the ones it lists, and Expect', () => {
    const exchange = makeExchange('http://idocker.io/v2/', {
      headers: {
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        expect: '100-continue',
        'x-end-to-end': 'stays',
      },
    });
    const headers = run(exchange, dropHopByHop).headers;
    expect([...headers.keys()]).toEqual(['x-end-to-end']);
  });

  it('dropHopByHop: a Connection of keep-alive or close alone, and names listed twice', () => {
    for (const [connection, kept] of [
      ['keep-alive', ['close', 'x-end-to-end', 'x-secret-hop']],
      ['close', ['x-end-to-end', 'x-secret-hop']],
      ['Keep-Alive, TE, x-secret-hop', ['close', 'x-end-to-end']],
    ] as const) {
      const headers = { connection, 'keep-alive': 'timeout=5', close: '1', te: 'trailers', 'x-secret-hop': '1', 'x-end-to-end': 'stays' };
      expect([...run(makeExchange('http://idocker.io/v2/', { headers }), dropHopByHop).headers.keys()]).toEqual(kept);
    }
  });

  it('hostHeader: keeps the client Host with its port, or uses the upstream when asked', () => {
    expect(run(makeExchange('http://idocker.io:5000/v2/'), hostHeader).headers.get('host')).toBe('idocker.io:5000');
    const own = makeExchange('http://idocker.io:5000/v2/', { site: { preserveHost: false } });
    expect(run(own, hostHeader).headers.get('host')).toBe('group.internal:8082');
  });

  it('forwardedFor / X-Real-IP: appends the peer to an existing chain', () => {
    const exchange = makeExchange('http://idocker.io/v2/', { headers: { 'x-forwarded-for': '198.51.100.1', 'x-real-ip': 'spoofed' } });
    const headers = run(exchange, forwardedFor).headers;
    expect(headers.get('x-forwarded-for')).toBe('198.51.100.1, 192.0.2.7');
    expect(headers.get('x-real-ip')).toBe('192.0.2.7');
  });

  it('forwardedProto: the scheme the client used, not a constant', () => {
    expect(run(makeExchange('https://idocker.io/v2/'), forwardedProto).headers.get('x-forwarded-proto')).toBe('https');
    expect(run(makeExchange('http://idocker.io/v2/', { headers: { 'x-forwarded-proto': 'https' } }), forwardedProto).headers.get('x-forwarded-proto')).toBe(
      'http',
    );
  });

  it('forwardedHost: one clean value even when the client sent a list', () => {
    const exchange = makeExchange('http://idocker.io:5001/v2/', { headers: { 'x-forwarded-host': 'evil.example, idocker.io:5001' } });
    const headers = run(exchange, forwardedHost).headers;
    expect(headers.get('x-forwarded-host')).toBe('idocker.io');
    expect(headers.get('x-forwarded-port')).toBe('5001');
  });

  it('forwardedHost: the port a Nexus cannot double, default ports said out loud', () => {
    const https = run(makeExchange('https://idocker.io/v2/', { headers: { 'x-forwarded-port': '1' } }), forwardedHost).headers;
    expect([https.get('x-forwarded-host'), https.get('x-forwarded-port')]).toEqual(['idocker.io', '443']);
    const v6 = run(makeExchange('http://[2001:db8::1]:8080/v2/'), forwardedHost).headers;
    expect([v6.get('x-forwarded-host'), v6.get('x-forwarded-port')]).toEqual(['[2001:db8::1]', '8080']);
    const off = run(
      makeExchange('http://idocker.io:5001/v2/', { headers: { 'x-forwarded-port': '1', 'x-forwarded-host': 'x' }, site: { forwardedHost: false } }),
      forwardedHost,
    ).headers;
    expect([off.get('x-forwarded-host'), off.get('x-forwarded-port')]).toEqual([null, null]);
  });

  it('requestBodyTally: counts bytes and errors the stream past the cap', async () => {
    const exchange = makeExchange('http://idocker.io/v2/a/blobs/uploads/x', {
      method: 'PATCH',
      body: new Uint8Array(3000),
      site: { maxBodySize: 1000 },
    });
    const outgoing = buildOutgoing(exchange);
    await expect(new Response(outgoing.body).arrayBuffer()).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(exchange.tally.bodyTooLarge).toBe(true);

    const small = makeExchange('http://idocker.io/v2/a/blobs/uploads/x', { method: 'PATCH', body: new Uint8Array(700), site: { maxBodySize: 1000 } });
    expect((await new Response(buildOutgoing(small).body).arrayBuffer()).byteLength).toBe(700);
    expect(small.tally.bytesIn).toBe(700);
  });

  it('GET and HEAD send no body', () => {
    expect(buildOutgoing(makeExchange('http://idocker.io/v2/')).body).toBeNull();
  });

  it("the guard's walk tells whether a request carries a field the passes drop or read; the fields sent are the same either way", () => {
    const cases: Record<string, string>[] = [
      { host: 'idocker.io', accept: 'application/json', authorization: 'Bearer t' },
      { host: 'idocker.io', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1' },
      { host: 'idocker.io', te: 'trailers' },
      { host: 'idocker.io', expect: '100-continue' },
      { host: 'idocker.io', 'x-forwarded-for': '198.51.100.1' },
      { host: 'idocker.io', 'x-forwarded-host': 'x', 'x-forwarded-port': '1' },
      { host: 'idocker.io', 'proxy-authorization': 'Basic x' },
    ];
    for (const [i, headers] of cases.entries()) {
      for (const site of [{}, { forwardedHost: false }]) {
        const exchange = makeExchange('http://idocker.io/v2/', { headers, site });
        const seen: FieldsSeen = { relay: true };
        expect(guardRequest(exchange.request, exchange.url, seen)).toBeUndefined();
        expect(seen.relay).toBe(i > 0);
        const known = [...buildOutgoing({ ...exchange, relayFields: seen.relay }).headers];
        expect(known).toEqual([...buildOutgoing(exchange).headers]);
      }
    }
  });

  it("copies the request's fields as the runtime's own Headers only when the adapter asks for them", () => {
    const exchange = makeExchange('http://idocker.io/v2/', { headers: { accept: 'application/json' } });
    expect(buildOutgoing(exchange).headers).toBeInstanceOf(HeaderFields);
    const native = buildOutgoing({ ...exchange, nativeFields: true }).headers;
    expect(native).not.toBeInstanceOf(HeaderFields);
    expect(native.get('accept')).toBe('application/json');
    expect(native.get('x-forwarded-for')).toBe('192.0.2.7');
  });
});
