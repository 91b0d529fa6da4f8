import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import type { Exchange, OutgoingRequest, UpstreamResponse } from '../../src/exchange.ts';
import { UpstreamError, type UpstreamClient } from '../../src/forward/client.ts';
import { toPublicUrl } from '../../src/passes/public-url.ts';
import { compileSite, type Site } from '../../src/site/site.ts';
import { sendWithFailover } from '../../src/forward/send.ts';

const A = 'http://group-a:8082';
const B = 'http://group-b:8082';
const HA = 'http://hosted-a:8083';
const HB = 'http://hosted-b:8083';

function haSite(extra: Record<string, unknown> = {}): Site {
  const config = parseConfig({
    sites: [
      {
        name: 'docker',
        hosts: ['idocker.io'],
        preset: 'docker',
        upstreams: { read: { servers: [A], backup: [B] }, write: { servers: [HA], backup: [HB] } },
        health: { checks: false, backoff: 60 },
        ...extra,
      },
    ],
  });
  const site = compileSite(config.sites[0]!);
  for (const s of site.servers) s.onChange = () => {};
  return site;
}

function exchangeFor(site: Site, target: string, init: RequestInit = {}): Exchange {
  const request = new Request(target, { duplex: 'half', ...init } as RequestInit);
  const url = new URL(request.url);
  const role = site.route(request.method, url.pathname, url.searchParams);
  if (role === 'deny') throw new Error('denied');
  return {
    request,
    url,
    clientAddress: '192.0.2.1',
    site,
    role,
    upstream: site.upstreams[role]!,
    startedAt: Date.now(),
    tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false },
  };
}

/** A client that answers per upstream origin: a status, or 'down' (connection refused). */
function fakeClient(behaviour: Record<string, number | 'down'>) {
  const sent: OutgoingRequest[] = [];
  const client: UpstreamClient = {
    async send(outgoing) {
      sent.push(outgoing);
      const origin = new URL(outgoing.url).origin;
      const what = behaviour[origin] ?? 200;
      if (what === 'down') throw new UpstreamError('unreachable', `${new URL(outgoing.url).host} is unreachable`);
      const response: UpstreamResponse = { status: what, headers: new Headers({ 'x-from': origin }), body: new Response(`from ${origin}`).body };
      return response;
    },
  };
  return { client, sent, origins: () => sent.map((o) => new URL(o.url).origin) };
}

describe('sendWithFailover', () => {
  it('retries a GET on the next server when the first refuses the connection, and marks it down', async () => {
    const site = haSite({ upstreams: { read: { servers: [A, 'http://group-c:8082'], backup: [B] }, write: HA } });
    const { client, origins } = fakeClient({ [A]: 'down' });
    const outcome = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/team/app/manifests/1.0'), client);
    expect(outcome.kind).toBe('response');
    if (outcome.kind !== 'response') return;
    expect(origins()).toEqual([A, 'http://group-c:8082']);
    expect(outcome.exchange.upstream.href).toBe('http://group-c:8082');
    expect(site.pools.read.primaries[0]!.up).toBe(false);
    expect(site.pools.read.retries).toBe(1);
    // Down servers are not tried again while their back-off runs.
    await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/team/app/manifests/1.0'), client);
    expect(origins().slice(2)).toEqual(['http://group-c:8082']);
  });

  it('falls over to the backup only when no primary is healthy', async () => {
    const site = haSite();
    const { client, origins } = fakeClient({ [A]: 'down' });
    const first = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/blobs/sha256:' + '1'.repeat(64)), client);
    expect(first.kind).toBe('response');
    expect(origins()).toEqual([A, B]);
    await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/'), client);
    expect(origins()).toEqual([A, B, B]);
  });

  it('retries a GET that got a fail status, and returns a fail status when there is no other server', async () => {
    const site = haSite();
    const { client, origins } = fakeClient({ [A]: 503, [B]: 502 });
    const outcome = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/tags/list'), client);
    expect(origins()).toEqual([A, B]);
    expect(outcome.kind === 'response' && outcome.response.status).toBe(502);
  });

  it('never replays a request with a body, nor a GET that declares one', async () => {
    const site = haSite({ upstreams: { read: { servers: [A], backup: [B] }, write: { servers: [HA, 'http://hosted-c:8083'] } } });
    const { client, origins } = fakeClient({ [HA]: 'down', [A]: 'down' });
    const patch = await sendWithFailover(
      exchangeFor(site, 'http://idocker.io/v2/a/blobs/uploads/u1', { method: 'PATCH', body: new Uint8Array(10), headers: { 'content-length': '10' } }),
      client,
    );
    expect(patch.kind).toBe('failed');
    expect(origins()).toEqual([HA]);
    // A POST without a body is a write as well: not retried either.
    const post = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/blobs/uploads/', { method: 'POST' }), client);
    expect(post.kind).toBe('response'); // HA is down now, so hosted-c was picked first
    expect(origins()).toEqual([HA, 'http://hosted-c:8083']);
    const get = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/tags/list', { headers: { 'transfer-encoding': 'chunked' } }), client);
    expect(get.kind).toBe('failed');
    expect(origins()).toEqual([HA, 'http://hosted-c:8083', A]);
  });

  it('refuses a write with 503 "pushes are paused" when no primary is healthy, sending nothing', async () => {
    const site = haSite();
    site.pools.write.primaries[0]!.failed('passive', 'refused');
    const { client, sent } = fakeClient({});
    const outcome = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/blobs/uploads/', { method: 'POST' }), client);
    expect(sent).toHaveLength(0);
    expect(outcome.kind).toBe('refused');
    if (outcome.kind !== 'refused') return;
    expect(outcome.response.status).toBe(503);
    expect(outcome.response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(Number(outcome.response.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await outcome.response.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/^pushes to docker are paused/) });
  });

  it('lets reads on the write role (blob checks of a push) use the backup', async () => {
    const site = haSite();
    site.pools.write.primaries[0]!.failed('passive', 'refused');
    const { client, origins } = fakeClient({});
    const outcome = await sendWithFailover(exchangeFor(site, `http://idocker.io/v2/a/blobs/sha256:${'2'.repeat(64)}`, { method: 'HEAD' }), client);
    expect(outcome.kind).toBe('response');
    expect(origins()).toEqual([HB]);
  });

  it('writes to a backup when the site allows it; JSON errors on other sites', async () => {
    const site = haSite({ writeToBackup: true });
    site.pools.write.primaries[0]!.failed('passive', 'refused');
    const { client, origins } = fakeClient({});
    expect((await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/blobs/uploads/', { method: 'POST' }), client)).kind).toBe('response');
    expect(origins()).toEqual([HB]);

    const web = haSite({ preset: 'generic', upstreams: undefined, upstream: { servers: [HA], backup: [HB] } });
    web.pools.write.primaries[0]!.failed('passive', 'refused');
    const refused = await sendWithFailover(exchangeFor(web, 'http://idocker.io/pkg', { method: 'PUT', body: 'x' }), client);
    expect(refused.kind === 'refused' && (await refused.response.json())).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/^writes to docker are paused/),
    });
  });

  it('tries a single server even when it is marked down (nothing to fail over to)', async () => {
    const site = haSite({ upstreams: { read: A, write: HA } });
    site.pools.write.primaries[0]!.failed('passive', 'refused');
    const { client, origins } = fakeClient({});
    expect((await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/blobs/uploads/', { method: 'POST' }), client)).kind).toBe('response');
    expect(origins()).toEqual([HA]);
  });

  it('does not blame the server when the client went away', async () => {
    const site = haSite();
    const controller = new AbortController();
    controller.abort();
    const client: UpstreamClient = {
      send: async () => {
        throw new UpstreamError('unreachable', 'reset');
      },
    };
    const exchange = exchangeFor(site, 'http://idocker.io/v2/a/tags/list', { signal: controller.signal });
    expect((await sendWithFailover(exchange, client)).kind).toBe('failed');
    // Nothing was learnt about any server: still unknown, none taken out.
    expect(site.servers.map((s) => s.state())).toEqual(site.servers.map(() => 'unknown'));
  });

  it('counts in-flight transfers per server until released', async () => {
    const site = haSite();
    const { client } = fakeClient({});
    const outcome = await sendWithFailover(exchangeFor(site, 'http://idocker.io/v2/a/tags/list'), client);
    const a = site.pools.read.primaries[0]!;
    expect(a.active).toBe(1);
    if (outcome.kind === 'response') {
      outcome.release();
      outcome.release();
    }
    expect(a.active).toBe(0);
  });

  it('maps Locations and realms of every pool server back to the public URL', () => {
    const site = haSite();
    const exchange = { ...exchangeFor(site, 'https://idocker.io/v2/a/blobs/uploads/', { method: 'POST' }), upstream: site.pools.write.backups[0]!.upstream };
    const local = { ...exchange, site: { ...site, preserveHost: false } };
    expect(toPublicUrl(local, 'http://hosted-b:8083/v2/a/blobs/uploads/u1?_state=x')).toBe('https://idocker.io/v2/a/blobs/uploads/u1?_state=x');
    expect(toPublicUrl(local, 'http://group-b:8082/v2/token')).toBe('https://idocker.io/v2/token');
  });
});
