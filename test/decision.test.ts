/**
 * The routing decision (src/decision.ts) as a table: request → what happens (refuse, local answer,
 * unseal, forward with role, pinning and session effect), without a server, an upstream or a file.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.ts';
import { compileRouting, type Asked, type Decision } from '../src/decision.ts';
import { PushSessions } from '../src/site/push-sessions.ts';

const config = parseConfig({
  listen: [{ port: 80 }, { port: 8443, cert: 'x.crt', key: 'x.key' }],
  caCert: '/etc/registry-router/ca.crt',
  sites: [
    {
      name: 'docker',
      hosts: ['idocker.io'],
      preset: 'docker',
      upstreams: { read: 'http://group:8082', write: 'http://hosted:8083' },
      rules: [{ methods: ['DELETE'], to: 'deny' }],
    },
    {
      name: 'npm',
      hosts: ['npm.example.com'],
      preset: 'npm',
      upstreams: { read: 'http://nexus:8081/repository/npm-group/', write: 'http://nexus:8081/repository/npm-hosted/' },
    },
    {
      name: 'maven',
      hosts: ['maven.example.com'],
      preset: 'maven',
      upstreams: { read: 'http://nexus:8081/repository/maven-public/', write: 'http://nexus:8081/repository/maven-releases/' },
    },
    { name: 'secure', hosts: ['secure.example.com'], preset: 'docker', upstream: 'http://nexus:8083', httpsRedirect: true, bootstrap: false },
    {
      name: 'web',
      hosts: ['web.example.com'],
      upstream: 'http://nexus:8081',
      static: [
        { prefix: '/files', dir: '/srv/files' },
        { prefix: '/files/big', dir: '/srv/big' },
      ],
    },
    { name: 'quiet', hosts: ['quiet.example.com'], preset: 'docker', upstream: 'http://nexus:8083', pushSessions: { idle: 0 } },
    { name: 'origin', hosts: ['uploads.example.com'], preset: 'docker', upstream: 'http://nexus:8083', uploadsFromEdge: { keyEnv: 'UPLOAD_KEY' } },
  ],
});
const routing = compileRouting(config);

const asked = (method: string, url: string, headers: Record<string, string> = {}, client = '192.0.2.7'): Asked => ({
  method,
  url: new URL(url),
  headers: new Headers({ host: new URL(url).host, ...headers }),
  client,
});

/** The decision without its object references: the site by name, the rule by its source. */
function shape(decision: Decision): Record<string, unknown> {
  const { site, ...rest } = decision as Decision & { plan?: unknown; rule?: { source: unknown }; url?: URL };
  const out: Record<string, unknown> = { ...rest, site: site?.name };
  delete out.plan;
  if ('rule' in rest) out.rule = rest.rule?.source;
  if (rest.url) out.url = rest.url.href;
  return out;
}

const PULL_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, */*';
const PUSH_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
const key = (authorization: string | null, subject: string) => PushSessions.key('192.0.2.7', authorization, subject);

const table: Array<[string, Asked, Record<string, unknown>]> = [
  [
    'CONNECT: the guard refuses before any site',
    asked('CONNECT', 'http://idocker.io/'),
    {
      kind: 'refuse',
      site: undefined,
      status: 405,
      code: 'UNSUPPORTED',
      early: true,
      message: 'CONNECT is not supported: this router is not a forward proxy',
    },
  ],
  [
    'a Host no site serves: 421 naming every site, the body left to be read',
    asked('GET', 'http://elsewhere.example/v2/'),
    {
      kind: 'refuse',
      site: undefined,
      status: 421,
      early: false,
      message:
        'this router serves no site named elsewhere.example; its sites serve: docker (idocker.io); npm (npm.example.com); maven (maven.example.com); ' +
        'secure (secure.example.com); web (web.example.com); quiet (quiet.example.com); origin (uploads.example.com)',
    },
  ],
  [
    'the bootstrap script by IP: the first docker site, rendered for its name with the port used',
    asked('GET', 'http://10.0.0.5:8080/download/scripts/docker-init.sh'),
    { kind: 'local', site: 'docker', which: 'bootstrap', url: 'http://idocker.io:8080/download/scripts/docker-init.sh' },
  ],
  ['the CA by IP', asked('HEAD', 'http://10.0.0.5/download/ca.crt'), { kind: 'local', site: 'docker', which: 'ca', url: 'http://idocker.io/download/ca.crt' }],
  ['another path by IP: 421', asked('GET', 'http://10.0.0.5/v2/'), { kind: 'refuse', site: undefined, status: 421 }],
  [
    'a hidden dot segment: 400 before anything else of the site',
    asked('GET', 'http://idocker.io/v2/..%2f..%2fservice/rest/v1/status'),
    { kind: 'refuse', site: 'docker', status: 400, code: 'NAME_INVALID', early: true },
  ],
  ['the bootstrap script by name', asked('GET', 'http://idocker.io/download/scripts/docker-init.sh'), { kind: 'local', site: 'docker', which: 'bootstrap' }],
  [
    'the CA with another method (answered 405 by the router, never forwarded)',
    asked('POST', 'http://idocker.io/download/ca.crt'),
    { kind: 'local', which: 'ca' },
  ],
  [
    'plain HTTP on an httpsRedirect site: 301 for GET',
    asked('GET', 'http://secure.example.com/v2/team/app/manifests/1.0?x=1'),
    { kind: 'local', site: 'secure', which: 'redirect', status: 301, location: 'https://secure.example.com:8443/v2/team/app/manifests/1.0?x=1' },
  ],
  [
    'plain HTTP on an httpsRedirect site: 308 for a push',
    asked('PUT', 'http://secure.example.com/v2/a/manifests/1'),
    { kind: 'local', which: 'redirect', status: 308 },
  ],
  ['HTTPS on that site goes on to the rules', asked('GET', 'https://secure.example.com/v2/a/manifests/1'), { kind: 'forward', site: 'secure', role: 'read' }],
  [
    'a static folder: the longest prefix that holds the path',
    asked('GET', 'http://web.example.com/files/big/disk.img'),
    { kind: 'local', site: 'web', which: 'static', mount: { prefix: '/files/big', dir: '/srv/big', listing: false } },
  ],
  [
    'a static folder answers what it does not hold too (404 there), never falls through to the rules',
    asked('GET', 'http://web.example.com/files/missing.txt'),
    { kind: 'local', which: 'static', mount: { prefix: '/files', dir: '/srv/files', listing: false } },
  ],
  ['a path beside the folder prefix goes to the rules', asked('GET', 'http://web.example.com/filesystem'), { kind: 'forward', site: 'web', role: 'read' }],
  [
    'a deny rule: 405 with the rule',
    asked('DELETE', 'http://idocker.io/v2/team/app/manifests/1.0'),
    {
      kind: 'refuse',
      site: 'docker',
      status: 405,
      code: 'DENIED',
      role: 'deny',
      rule: { methods: ['DELETE'], to: 'deny' },
      early: true,
      message: 'site docker does not accept DELETE /v2/team/app/manifests/1.0',
    },
  ],
  [
    'an upload: write, pinned, opens the push session of the client and its credentials',
    asked('PATCH', 'http://idocker.io/v2/team/app/blobs/uploads/5d1c', { authorization: 'Bearer abc' }),
    {
      kind: 'forward',
      site: 'docker',
      role: 'write',
      subject: 'team/app',
      pinned: true,
      session: { effect: 'open', key: key('Bearer abc', 'team/app'), followTo: undefined },
      mapUrls: false,
    },
  ],
  [
    "a pull's manifest HEAD (Accept: a list): read, no session",
    asked('HEAD', 'http://idocker.io/v2/team/app/manifests/1.0', { accept: PULL_ACCEPT }),
    { kind: 'forward', role: 'read', rule: { methods: ['HEAD'], path: '/v2/**/manifests/*', accept: 'list', to: 'read' }, session: undefined, pinned: false },
  ],
  [
    "containerd's manifest HEAD before its PUT (Accept: one type): follows the client's push session",
    asked('HEAD', 'http://idocker.io/v2/team/app/manifests/1.0', { accept: PUSH_ACCEPT }),
    { kind: 'forward', role: 'read', subject: 'team/app', session: { effect: 'follow', key: key(null, 'team/app'), followTo: undefined } },
  ],
  [
    'the same HEAD where sessions are off: a plain read',
    asked('HEAD', 'http://quiet.example.com/v2/team/app/manifests/1.0', { accept: PUSH_ACCEPT }),
    { kind: 'forward', site: 'quiet', role: 'read', session: undefined },
  ],
  ['a manifest GET: read', asked('GET', 'http://idocker.io/v2/team/app/manifests/1.0'), { kind: 'forward', role: 'read', pinned: false, session: undefined }],
  ['an npm packument: read, URLs mapped', asked('GET', 'http://npm.example.com/left-pad'), { kind: 'forward', site: 'npm', role: 'read', mapUrls: true }],
  ['npm publish: write', asked('PUT', 'http://npm.example.com/left-pad'), { kind: 'forward', site: 'npm', role: 'write', mapUrls: false }],
  [
    'a Maven metadata read: follows the deploy session, to where the deploy writes',
    asked('GET', 'http://maven.example.com/com/example/app/maven-metadata.xml'),
    { kind: 'forward', site: 'maven', role: 'read', subject: 'com/example/app', session: { effect: 'follow', key: key(null, 'com/example/app') } },
  ],
  [
    'the origin side of direct uploads: unseal first',
    asked('PATCH', 'http://uploads.example.com/v2/a/blobs/uploads/1?rr_upload=x'),
    { kind: 'unseal', site: 'origin' },
  ],
];

describe('the routing decision', () => {
  it.each(table)('%s', (_name, request, expected) => {
    expect(shape(routing.decide(request))).toMatchObject(expected);
  });

  it('after unsealing: the rule, with the credentials the capability restored in the session key', () => {
    const request = asked('PATCH', 'http://uploads.example.com/v2/a/blobs/uploads/1', { authorization: 'Basic edge' });
    const decision = routing.decide({ ...request, unsealed: { authorization: 'Bearer pusher' } });
    const session = { effect: 'open', key: key('Bearer pusher', 'a') };
    expect(shape(decision)).toMatchObject({ kind: 'forward', site: 'origin', role: 'write', pinned: true, session });
  });

  it('leaves the guard out only when asked to (the blob cache: its requests all pass the app)', () => {
    const hostless = { method: 'GET', url: new URL('http://idocker.io/v2/'), headers: new Headers(), client: '' };
    expect(shape(routing.decide(hostless))).toMatchObject({ kind: 'refuse', status: 400, message: 'the request has no Host header' });
    expect(shape(routing.decide({ ...hostless, guard: false }))).toMatchObject({ kind: 'forward', site: 'docker', role: 'read' });
  });

  it('is pure: the same request, the same decision, whatever came before', () => {
    const upload = asked('POST', 'http://idocker.io/v2/team/app/blobs/uploads/');
    const first = shape(routing.decide(upload));
    routing.decide(asked('HEAD', 'http://idocker.io/v2/team/app/manifests/1.0', { accept: PUSH_ACCEPT }));
    expect(shape(routing.decide(upload))).toEqual(first);
  });

  it('no file access: no bootstrap or CA answers; static folders are a config error naming the site', () => {
    const withoutStatic = { ...config, sites: config.sites.filter((site) => site.name !== 'web') };
    const bare = compileRouting(withoutStatic, undefined, { files: false });
    expect(shape(bare.decide(asked('GET', 'http://idocker.io/download/ca.crt')))).toMatchObject({ kind: 'forward', role: 'read' });
    expect(shape(bare.decide(asked('GET', 'http://10.0.0.5/download/ca.crt')))).toMatchObject({ kind: 'refuse', status: 421 });
    expect(() => compileRouting(config, undefined, { files: false })).toThrow('site web: "static" needs file access, which this runtime did not provide');
  });
});
