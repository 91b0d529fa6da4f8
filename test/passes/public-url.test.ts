import { describe, expect, it } from 'vitest';
import { rewriteAuthenticate, rewriteLocation } from '../../src/passes/incoming.ts';
import { toPublicUrl } from '../../src/passes/public-url.ts';
import { makeExchange } from '../support/exchange.ts';

const nexus = (readPrefix = '/repository/docker-group/', writePrefix = '/repository/docker-hosted/') => ({
  upstreams: { read: `http://nexus:8081${readPrefix}`, write: `http://nexus:8081${writePrefix}` },
});

describe('toPublicUrl', () => {
  const post = (target = 'https://idocker.io/v2/team/app/blobs/uploads/', site = nexus()) => makeExchange(target, { method: 'POST', site });

  it('maps an absolute upstream URL with its prefix to the public origin and path', () => {
    expect(toPublicUrl(post(), 'http://nexus:8081/repository/docker-hosted/v2/team/app/blobs/uploads/u1?_state=a%2Bb%3D')).toBe(
      'https://idocker.io/v2/team/app/blobs/uploads/u1?_state=a%2Bb%3D',
    );
  });

  it('works for prefixes with and without trailing slash', () => {
    for (const prefix of ['/repository/docker-hosted', '/repository/docker-hosted/']) {
      expect(toPublicUrl(post(undefined, nexus(undefined, prefix)), 'http://nexus:8081/repository/docker-hosted/v2/x')).toBe('https://idocker.io/v2/x');
    }
  });

  it('maps relative Locations under the prefix', () => {
    expect(toPublicUrl(post(), '/repository/docker-hosted/v2/team/app/blobs/uploads/u2')).toBe('https://idocker.io/v2/team/app/blobs/uploads/u2');
  });

  it('maps URLs the origin built from the forwarded Host, fixing the scheme', () => {
    // Nexus behind a proxy that said http: the client used https on port 5443.
    const exchange = post('https://idocker.io:5443/v2/a/blobs/uploads/');
    expect(toPublicUrl(exchange, 'http://idocker.io:5443/repository/docker-hosted/v2/a/blobs/uploads/u3')).toBe(
      'https://idocker.io:5443/v2/a/blobs/uploads/u3',
    );
  });

  it('keeps the client port, including IPv6 literals and default ports', () => {
    const v6 = post('http://[2001:db8::1]:8080/v2/a/blobs/uploads/', { upstreams: { read: 'http://[::1]:5000', write: 'http://[::1]:5001/' } });
    const siteV6 = { ...v6, site: { ...v6.site, servesHost: () => true } };
    expect(toPublicUrl(siteV6, 'http://[::1]:5001/v2/a/blobs/uploads/u4')).toBe('http://[2001:db8::1]:8080/v2/a/blobs/uploads/u4');
    const defaults = post('https://idocker.io:443/v2/a/blobs/uploads/', { upstreams: { read: 'http://group:80/', write: 'http://hosted:80' } });
    expect(toPublicUrl(defaults, 'http://hosted/v2/a/blobs/uploads/u5')).toBe('https://idocker.io/v2/a/blobs/uploads/u5');
  });

  it('repairs the host:port:port authority of Nexus 3.78+ when it names the public host', () => {
    const exchange = post('http://registry.example.com:5001/v2/a/blobs/uploads/');
    expect(toPublicUrl(exchange, 'http://registry.example.com:5001:5001/v2/token')).toBe('http://registry.example.com:5001/v2/token');
    expect(toPublicUrl(exchange, 'http://registry.example.com:5001:5001/repository/docker-hosted/v2/a/blobs/uploads/u6')).toBe(
      'http://registry.example.com:5001/v2/a/blobs/uploads/u6',
    );
    // Not a repetition, or another host: not ours to touch.
    expect(toPublicUrl(exchange, 'http://registry.example.com:5001:5002/v2/token')).toBeUndefined();
    expect(toPublicUrl(exchange, 'http://other.example:5001:5001/v2/token')).toBeUndefined();
  });

  it('maps URLs built from the bare forwarded name (origins that ignore X-Forwarded-Port)', () => {
    const exchange = post('https://registry.example.com:5001/v2/a/blobs/uploads/');
    expect(toPublicUrl(exchange, 'http://registry.example.com/repository/docker-hosted/v2/a/blobs/uploads/u7')).toBe(
      'https://registry.example.com:5001/v2/a/blobs/uploads/u7',
    );
  });

  it('leaves URLs that are not ours alone', () => {
    expect(toPublicUrl(post(), 'https://cdn.example/blobs/sha256:abc?sig=1')).toBeUndefined();
    expect(toPublicUrl(post(), 'http://nexus:8081/service/rest/v1/status')).toBeUndefined();
    expect(toPublicUrl(post(), 'http://nexus:9999/repository/docker-hosted/v2/')).toBeUndefined();
    expect(toPublicUrl(post(), 'mailto:ops@example.com')).toBeUndefined();
  });
});

describe('rewrite passes', () => {
  it('rewriteLocation: Location and Content-Location, third-party redirects untouched', () => {
    const exchange = makeExchange('http://idocker.io:5000/v2/a/blobs/uploads/', { method: 'POST', site: nexus() });
    const headers = new Headers({
      location: 'http://nexus:8081/repository/docker-hosted/v2/a/blobs/uploads/u1',
      'content-location': '/repository/docker-hosted/v2/a/blobs/x',
    });
    rewriteLocation(exchange, { status: 202, headers, body: null });
    expect(headers.get('location')).toBe('http://idocker.io:5000/v2/a/blobs/uploads/u1');
    expect(headers.get('content-location')).toBe('http://idocker.io:5000/v2/a/blobs/x');

    const cdn = new Headers({ location: 'https://cdn.example/x' });
    rewriteLocation(exchange, { status: 307, headers: cdn, body: null });
    expect(cdn.get('location')).toBe('https://cdn.example/x');
  });

  it('rewriteAuthenticate: bearer realm becomes public, service and basic stay', () => {
    const exchange = makeExchange('https://idocker.io/v2/', { site: nexus() });
    const headers = new Headers({
      'www-authenticate':
        'Bearer realm="http://nexus:8081/repository/docker-group/v2/token",' +
        'service="http://nexus:8081/repository/docker-group/v2/token",scope="repository:a:pull"',
    });
    rewriteAuthenticate(exchange, { status: 401, headers, body: null });
    expect(headers.get('www-authenticate')).toBe('Bearer realm="https://idocker.io/v2/token",service="https://idocker.io/v2/token",scope="repository:a:pull"');

    const basic = new Headers({ 'www-authenticate': 'Basic realm="Sonatype Nexus Repository Manager"' });
    rewriteAuthenticate(exchange, { status: 401, headers: basic, body: null });
    expect(basic.get('www-authenticate')).toBe('Basic realm="Sonatype Nexus Repository Manager"');

    const thirdParty = new Headers({ 'www-authenticate': 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"' });
    rewriteAuthenticate(exchange, { status: 401, headers: thirdParty, body: null });
    expect(thirdParty.get('www-authenticate')).toBe('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"');
  });

  it('rewriteAuthenticate: the doubled-port realm and service of Nexus 3.78+ become the public URL', () => {
    const exchange = makeExchange('http://registry.example.com:5001/v2/', { site: nexus() });
    const headers = new Headers({
      'www-authenticate': 'Bearer realm="http://registry.example.com:5001:5001/v2/token",service="http://registry.example.com:5001:5001/v2/token"',
    });
    rewriteAuthenticate(exchange, { status: 401, headers, body: null });
    expect(headers.get('www-authenticate')).toBe(
      'Bearer realm="http://registry.example.com:5001/v2/token",service="http://registry.example.com:5001/v2/token"',
    );
  });
});
