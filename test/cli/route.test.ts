/**
 * `route` prints the decision the app acts on (src/decision.ts), in process: local answers in the
 * order the app gives them, the origin side of direct uploads, refusals, and what the app does for
 * a client that addresses the router by IP. The command line itself is in commands.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { explainRoute } from '../../src/cli/route.ts';
import { parseConfig } from '../../src/config/load.ts';

const config = parseConfig({
  listen: [{ port: 80 }, { port: 8443, cert: 'x.crt', key: 'x.key' }],
  caCert: '/etc/registry-router/ca.crt',
  sites: [
    { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://group:8082', write: 'http://hosted:8083' } },
    { name: 'secure', hosts: ['secure.example.com'], preset: 'docker', upstream: 'http://nexus:8083', httpsRedirect: true, bootstrap: false },
    { name: 'web', hosts: ['web.example.com'], upstream: 'http://nexus:8081', static: [{ prefix: '/files', dir: '/srv/files' }] },
    { name: 'origin', hosts: ['uploads.example.com'], preset: 'docker', upstream: 'http://nexus:8083', uploadsFromEdge: { keyEnv: 'UPLOAD_KEY' } },
  ],
});
const explain = (method: string, url: string, accept?: string) => Object.fromEntries(explainRoute(config, method, new URL(url), accept));
const lines = (method: string, url: string) => explainRoute(config, method, new URL(url)).map(([label]) => label);

describe('route: the decision in words', () => {
  it('the bootstrap script, the CA, the redirect and a static folder, answered by the router', () => {
    expect(explain('GET', 'http://idocker.io/download/scripts/docker-init.sh').answer).toBe(
      'answered by the router: the client bootstrap script (rendered for idocker.io); nothing is forwarded',
    );
    const ca = 'answered by the router: the CA certificate /etc/registry-router/ca.crt; nothing is forwarded';
    expect(explain('GET', 'http://idocker.io/download/ca.crt').answer).toBe(ca);
    expect(explain('PUT', 'http://secure.example.com/v2/a/manifests/1').answer).toBe(
      '308 redirect to https://secure.example.com:8443/v2/a/manifests/1 (httpsRedirect); nothing is forwarded',
    );
    expect(explain('GET', 'http://web.example.com/files/none.txt').answer).toBe(
      'answered by the router from the folder /srv/files (static "/files"; 404 when no such file); nothing is forwarded',
    );
  });

  it('the bootstrap script asked by IP: the first docker site answers it, as the app does (not 421)', () => {
    const explained = explain('GET', 'http://10.0.0.5:8080/download/scripts/docker-init.sh');
    expect(explained.site).toBe('docker (sites[0], preset docker, hosts idocker.io)');
    expect(explained.answer).toBe('answered by the router: the client bootstrap script (rendered for idocker.io:8080); nothing is forwarded');
    expect(explain('GET', 'http://10.0.0.5/v2/').answer).toMatch(/^421: no site serves the host 10\.0\.0\.5 \(sites serve: docker \(idocker\.io\); /);
  });

  it('the origin side of direct uploads: the note, then what a sealed upload gets', () => {
    const explained = explain('PATCH', 'http://uploads.example.com/v2/team/app/blobs/uploads/1');
    expect(explained.note).toBe('this site takes only uploads sealed by an edge worker (directUploads); anything else gets 403, a bad seal 401');
    expect(explained.role).toBe('write');
    expect(explained.upstream).toBe('http://nexus:8083/v2/team/app/blobs/uploads/1');
  });

  it('refusals: a hidden dot segment, a target over 8 KiB (the guard), with nothing after them', () => {
    expect(lines('GET', 'http://idocker.io/v2/..%2f..%2fservice/rest/v1/status')).toEqual(['request', 'site', 'answer']);
    const climb = explain('GET', 'http://idocker.io/v2/..%2f..%2fservice/rest/v1/status');
    expect(climb.answer).toMatch(/^400: .*: refused, it could reach outside the upstream's path prefix; nothing is forwarded$/);
    expect(explain('GET', `http://idocker.io/v2/${'a'.repeat(9000)}`).answer).toBe('414: the request target is longer than 8192 bytes; nothing is forwarded');
  });

  it('a forward: rule, role, pinning and session, the upstream URL', () => {
    const explained = explain('HEAD', 'http://idocker.io/v2/team/app/blobs/sha256:abc');
    const rule = '{"methods":["HEAD"],"path":"/v2/**/blobs/*","to":"write","pin":true,"session":"open"}';
    expect(explained.rule).toBe(`preset docker, rule #1 (src/formats/docker.ts): ${rule}`);
    expect(explained.role).toBe('write');
    expect(explained.pinned).toBe('every request of team/app goes to its one primary');
    expect(explained.session).toMatch(/^opens \(or renews\) the client's docker push session for team\/app/);
    expect(explained.upstream).toBe('http://hosted:8083/v2/team/app/blobs/sha256:abc');
  });
});

describe('route: which answers get their URLs mapped, in the format’s terms', () => {
  const formats = parseConfig({
    sites: [
      {
        name: 'npm',
        hosts: ['npm.example.com'],
        preset: 'npm',
        upstreams: { read: 'http://nexus/repository/npm-group/', write: 'http://nexus/repository/npm-hosted/' },
      },
      {
        name: 'pypi',
        hosts: ['pypi.example.com'],
        preset: 'pypi',
        upstreams: { read: 'http://nexus/repository/pypi-group/', write: 'http://nexus/repository/pypi-hosted/' },
      },
    ],
  });
  const answer = (url: string) => Object.fromEntries(explainRoute(formats, 'GET', new URL(url))).answer;

  it('a PyPI simple page is HTML (PEP 503) or JSON (PEP 691); an npm packument is JSON', () => {
    expect(answer('http://pypi.example.com/simple/requests/')).toBe(
      'URLs in the HTML or JSON answer that point into an upstream are mapped to the public name',
    );
    expect(answer('http://npm.example.com/left-pad')).toBe('URLs in the JSON answer that point into an upstream are mapped to the public name');
  });
});
