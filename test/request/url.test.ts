import { describe, expect, it } from 'vitest';
import { RequestUrl } from '../../src/request/url.ts';

describe('RequestUrl', () => {
  it('reads as the URL it was made from', () => {
    const url = new RequestUrl('http://idocker.io:5000/v2/a/b/tags/list?n=10');
    const plain = new URL(url.href);
    expect(url).toBeInstanceOf(URL);
    for (const part of ['href', 'origin', 'host', 'hostname', 'port', 'protocol', 'pathname', 'search'] as const) {
      expect([part, url[part], url[part]]).toEqual([part, plain[part], plain[part]]);
    }
    expect(String(url)).toBe(plain.href);
    expect(JSON.stringify({ url })).toBe(JSON.stringify({ url: plain }));
    expect(url.searchParams.get('n')).toBe('10');
  });

  it('forgets what it kept when a part or href is set: reads as a plain URL set alike', () => {
    const url = new RequestUrl('http://idocker.io:5000/v2/');
    const plain = new URL(url.href);
    const parts = (u: URL) => [u.href, u.host, u.hostname, u.port, u.protocol, u.pathname, u.search];
    expect(parts(url)).toEqual(parts(plain));
    const edits: ((u: URL) => void)[] = [
      (u) => (u.port = '6000'),
      (u) => (u.host = 'other.example'),
      (u) => (u.hostname = 'third.example'),
      (u) => (u.pathname = '/x'),
      (u) => (u.protocol = 'https:'),
      (u) => (u.href = 'http://a.example:81/b?c=d'),
      (u) => u.searchParams.set('c', 'e'),
      (u) => (u.search = ''),
    ];
    for (const edit of edits) {
      edit(url);
      edit(plain);
      expect(parts(url)).toEqual(parts(plain));
    }
  });
});
