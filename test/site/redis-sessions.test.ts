/**
 * Push sessions in Redis (src/site/redis-sessions.ts) against Debian's `redis-server`, started here
 * on its own port: the store's calls (open, find, renew, expiry, the server held once, end), two
 * stores as two processes seeing one session, and two whole apps in-process (a fake upstream
 * client) whose requests of one push alternate: with Redis the manifest HEAD goes to hosted, without
 * it to the group; Redis killed, paused and back: requests still answered, writes never to the
 * group, the fallback on /metrics and /readyz, Redis used again once back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type RouterApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { OutgoingRequest, UpstreamClient } from '../../src/forward/client.ts';
import { PushSessions } from '../../src/site/push-sessions.ts';
import { RedisSessions, redisStore } from '../../src/site/redis-sessions.ts';
import { compileSite } from '../../src/site/site.ts';
import { startRedis, stopRedis, type RedisProcess } from '../support/redis.ts';

const GROUP = 'http://group:8082';
const HOSTED = 'http://hosted:8083';
/** hosted as the config names it: with credentials (which must stay out of Redis). */
const HOSTED_WITH_USER = 'http://deployer:s3cret@hosted:8083';
const BLOB = `sha256:${'a'.repeat(64)}`;
// containerd's pusher asks for one manifest type and */* (src/rules/accept.ts): a push check, not a pull.
const PUSH_CHECK = 'application/vnd.oci.image.manifest.v1+json, */*';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => stopRedis(redis));

const config = (sessions?: { redis: string; timeout?: number }) =>
  parseConfig({
    sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: GROUP, write: HOSTED_WITH_USER }, health: { checks: false } }],
    ...(sessions && { sessions }),
  });

/** Polls `condition` every 20 ms for up to 10 s. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the Redis store', () => {
  const opened: RedisSessions[] = [];
  afterEach(() => {
    for (const shared of opened.splice(0)) shared.close();
  });
  const processStore = async (idleMs: number, prefix = `t${Math.random().toString(36).slice(2)}:`) => {
    const site = compileSite(config().sites[0]!);
    const shared = new RedisSessions({ redis: redis.url, keyPrefix: prefix, timeout: 500 }, () => {});
    opened.push(shared);
    await until('connected', () => shared.client?.status === 'ready');
    return {
      site,
      shared,
      raw: redisStore(() => shared.client!, `${prefix}docker:`, idleMs, site.servers),
      store: shared.store(site, idleMs, new PushSessions(idleMs, 100)),
    };
  };

  it('open, find, hold once, reopen for another role, end; two stores (two processes) see one session', async () => {
    const a = await processStore(60_000);
    const b = await processStore(60_000, a.shared.settings.keyPrefix);
    const opened = await a.store.open('client app', 'write', 1000);
    expect([opened.role, opened.server]).toEqual(['write', undefined]);
    // The other process finds it, and the server held by one is the other's own Server of that URL.
    expect((await b.store.find('client app'))?.role).toBe('write');
    const hosted = a.site.servers.find((s) => s.href.startsWith(HOSTED_WITH_USER))!;
    await a.store.hold(opened, hosted);
    // Stored by URL without userinfo.
    expect(await a.shared.client!.hget(`${a.shared.settings.keyPrefix}docker:client app`, 'server')).toBe('http://hosted:8083/');
    const seen = await b.store.find('client app');
    expect(seen?.server?.href).toBe(hosted.href);
    expect(seen?.server).toBe(b.site.servers.find((s) => s.href === hosted.href));
    // Held once: a later hold by another process keeps the first server.
    const group = b.site.servers.find((s) => s.href.startsWith(GROUP))!;
    await b.raw.hold(seen!, group);
    expect((await a.raw.find('client app', 0))?.server?.href).toBe(hosted.href);
    // Opened again for the same role: the same session (its server kept); for another: afresh.
    expect((await b.store.open('client app', 'write'))?.server?.href).toBe(hosted.href);
    const snapshots = await b.store.open('client app', 'snapshots');
    expect([snapshots.role, snapshots.server]).toEqual(['snapshots', undefined]);
    expect((await a.raw.find('client app', 0))?.role).toBe('snapshots');
    await a.store.end(snapshots);
    expect(await b.raw.find('client app', 0)).toBeUndefined();
    expect(await b.store.find('client app')).toBeUndefined();
    expect(a.shared.status()).toMatchObject({ store: 'redis', up: true, fallbacks: 0 });
  });

  it('expires idle ms after the last call; each call renews it (PEXPIRE)', async () => {
    const { shared, raw } = await processStore(400);
    const key = `${shared.settings.keyPrefix}docker:client app`;
    await raw.open('client app', 'write', 0);
    const ttl = await shared.client!.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(400);
    await until('the TTL went down', async () => (await shared.client!.pttl(key)) < ttl - 100);
    await raw.find('client app', 0);
    expect(await shared.client!.pttl(key)).toBeGreaterThan(ttl - 100);
    await until('the session expired', async () => (await shared.client!.exists(key)) === 0);
    expect(await raw.find('client app', 0)).toBeUndefined();
  });
});

describe('a database the server does not have', () => {
  it('stays away (SELECT refused, logged once, never "back"), answers from the process, and writes nothing to database 0', async () => {
    const lines: string[] = [];
    const prefix = `db${Math.random().toString(36).slice(2)}:`;
    const url = `redis://127.0.0.1:${redis.port}/99`;
    const shared = new RedisSessions({ redis: url, keyPrefix: prefix, timeout: 500 }, (line) => lines.push(line));
    const other = new RedisSessions({ redis: redis.url, keyPrefix: prefix, timeout: 500 }, () => {});
    try {
      const site = compileSite(config().sites[0]!);
      const store = shared.store(site, 60_000, new PushSessions(60_000, 100));
      await until('the refusal logged', () => lines.length > 0);
      expect(lines).toEqual([expect.stringContaining(`sessions store ${url} is away (SELECT 99 refused: ERR DB index is out of range)`)]);
      const opened = await store.open('client app', 'write');
      expect(opened.role).toBe('write');
      expect((await store.find('client app'))?.role).toBe('write');
      // Tried again after RETRY_MS: still refused, still away.
      await new Promise((r) => setTimeout(r, 1200));
      await store.find('client app');
      expect(shared.status()).toMatchObject({ up: false, reason: 'SELECT 99 refused: ERR DB index is out of range' });
      expect(shared.status().fallbacks).toBeGreaterThanOrEqual(3);
      expect(lines).toHaveLength(1);
      await until('the other store connected', () => other.client?.status === 'ready');
      expect(await other.client!.keys(`${prefix}*`)).toEqual([]);
    } finally {
      shared.close();
      other.close();
    }
  });
});

/** The fake upstream: answers 200 to everything and records where each request went. */
function recordingClient(seen: string[]): UpstreamClient {
  return {
    async send(request: OutgoingRequest) {
      await request.body?.cancel();
      const url = new URL(request.url);
      seen.push(`${request.method} ${url.origin} ${url.pathname}`);
      return { status: 200, headers: new Headers({ 'content-length': '2', 'content-type': 'application/json' }), body: new Response('{}').body };
    },
  };
}

describe('two routers, one push', () => {
  const apps: RouterApp[] = [];
  afterEach(() => {
    for (const app of apps.splice(0)) app.stop();
  });
  const seen: string[] = [];
  const logs: string[] = [];
  const router = (shared: boolean) => {
    const settings = config(shared ? { redis: redis.url, timeout: 200 } : undefined);
    const sharedSessions = settings.sessions && new RedisSessions(settings.sessions, (line) => logs.push(line));
    const app = createApp(settings, {
      client: recordingClient(seen),
      log: () => {},
      clientAddress: () => '192.0.2.7',
      ...(sharedSessions && { sharedSessions }),
    });
    apps.push(app);
    return app;
  };
  const send = async (app: RouterApp, method: string, path: string, accept = '*/*') => {
    const response = await app.fetch(
      new Request(`http://idocker.io${path}`, { method, headers: { host: 'idocker.io', accept, authorization: 'Basic Y2k6eA==' } }),
    );
    await response.body?.cancel();
    return response.status;
  };
  /** The push's blob HEAD on one router, the manifest HEAD on the other: where the HEAD went. */
  const push = async (first: RouterApp, second: RouterApp, repo: string) => {
    expect(await send(first, 'HEAD', `/v2/${repo}/blobs/${BLOB}`)).toBe(200);
    expect(await send(second, 'HEAD', `/v2/${repo}/manifests/1`, PUSH_CHECK)).toBe(200);
    expect(await send(second, 'PUT', `/v2/${repo}/manifests/1`)).toBe(200);
    return seen.filter((line) => line.endsWith(`/v2/${repo}/manifests/1`));
  };
  const admin = async (app: RouterApp, path: string) => {
    const response = await app.admin.fetch(new Request(`http://admin${path}`));
    return { status: response.status, text: await response.text() };
  };
  const metric = async (app: RouterApp, name: string) =>
    Number(new RegExp(`^${name}\\{store="redis"\\} (\\d+)$`, 'm').exec((await admin(app, '/metrics')).text)?.[1]);

  it('without a shared store the manifest HEAD of a push spread over two routers goes to the group', async () => {
    const [a, b] = [router(false), router(false)];
    expect(await push(a, b, 'apart')).toEqual([`HEAD ${GROUP} /v2/apart/manifests/1`, `PUT ${HOSTED} /v2/apart/manifests/1`]);
  });

  it('with Redis it goes to hosted; Redis killed: still answered, writes to hosted, the fallback counted and listed; back: used again', async () => {
    const [a, b] = [router(true), router(true)];
    await until(
      'both connected',
      async () => (await metric(a, 'registry_router_sessions_store_up')) + (await metric(b, 'registry_router_sessions_store_up')) === 2,
    );
    expect(await push(a, b, 'shared')).toEqual([`HEAD ${HOSTED} /v2/shared/manifests/1`, `PUT ${HOSTED} /v2/shared/manifests/1`]);
    expect(await metric(a, 'registry_router_sessions_fallbacks_total')).toBe(0);

    await redis.kill();
    await until('seen away', async () => (await metric(a, 'registry_router_sessions_store_up')) === 0);
    // A push on one router alone still has its session (the process's own); nothing goes to the group but reads.
    expect(await push(a, a, 'alone')).toEqual([`HEAD ${HOSTED} /v2/alone/manifests/1`, `PUT ${HOSTED} /v2/alone/manifests/1`]);
    for (let i = 0; i < 5; i++) expect(await send(b, 'PUT', `/v2/away/manifests/${i}`)).toBe(200);
    expect(seen.filter((line) => line.startsWith('PUT') && !line.includes(HOSTED))).toEqual([]);
    expect(await metric(a, 'registry_router_sessions_fallbacks_total')).toBeGreaterThanOrEqual(3);
    const readyz = await admin(a, '/readyz');
    expect(readyz.status).toBe(200);
    expect(JSON.parse(readyz.text).problems).toEqual([
      expect.stringMatching(new RegExp(`^sessions: redis store redis://127\\.0\\.0\\.1:${redis.port}/0 is away since `)),
    ]);
    const status = JSON.parse((await admin(a, '/status.json')).text);
    expect([status.ready, status.sessions.up, status.problems.length]).toEqual([true, false, 1]);
    // Logged once per router, however many calls fell back.
    expect(
      logs.filter((line) => line.includes('is away (')),
      logs.join('\n'),
    ).toHaveLength(2);

    await redis.restart();
    await until('back', async () => (await metric(a, 'registry_router_sessions_store_up')) + (await metric(b, 'registry_router_sessions_store_up')) === 2);
    expect(await push(b, a, 'again')).toEqual([`HEAD ${HOSTED} /v2/again/manifests/1`, `PUT ${HOSTED} /v2/again/manifests/1`]);
    expect(
      logs.filter((line) => line.includes('is back:')),
      logs.join('\n'),
    ).toHaveLength(2);
    expect((await admin(a, '/readyz')).text).not.toContain('sessions:');
  });

  it('Redis that hangs (SIGSTOP): each call waits at most the timeout, then the process sessions; used again once it answers', async () => {
    const [a, b] = [router(true), router(true)];
    await until(
      'both connected',
      async () => (await metric(a, 'registry_router_sessions_store_up')) + (await metric(b, 'registry_router_sessions_store_up')) === 2,
    );
    redis.pause();
    try {
      expect(await push(a, a, 'hung')).toEqual([`HEAD ${HOSTED} /v2/hung/manifests/1`, `PUT ${HOSTED} /v2/hung/manifests/1`]);
      expect(await metric(a, 'registry_router_sessions_store_up')).toBe(0);
      expect(await metric(a, 'registry_router_sessions_fallbacks_total')).toBeGreaterThanOrEqual(1);
    } finally {
      redis.resume();
    }
    // Tried again a second after the failure: the next call that finds it answering brings it back.
    await until('used again', async () => {
      await send(a, 'HEAD', `/v2/probe/blobs/${BLOB}`);
      return (await metric(a, 'registry_router_sessions_store_up')) === 1;
    });
    expect(await push(a, b, 'resumed')).toEqual([`HEAD ${HOSTED} /v2/resumed/manifests/1`, `PUT ${HOSTED} /v2/resumed/manifests/1`]);
  });
});
