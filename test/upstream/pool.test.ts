import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { compileSite } from '../../src/site/site.ts';
import { compilePools, Pool, Server, type HealthEvent } from '../../src/upstream/pool.ts';

const server = (href: string, opts: { backoffMs?: number; checked?: boolean } = {}) => new Server('docker', href, opts.backoffMs ?? 1000, opts.checked ?? true);

function recorder(...servers: Server[]): HealthEvent[] {
  const events: HealthEvent[] = [];
  for (const s of servers) s.onChange = (event) => events.push(event);
  return events;
}

describe('Pool.pick', () => {
  it('spreads equally loaded primaries round robin', () => {
    const [a, b, c] = [server('http://a'), server('http://b'), server('http://c')];
    const pool = new Pool('read', [a!, b!, c!], []);
    const picked = Array.from({ length: 6 }, () => pool.pick(true)!.href);
    expect(picked).toEqual(['http://a', 'http://b', 'http://c', 'http://a', 'http://b', 'http://c']);
  });

  it('sends the next request to the primary with the fewest transfers in flight', () => {
    const [a, b, c] = [server('http://a'), server('http://b'), server('http://c')];
    const pool = new Pool('read', [a!, b!, c!], []);
    a!.active = 3;
    b!.active = 1;
    c!.active = 2;
    for (let i = 0; i < 5; i++) expect(pool.pick(true)).toBe(b);
    b!.active = 5;
    expect(pool.pick(true)).toBe(c);
  });

  it('uses backups only when no primary is available, and only when allowed', () => {
    const [a, b, x] = [server('http://a'), server('http://b'), server('http://x')];
    const pool = new Pool('write', [a!, b!], [x!]);
    x!.active = 0;
    a!.active = 9;
    b!.active = 9;
    expect(pool.pick(true)).not.toBe(x); // busy primaries still beat an idle backup
    a!.failed('passive', 'refused');
    expect(pool.pick(true)).toBe(b);
    b!.failed('active', 'refused');
    expect(pool.pick(true)).toBe(x);
    expect(pool.pick(false)).toBeUndefined();
    expect(pool.ready(false)).toBe(false);
    expect(pool.ready(true)).toBe(true);
  });

  it('skips servers already tried; the last resort returns untried servers, primaries first', () => {
    const [a, x] = [server('http://a'), server('http://x')];
    const pool = new Pool('read', [a!], [x!]);
    a!.failed('passive', 'refused');
    x!.failed('passive', 'refused');
    expect(pool.pick(true)).toBeUndefined();
    expect(pool.lastResort(true)).toBe(a);
    expect(pool.lastResort(true, new Set([a!]))).toBe(x);
    expect(pool.lastResort(false, new Set([a!]))).toBeUndefined();
    expect(pool.pick(true, new Set([a!, x!]))).toBeUndefined();
  });
});

describe('Server health', () => {
  it('a passive failure takes a server out; a passing check brings it back only after the back-off', () => {
    const a = server('http://a', { backoffMs: 1000 });
    const events = recorder(a);
    a.failed('passive', 'GET /v2/ answered 503', 10_000);
    expect(a.up).toBe(false);
    expect(a.available(10_500)).toBe(false);
    a.passed('GET /v2/ answered 200', 10_500);
    expect(a.up).toBe(false);
    a.passed('GET /v2/ answered 200', 11_000);
    expect(a.up).toBe(true);
    expect(events.map((e) => [e.event, e.via])).toEqual([
      ['upstream_down', 'passive'],
      ['upstream_up', 'active'],
    ]);
    expect(events[1]).toMatchObject({ site: 'docker', upstream: 'http://a', downMs: 1000, reason: 'GET /v2/ answered 200' });
    expect(a.failures).toBe(1);
  });

  it('with active checks, the end of the back-off alone does not bring a server back', () => {
    const a = server('http://a', { backoffMs: 1000, checked: true });
    a.failed('passive', 'refused', 0);
    expect(a.available(5_000)).toBe(false);
  });

  it('without active checks, a server is unknown (not up) when its back-off is over, and up once it answers', () => {
    const a = server('http://a', { backoffMs: 1000, checked: false });
    const events = recorder(a);
    a.failed('passive', 'refused', 0);
    expect(a.available(999)).toBe(false);
    expect(a.state(999)).toBe('down');
    // Tried again (it may be back), but nobody has seen it back: unknown.
    expect(a.available(1000)).toBe(true);
    expect(a.state(1000)).toBe('unknown');
    expect(a.up).toBe(false);
    expect(a.health(1000)).toMatchObject({
      state: 'unknown',
      via: 'backoff',
      reason: 'back-off of 1 s is over; not checked since (active checks are off): the next request decides',
      lastFailure: { at: 0, via: 'passive', reason: 'refused' },
      downs: 1,
    });
    a.answered(200, 1500);
    expect(a.state(1500)).toBe('up');
    expect(events.map((e) => [e.event, e.via])).toEqual([
      ['upstream_down', 'passive'],
      ['upstream_unknown', 'backoff'],
      ['upstream_up', 'passive'],
    ]);
    expect(events[2]).toMatchObject({ reason: 'a request was answered (200)', downMs: 1500 });
  });

  it('starts unknown, says how it will be known, and takes its first verdict without logging an "up"', () => {
    const checked = new Server('docker', 'http://a', 1000, true, 0);
    const passive = new Server('docker', 'http://b', 1000, false, 0);
    const events = recorder(checked, passive);
    expect(checked.health(5)).toEqual({
      state: 'unknown',
      since: 0,
      changed: false,
      via: null,
      reason: 'not checked yet (the first check is under way)',
      lastCheck: null,
      lastAnswer: null,
      lastFailure: null,
      downs: 0,
    });
    expect(passive.health(5).reason).toBe('not checked: active checks are off and no request has been answered yet');
    // Unknown servers take requests: only a known failure keeps them out.
    expect(checked.available(5)).toBe(true);
    expect(new Pool('read', [checked], []).ready(false, 5)).toBe(true);
    checked.passed('GET /v2/ answered 401', 10);
    passive.answered(404, 20);
    expect(checked.health(30)).toMatchObject({
      state: 'up',
      since: 10,
      changed: true,
      via: 'active',
      lastCheck: { at: 10, ok: true, reason: 'GET /v2/ answered 401' },
    });
    expect(passive.health(30)).toMatchObject({ state: 'up', since: 20, via: 'passive', lastAnswer: { at: 20, status: 404 } });
    expect(events).toEqual([]);
    // A down server does not come back by an answer (a last-resort request): its back-off or a check decides.
    checked.failed('active', 'GET /v2/: connection refused', 40);
    checked.answered(200, 50);
    expect(checked.state(50)).toBe('down');
    expect(checked.health(50).lastAnswer).toEqual({ at: 50, status: 200 });
    expect(events.map((e) => e.event)).toEqual(['upstream_down']);
  });

  it('an active failure takes a server out until the next passing check; repeated failures log once', () => {
    const a = server('http://a');
    const events = recorder(a);
    a.failed('active', 'connect ECONNREFUSED', 0);
    a.failed('active', 'connect ECONNREFUSED', 500);
    a.failed('passive', 'refused', 600);
    expect(events).toHaveLength(1);
    a.passed('200', 1599);
    expect(a.up).toBe(false); // the passive failure at 600 holds it out until 1600
    a.passed('200', 1600);
    expect(a.up).toBe(true);
    expect(events).toHaveLength(2);
    expect(a.failures).toBe(1); // active check failures are not request failures
  });
});

describe('compilePools and the site', () => {
  it('accepts one URL or a pool per role, one Server per distinct URL', () => {
    const { pools, servers } = compilePools(
      'docker',
      { read: { servers: ['http://a:8082', 'http://b:8082/'], backup: ['http://c:8082'] }, write: 'http://a:8082/' },
      { backoffMs: 1000, checked: true },
    );
    expect(servers.map((s) => s.href)).toEqual(['http://a:8082', 'http://b:8082/', 'http://c:8082']);
    expect(pools.write.primaries[0]).toBe(pools.read.primaries[0]);
    expect(pools.read.backups.map((s) => s.href)).toEqual(['http://c:8082']);
  });

  it('puts every server of every pool into upstreamsByPrefix; active checks on by default, for every site', () => {
    const config = parseConfig({
      sites: [
        {
          name: 'docker',
          hosts: ['idocker.io'],
          preset: 'docker',
          upstreams: {
            read: { servers: ['http://a:8081/repository/docker-group/'], backup: ['http://b:8081/repository/docker-group/'] },
            write: { servers: ['http://a:8081/repository/docker-hosted/'], backup: ['http://b:8081/repository/docker-hosted/'] },
          },
        },
        { name: 'web', hosts: ['repo.example.com'], upstream: 'http://a:8081', health: { path: '/service/rest/v1/status' } },
      ],
    });
    const docker = compileSite(config.sites[0]!);
    expect(docker.upstreamsByPrefix.map((u) => u.href).sort()).toEqual(
      [
        'http://a:8081/repository/docker-group/',
        'http://a:8081/repository/docker-hosted/',
        'http://b:8081/repository/docker-group/',
        'http://b:8081/repository/docker-hosted/',
      ].sort(),
    );
    expect(docker.upstreams.read.href).toBe('http://a:8081/repository/docker-group/');
    expect(docker.health).toMatchObject({ checks: true, path: '/v2/', intervalMs: 5000, backoffMs: 10_000 });
    expect(docker.health.healthy(401)).toBe(true);
    expect(docker.health.healthy(404)).toBe(false);
    const web = compileSite(config.sites[1]!);
    // A health path of one's own: 200–399, for checks and probes alike.
    expect(web.health).toMatchObject({ checks: true, path: '/service/rest/v1/status', expected: '200–399' });
    expect(web.health.passes(302)).toBe(true);
    expect(web.health.passes(404)).toBe(false);
    expect(web.health.passes(500)).toBe(false);
    // One server per role: active checks all the same (a dead upstream must show on /readyz).
    const split = parseConfig({
      sites: [
        { name: 'd', hosts: ['x'], preset: 'docker', upstreams: { read: 'http://a', write: 'http://b' } },
        { name: 'n', hosts: ['y'], preset: 'npm', upstream: 'http://nexus:8081/repository/npm-group/' },
        { name: 'off', hosts: ['z'], upstream: 'http://c', health: { checks: false } },
      ],
    });
    const [d, n, off] = split.sites.map(compileSite);
    expect(d!.health).toMatchObject({ checks: true, path: '/v2/', expected: '200 or 401' });
    expect(d!.servers.every((s) => s.checked)).toBe(true);
    expect(d!.health.passes(404)).toBe(false);
    // A repository root is no API: any answer below 500 is a live server; `check --probe` stays strict.
    expect(n!.health).toMatchObject({ checks: true, path: '/', expected: 'any answer below 500' });
    expect([200, 401, 403, 404].map(n!.health.passes)).toEqual([true, true, true, true]);
    expect([500, 502, 503].map(n!.health.passes)).toEqual([false, false, false]);
    expect(n!.health.healthy(404)).toBe(false);
    expect(off!.health.checks).toBe(false);
    expect(off!.servers.every((s) => !s.checked)).toBe(true);
  });

  it('refuses a server listed twice in one pool and an empty pool', () => {
    const site = (read: unknown) => ({ sites: [{ name: 'd', hosts: ['x'], upstreams: { read, write: 'http://w' } }] });
    expect(() => parseConfig(site({ servers: ['http://a'], backup: ['http://a/'] }))).toThrow(
      /sites\[0\]\.upstreams\.read\.backup\[0\]: http:\/\/a\/ is listed twice/,
    );
    expect(() => parseConfig(site({ servers: [] }))).toThrow(/sites\[0\]\.upstreams\.read\.servers: must list at least one primary/);
    expect(() => parseConfig(site({ servers: ['nexus:8082'] }))).toThrow(/sites\[0\]\.upstreams\.read\.servers\[0\]: must be an absolute http\(s\) URL/);
    expect(() => parseConfig(site('nexus:8082'))).toThrow(/sites\[0\]\.upstreams\.read: must be an absolute http\(s\) URL/);
  });

  it('admin listener defaults to loopback', () => {
    const config = parseConfig({ admin: {}, sites: [{ name: 'd', hosts: ['x'], upstream: 'http://a' }] });
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseConfig({ sites: [{ name: 'd', hosts: ['x'], upstream: 'http://a' }] }).admin).toBeUndefined();
  });
});
