import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/header-fields.ts';
import { applyIncoming } from '../../src/passes/incoming.ts';
import { makeExchange } from '../support/exchange.ts';

const stream = () => new Response('body').body;

describe('incoming passes', () => {
  it('drops hop-by-hop headers from the upstream answer', () => {
    const headers = new Headers({ connection: 'close, x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'content-type': 'a/b' });
    const response = applyIncoming(makeExchange('http://idocker.io/v2/'), { status: 200, headers, body: stream() });
    expect([...response.headers.keys()]).toEqual(['content-type']);
  });

  it('drops them from HeaderFields too (walked, where a runtime Headers is not)', () => {
    const headers = HeaderFields.from(new Headers({ connection: 'close, X-Hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'content-type': 'a/b' }));
    const response = applyIncoming(makeExchange('http://idocker.io/v2/'), { status: 200, headers, body: stream() });
    expect([...response.headers.keys()]).toEqual(['content-type']);
  });

  it('HEAD keeps Content-Length and carries no body', () => {
    const exchange = makeExchange('http://idocker.io/v2/a/manifests/1', { method: 'HEAD' });
    const response = applyIncoming(exchange, { status: 200, headers: new Headers({ 'content-length': '1234' }), body: stream() });
    expect(response.body).toBeNull();
    expect(response.headers.get('content-length')).toBe('1234');
  });

  it('204 and 304 carry no body', () => {
    for (const status of [204, 304]) {
      expect(applyIncoming(makeExchange('http://idocker.io/v2/'), { status, headers: new Headers(), body: stream() }).body).toBeNull();
    }
  });
});
