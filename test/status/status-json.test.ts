/**
 * `/status.json` and `/` of the admin app, with the whole app in-process (a fake upstream client,
 * no sockets): the JSON shape the status page renders, how requests, health changes and transfers
 * show in it, and the page's own headers.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type RouterApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Exchange } from '../../src/exchange.ts';
import type { OutgoingRequest, UpstreamClient } from '../../src/forward/client.ts';
import { Metrics } from '../../src/status/metrics.ts';
import { compileSite, type Site } from '../../src/site/site.ts';
import { POLL_MS, STATUS_PAGE } from '../../src/status/page.ts';
import { statusSnapshot, TRANSFERS_LISTED, type StatusSnapshot } from '../../src/status/snapshot.ts';
import type { HealthEvent } from '../../src/upstream/pool.ts';

const GA = 'http://group-a:8082';
const GB = 'http://group-b:8082';
const HA = 'http://hosted-a:8083';
const HB = 'http://hosted-b:8083';
const NPM = 'http://deployer:s3cret@nexus:8081/repository/npm-group/';

const config = () =>
  parseConfig({
    admin: { port: 0 },
    sites: [
      {
        name: 'docker',
        hosts: ['idocker.io'],
        preset: 'docker',
        upstreams: { read: { servers: [GA], backup: [GB] }, write: { servers: [HA], backup: [HB] } },
        health: { checks: false, backoff: 60 },
      },
      // Passive only as well: what the first snapshot shows must not race a first check.
      { name: 'npm', hosts: ['npm.example.com'], preset: 'npm', upstream: NPM, health: { checks: false } },
    ],
  });

/** Group A answers /v2/ with 200 and anything else with 404; hosted A answers 502 (a failStatus). */
const client: UpstreamClient = {
  async send(request: OutgoingRequest) {
    await request.body?.cancel();
    const url = new URL(request.url);
    const answer = (status: number, body = '') => ({
      status,
      headers: new Headers({ 'content-type': 'application/json', 'content-length': String(body.length) }),
      body: new Response(body).body,
    });
    if (url.host === 'hosted-a:8083') return answer(502, '{}');
    return url.pathname === '/v2/' ? answer(200, '{}') : answer(404, '{"errors":[]}');
  },
};

let app: RouterApp | undefined;
afterEach(() => app?.stop());

const start = (events: HealthEvent[] = []) =>
  (app = createApp(config(), { client, log: () => {}, healthLog: (e) => events.push(e), clientAddress: () => '192.0.2.7' }));
const snapshot = async (router: RouterApp): Promise<StatusSnapshot> => {
  const res = await router.admin.request('/status.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as StatusSnapshot;
};
const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
const emptyMinutes = () => Array.from({ length: 5 }, () => ({ start: iso, requests: 0, clientErrors: 0, serverErrors: 0, bytesIn: 0, bytesOut: 0 }));
/** A server nobody has checked and no request has reached: unknown, not up. */
const unknownServer = (href: string, tier: 'primary' | 'backup') => ({
  href,
  tier,
  state: 'unknown',
  up: false,
  since: iso,
  changed: false,
  via: null,
  reason: 'not checked: active checks are off and no request has been answered yet',
  lastCheck: null,
  lastAnswer: null,
  lastFailure: null,
  downs: 0,
  failures: 0,
  inFlight: 0,
});

describe('GET /status.json', () => {
  it('describes every site, its upstreams per role, and empty counters at the start', async () => {
    const router = start();
    const status = await snapshot(router);
    const zero = { requests: 0, clientErrors: 0, serverErrors: 0, bytesIn: 0, bytesOut: 0 };
    expect(status).toEqual({
      version: 2,
      now: iso,
      startedAt: iso,
      uptimeMs: expect.any(Number),
      ready: true,
      problems: [],
      window: { minutes: 5, bucketMs: 60_000 },
      sites: [
        {
          name: 'docker',
          checks: { on: false, intervalMs: 5000, path: '/v2/', expected: '200 or 401' },
          writeToBackup: false,
          writesPaused: false,
          roles: [
            { role: 'read', retries: 0, servers: [unknownServer(GA, 'primary'), unknownServer(GB, 'backup')] },
            { role: 'write', retries: 0, servers: [unknownServer(HA, 'primary'), unknownServer(HB, 'backup')] },
          ],
          inFlight: 0,
          transfers: [],
          requests: { total: zero, minutes: emptyMinutes() },
        },
        {
          name: 'npm',
          checks: { on: false, intervalMs: 5000, path: '/', expected: 'any answer below 500' },
          writeToBackup: false,
          writesPaused: false,
          // Credentials in an upstream URL never reach the page.
          roles: [
            { role: 'read', retries: 0, servers: [unknownServer('http://nexus:8081/repository/npm-group/', 'primary')] },
            { role: 'write', retries: 0, servers: [unknownServer('http://nexus:8081/repository/npm-group/', 'primary')] },
          ],
          inFlight: 0,
          transfers: [],
          requests: { total: zero, minutes: emptyMinutes() },
        },
      ],
      unrouted: null,
    });
    // "Since" a server that never changed is the router's start.
    expect(status.sites[0]!.roles[0]!.servers[0]!.state).toBe('unknown');
    expect(status.sites[0]!.roles[0]!.servers[0]!.since).toBe(status.startedAt);
    expect(Date.parse(status.now) - Date.parse(status.startedAt)).toBe(status.uptimeMs);
  });

  it('counts requests per site and minute, 4xx and 5xx apart, and shows a server going down with its reason', async () => {
    const events: HealthEvent[] = [];
    const router = start(events);
    const send = async (path: string, init: RequestInit = {}, host = 'idocker.io') => {
      const res = await router.fetch(new Request(`http://${host}${path}`, { ...init, headers: { host } }));
      await res.arrayBuffer();
      return res.status;
    };
    expect(await send('/v2/')).toBe(200);
    expect(await send('/v2/team/app/manifests/1.0')).toBe(404);
    const before = Date.now();
    // Hosted A answers 502: a passive failure takes it out; the next write is paused (503).
    expect(await send('/v2/team/app/blobs/uploads/', { method: 'POST' })).toBe(502);
    // (Another repository: the first one's push session would still try its own server.)
    expect(await send('/v2/team/other/blobs/uploads/', { method: 'POST' })).toBe(503);
    expect(await send('/v2/', {}, 'nobody.example')).toBe(421);

    const status = await snapshot(router);
    const docker = status.sites[0]!;
    expect(docker.requests.total).toEqual({ requests: 4, clientErrors: 1, serverErrors: 2, bytesIn: 0, bytesOut: expect.any(Number) });
    const current = docker.requests.minutes.at(-1)!;
    // The current minute holds all four (unless the minute turned between them: then the last two minutes do).
    const lastTwo = docker.requests.minutes.slice(-2).reduce((sum, m) => sum + m.requests, 0);
    expect(lastTwo).toBe(4);
    expect(Date.parse(current.start) % 60_000).toBe(0);
    expect(Date.parse(current.start)).toBeLessThanOrEqual(Date.parse(status.now));
    expect(status.unrouted).toEqual({
      total: { requests: 1, clientErrors: 1, serverErrors: 0, bytesIn: 0, bytesOut: expect.any(Number) },
      minutes: expect.any(Array),
    });
    expect(status.sites[1]!.requests.total.requests).toBe(0);

    const hostedA = docker.roles[1]!.servers[0]!;
    expect(hostedA).toEqual({
      href: HA,
      tier: 'primary',
      state: 'down',
      up: false,
      since: iso,
      changed: true,
      via: 'passive',
      reason: 'POST /v2/team/app/blobs/uploads/ answered 502',
      lastCheck: null,
      lastAnswer: null,
      lastFailure: { at: hostedA.since, via: 'passive', reason: 'POST /v2/team/app/blobs/uploads/ answered 502' },
      downs: 1,
      failures: 1,
      inFlight: 0,
    });
    expect(Date.parse(hostedA.since)).toBeGreaterThanOrEqual(before - 1);
    // Group A answered the ping and the manifest request: known up from those answers ("last seen").
    expect(docker.roles[0]!.servers[0]).toMatchObject({ href: GA, state: 'up', up: true, via: 'passive', lastAnswer: { at: iso, status: 404 } });
    // Its backup took no request: still unknown.
    expect(docker.roles[0]!.servers[1]).toMatchObject({ href: GB, state: 'unknown' });
    expect(docker.writesPaused).toBe(true);
    expect(status.ready).toBe(false);
    expect(status.problems).toEqual(['site docker: no healthy write upstream (writes are paused; backups take reads only)']);
    // The app's own health log still gets the event: the status page only listens in.
    expect(events.map((e) => [e.event, e.upstream])).toEqual([['upstream_down', HA]]);
  });

  it('shows a server that came back as up since then, keeping its last failure and its last check', () => {
    const metrics = new Metrics();
    const s = compileSite(config().sites[0]!);
    for (const server of s.servers) server.onChange = () => {};
    const hostedA = s.pools.write.primaries[0]!;
    const t1 = Date.now();
    hostedA.failed('passive', 'PUT /v2/x/manifests/1 answered 503', t1);
    hostedA.passed('GET /v2/ answered 200', t1 + 60_000);
    const [server] = statusSnapshot([s], metrics, []).sites[0]!.roles[1]!.servers;
    expect(server).toEqual({
      href: HA,
      tier: 'primary',
      state: 'up',
      up: true,
      since: new Date(t1 + 60_000).toISOString(),
      changed: true,
      via: 'active',
      reason: 'GET /v2/ answered 200',
      lastCheck: { at: new Date(t1 + 60_000).toISOString(), ok: true, reason: 'GET /v2/ answered 200' },
      lastAnswer: null,
      lastFailure: { at: new Date(t1).toISOString(), via: 'passive', reason: 'PUT /v2/x/manifests/1 answered 503' },
      downs: 1,
      failures: 1,
      inFlight: 0,
    });
  });

  it('shows a passive-only server as unknown once its back-off is over, not up', () => {
    const metrics = new Metrics();
    const s = compileSite({ ...config().sites[0]!, health: { ...config().sites[0]!.health, backoff: 0.001 } });
    for (const server of s.servers) server.onChange = () => {};
    const t1 = Date.now() - 1000;
    s.pools.write.primaries[0]!.failed('passive', 'POST /v2/a/blobs/uploads/: hosted-a:8083: connection refused (ECONNREFUSED)', t1);
    const snapshot = statusSnapshot([s], metrics, []);
    expect(snapshot.sites[0]!.roles[1]!.servers[0]).toMatchObject({
      state: 'unknown',
      up: false,
      via: 'backoff',
      reason: 'back-off of 0.001 s is over; not checked since (active checks are off): the next request decides',
      lastFailure: { via: 'passive', reason: 'POST /v2/a/blobs/uploads/: hosted-a:8083: connection refused (ECONNREFUSED)' },
      downs: 1,
    });
    expect(snapshot.sites[0]!.writesPaused).toBe(false);
  });
});

describe('transfers in flight', () => {
  function site(): Site {
    const compiled = compileSite(config().sites[0]!);
    for (const s of compiled.servers) s.onChange = () => {};
    return compiled;
  }
  const exchange = (s: Site, path: string, startedAt: number, method = 'GET', headers: Record<string, string> = {}): Exchange => {
    const request = new Request(`http://idocker.io${path}`, { method, headers });
    return {
      request,
      url: new URL(request.url),
      clientAddress: '192.0.2.9',
      site: s,
      role: 'read',
      upstream: s.upstreams.read,
      startedAt,
      tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false },
    };
  };

  it('lists each exchange with its bytes so far and a rate sampled at most once a second', () => {
    let now = 1_000_000;
    const metrics = new Metrics(() => now);
    const s = site();
    const download = exchange(s, '/v2/team/app/blobs/sha256:aa', now);
    const upload = exchange(s, '/v2/team/app/blobs/uploads/1', now, 'PATCH', { 'content-length': '1000' });
    const d = metrics.transfers.begin(download);
    const u = metrics.transfers.begin(upload);
    // Not sent yet: no server, no answer length.
    expect(statusSnapshot([s], metrics, []).sites[0]!.transfers[0]).toMatchObject({ upstream: null, totalIn: null, totalOut: null, percent: null });
    u.upstream = HA;
    // What the outgoing and incoming passes note on the shared tally (see the app-level test below).
    download.tally.server = GB;
    download.tally.answerLength = 10_000;
    now += 500;
    download.tally.bytesOut = 1000;
    upload.tally.bytesIn = 250;
    let status = statusSnapshot([s], metrics, []);
    expect(status.sites[0]!.transfers).toEqual([
      {
        id: 1,
        site: 'docker',
        role: 'read',
        upstream: GB,
        method: 'GET',
        path: '/v2/team/app/blobs/sha256:aa',
        client: '192.0.2.9',
        startedAt: new Date(1_000_000).toISOString(),
        elapsedMs: 500,
        bytesIn: 0,
        bytesOut: 1000,
        totalIn: null,
        totalOut: 10_000,
        percent: 10,
        rate: 2000,
      },
      expect.objectContaining({ id: 2, method: 'PATCH', upstream: HA, bytesIn: 250, bytesOut: 0, totalIn: 1000, totalOut: null, percent: 25, rate: 500 }),
    ]);
    now += 1000;
    download.tally.bytesOut = 4000;
    status = statusSnapshot([s], metrics, []);
    // The first period of at least a second: from the start.
    expect(status.sites[0]!.transfers[0]).toMatchObject({ bytesOut: 4000, rate: 2667, elapsedMs: 1500 });
    // Polled again within the second: the same rate, whatever the bytes did meanwhile.
    now += 100;
    download.tally.bytesOut = 4100;
    expect(statusSnapshot([s], metrics, []).sites[0]!.transfers[0]).toMatchObject({ bytesOut: 4100, rate: 2667 });
    // The next period: 3400 bytes in 1.1 s (not the 7400 / 2.6 s average).
    now += 1000;
    download.tally.bytesOut = 7400;
    expect(statusSnapshot([s], metrics, []).sites[0]!.transfers[0]).toMatchObject({ bytesOut: 7400, rate: 3091, elapsedMs: 2600 });
    d.end();
    u.end();
    d.end();
    expect(statusSnapshot([s], metrics, []).sites[0]!.transfers).toEqual([]);
    expect(metrics.transfers.size).toBe(0);
  });

  it('through the app: the server chosen and the declared lengths of a download held open and of an upload', async () => {
    // A client whose answers stream until released: 1 MiB declared (over the size read whole), 100 KiB sent at once.
    let release = () => {};
    const held: UpstreamClient = {
      async send(request: OutgoingRequest) {
        const url = new URL(request.url);
        if (request.method === 'PUT') {
          // Reads the upload body only when released, so its transfer stays in flight meanwhile.
          await new Promise<void>((done) => (release = done));
          await new Response(request.body).arrayBuffer();
          return { status: 201, headers: new Headers({ 'content-length': '0' }), body: null };
        }
        if (url.pathname === '/v2/') return { status: 200, headers: new Headers({ 'content-length': '2' }), body: new Response('{}').body };
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new Uint8Array(100 * 1024));
            release = () => {
              controller.enqueue(new Uint8Array(924 * 1024));
              controller.close();
            };
          },
        });
        return { status: 200, headers: new Headers({ 'content-length': String(1024 * 1024) }), body };
      },
    };
    app = createApp(config(), { client: held, log: () => {}, healthLog: () => {}, clientAddress: () => '192.0.2.7' });
    const router = app;
    const download = await router.fetch(new Request('http://idocker.io/v2/team/app/blobs/sha256:aa', { headers: { host: 'idocker.io' } }));
    const reader = download.body!.getReader();
    let got = 0;
    while (got < 100 * 1024) got += (await reader.read()).value!.byteLength;
    let docker = (await snapshot(router)).sites[0]!;
    expect(docker.inFlight).toBe(1);
    expect(docker.transfers).toEqual([
      expect.objectContaining({ method: 'GET', upstream: GA, bytesOut: 100 * 1024, totalIn: null, totalOut: 1024 * 1024, percent: 9 }),
    ]);
    release();
    while (!(await reader.read()).done);
    expect((await snapshot(router)).sites[0]!.transfers).toEqual([]);

    // An upload with a declared length, held by the server before it reads the body.
    const put = router.fetch(
      new Request('http://idocker.io/v2/team/app/blobs/uploads/1?digest=sha256:bb', {
        method: 'PUT',
        headers: { host: 'idocker.io', 'content-length': '3' },
        body: new Uint8Array(3),
      }),
    );
    await expect.poll(async () => (await snapshot(router)).sites[0]!.transfers.length).toBe(1);
    docker = (await snapshot(router)).sites[0]!;
    expect(docker.transfers).toEqual([expect.objectContaining({ method: 'PUT', role: 'write', upstream: HA, totalIn: 3, totalOut: null })]);
    release();
    expect((await put).status).toBe(201);
  });

  it('lists at most a fixed number per site, and only the site’s own', () => {
    const metrics = new Metrics();
    const a = site();
    const b = compileSite({ ...config().sites[0]!, name: 'other' });
    for (let i = 0; i < TRANSFERS_LISTED + 5; i++) metrics.transfers.begin(exchange(a, `/v2/x/blobs/sha256:${i}`, Date.now()));
    metrics.transfers.begin(exchange(b, '/v2/y/blobs/sha256:0', Date.now()));
    const status = statusSnapshot([a, b], metrics, []);
    expect(status.sites[0]!.transfers).toHaveLength(TRANSFERS_LISTED);
    expect(status.sites[1]!.transfers.map((t) => t.site)).toEqual(['other']);
  });
});

describe('GET / (the status page)', () => {
  it('is one HTML document whose inline style and script are the only ones its policy allows', async () => {
    const router = start();
    const res = await router.admin.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toBe(STATUS_PAGE);
    const hash = (text: string) => createHash('sha256').update(text).digest('base64');
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const policy = res.headers.get('content-security-policy')!;
    expect(policy.split('; ')).toEqual([
      "default-src 'none'",
      `style-src 'sha256-${hash(style)}'`,
      `script-src 'sha256-${hash(script)}'`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ]);
    // It renders by textContent/setAttribute only, and polls status.json.
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(script).toContain(`var POLL_MS = ${POLL_MS};`);
    expect(script).toContain("fetch('status.json'");
    expect(POLL_MS).toBeGreaterThanOrEqual(1000);
    expect(POLL_MS).toBeLessThanOrEqual(2000);
  });

  it('answers unknown paths with the list of endpoints, and takes no writes', async () => {
    const router = start();
    const missing = await router.admin.request('/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ status: 'not found', endpoints: ['/', '/status.json', '/metrics', '/healthz', '/readyz'] });
    expect((await router.admin.request('/status.json', { method: 'POST' })).status).toBe(404);
    expect((await router.admin.request('/', { method: 'DELETE' })).status).toBe(404);
  });
});
