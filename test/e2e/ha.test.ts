/**
 * High availability through the router with real registries: a primary "Nexus" (hosted A, and
 * group A = a pull-through proxy over it) and a synced backup (hosted B, group B), pools
 * `read: [group A] backup [group B]`, `write: [hosted A] backup [hosted B]`, short health-check
 * intervals. The primary dies mid-series and comes back; pushes pause and resume; a download in
 * flight when its upstream dies breaks visibly; /metrics agrees with the access log.
 *
 * Runs on every runtime with an admin listener (workerd has none: a worker gets no listener of its
 * own, and its timers only run while a request does; see README "High availability").
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { headBlob, headManifest, uploadBlob } from '../support/blob.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { freePort } from '../support/ports.ts';
import { parsePrometheus, sumOf, sampleValue, type Family } from '../support/prometheus.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest, tryCopy } from '../support/skopeo.ts';

const MiB = 1024 * 1024;
/** Health-check interval of the suite, in seconds. */
const INTERVAL = 0.5;
const HA_RUNTIMES = RUNTIMES.filter((runtime) => runtime !== 'workerd');

interface HealthLine {
  event: 'upstream_down' | 'upstream_up';
  upstream: string;
  via: string;
  time: string;
}

describe.each(HA_RUNTIMES)('primary + synced backup on %s', (runtime) => {
  let hostedA: Registry;
  let groupA: Registry;
  let hostedB: Registry;
  let groupB: Registry;
  let router: RouterProcess;
  let admin: string;
  let work: string;
  const images: BuiltImage[] = [];

  const accessLog = (): AccessEntry[] => router.accessLog();
  const healthLines = (): HealthLine[] =>
    router
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{"time"') && line.includes('"event":"upstream_'))
      .map((line) => JSON.parse(line) as HealthLine);
  const adminGet = async (path: string) => {
    const res = await request(`${admin}${path}`);
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  const scrape = async (): Promise<Map<string, Family>> => {
    const res = await adminGet('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(res.text);
  };
  const pull = async (name: string, image: BuiltImage) => {
    const dir = join(work, `pulled-${name.replace(/\W/g, '_')}-${Math.random().toString(36).slice(2)}`);
    await copy(dockerRef(router.url, name, image.tag), `oci:${dir}:${image.tag}`);
    expect(await inspectDigest(`oci:${dir}:${image.tag}`)).toBe(image.manifestDigest);
  };
  const repoDir = (registry: Registry, name: string) => join(registry.dataDir, 'docker/registry/v2/repositories', name);
  const blobFile = (registry: Registry, digest: string) => {
    const hex = digest.replace(/^sha256:/, '');
    return join(registry.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rr-ha-'));
    [hostedA, hostedB] = await Promise.all([startRegistry({ name: 'hosted-a' }), startRegistry({ name: 'hosted-b' })]);
    [groupA, groupB] = await Promise.all([
      startRegistry({ name: 'group-a', proxyRemote: hostedA.url }),
      startRegistry({ name: 'group-b', proxyRemote: hostedB.url }),
    ]);
    for (const [i, tag] of ['1.0', '2.0', '3.0'].entries()) {
      images.push(
        await buildImage(join(work, 'images'), {
          tag,
          layers: [{ randomBytes: MiB, seed: `ha-base-${i}` }, { files: { 'app/version': `${tag}\n` } }],
        }),
      );
    }
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    router = await startRouter(runtime, {
      timeouts: { idle: 30, connect: 2 },
      admin: { port: adminPort },
      sites: [
        {
          name: 'docker',
          hosts: ['127.0.0.1', 'localhost'],
          preset: 'docker',
          upstreams: {
            read: { servers: [groupA.url], backup: [groupB.url] },
            write: { servers: [hostedA.url], backup: [hostedB.url] },
          },
          health: { interval: INTERVAL, timeout: 1, backoff: INTERVAL },
        },
      ],
    });
    // The admin listener may come up a moment after the sites' listener.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ready = await adminGet('/readyz').catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`admin listener not ready: ${JSON.stringify(ready)}\n${router.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    await router?.stop();
    await Promise.allSettled([hostedA, groupA, hostedB, groupB].map((registry) => registry?.destroy()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves /metrics, /healthz and /readyz on the admin listener only, never through a site Host', async () => {
    expect(await adminGet('/healthz')).toMatchObject({ status: 200, text: expect.stringContaining('"live"') });
    const ready = JSON.parse((await adminGet('/readyz')).text) as {
      status: string;
      problems: string[];
      sites: Array<{ name: string; servers: Array<{ upstream: string; state: string }> }>;
    };
    expect(ready).toMatchObject({ status: 'ready', problems: [] });
    // Each server with what is known of it (none is down; each is up once its first check passed).
    expect(ready.sites.map((site) => site.name)).toEqual(['docker']);
    expect(ready.sites[0]!.servers.map((server) => server.upstream).sort()).toEqual([groupA.url, groupB.url, hostedA.url, hostedB.url].sort());
    expect(ready.sites[0]!.servers.filter((server) => server.state === 'down')).toEqual([]);
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      for (const host of ['127.0.0.1', new URL(admin).host]) {
        const res = await request(`${router.url}${path}`, { headers: { host } });
        const text = await res.body.text();
        expect(res.statusCode).toBe(404); // the registry's answer: forwarded like any path
        expect(text).not.toMatch(/registry_router_|"live"|"ready"/);
      }
    }
  });

  it('pushes land on the write primary only (the backup is synced apart, here by skopeo)', async () => {
    for (const image of images) await copy(image.ref(), dockerRef(router.url, 'team/app', image.tag));
    for (const image of images) {
      expect(await inspectDigest(dockerRef(hostedA.url, 'team/app', image.tag))).toBe(image.manifestDigest);
      expect((await headManifest(hostedB.url, 'team/app', image.tag)).status).toBe(404);
    }
    // The timer-driven sync of the original set-up.
    for (const image of images) await copy(dockerRef(hostedA.url, 'team/app', image.tag), dockerRef(hostedB.url, 'team/app', image.tag));
  });

  it('a series of pulls goes on from the backup when the primary dies midway, with equal digests', async () => {
    let killedAt = 0;
    for (let i = 0; i < 6; i++) {
      if (i === 2) {
        await Promise.all([groupA.stop(), hostedA.stop()]);
        killedAt = accessLog().length;
      }
      await pull('team/app', images[i % images.length]!);
    }
    const afterKill = accessLog().slice(killedAt);
    expect(afterKill.length).toBeGreaterThan(0);
    expect(afterKill.filter((entry) => entry.status >= 500)).toEqual([]);
    expect(new Set(afterKill.filter((entry) => entry.role === 'read').map((entry) => entry.upstream))).toEqual(new Set([groupB.url]));
    await until(() => healthLines().some((line) => line.event === 'upstream_down' && line.upstream === hostedA.url));
    expect(
      healthLines()
        .filter((line) => line.event === 'upstream_down')
        .map((line) => line.upstream),
    ).toEqual(expect.arrayContaining([groupA.url, hostedA.url]));
  });

  let paused: BuiltImage;
  it('a push while the primary is down gets 503 "pushes are paused" and writes nothing anywhere', async () => {
    paused = await buildImage(join(work, 'images'), {
      tag: '4.0',
      layers: [{ randomBytes: MiB, seed: `ha-paused-${runtime}` }, { files: { 'app/version': '4.0\n' } }],
    });
    const push = await tryCopy(paused.ref(), dockerRef(router.url, 'team/new', '4.0'));
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/503|paused/);

    const post = await request(`${router.url}/v2/team/new/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    expect(post.statusCode).toBe(503);
    expect(post.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(Number(post.headers['retry-after'])).toBeGreaterThan(0);
    const body = (await post.body.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('UNAVAILABLE');
    expect(body.errors[0]!.message).toMatch(/^pushes to docker are paused/);

    // Nothing on the backup (asked over HTTP and on disk), nothing on the stopped primary's disk.
    expect((await headManifest(hostedB.url, 'team/new', '4.0')).status).toBe(404);
    for (const blob of paused.blobs) {
      expect((await headBlob(hostedB.url, 'team/new', blob.digest)).status).toBe(404);
      expect(existsSync(blobFile(hostedB, blob.digest))).toBe(false);
      expect(existsSync(blobFile(hostedA, blob.digest))).toBe(false);
    }
    expect(existsSync(repoDir(hostedB, 'team/new'))).toBe(false);
    expect(existsSync(repoDir(hostedA, 'team/new'))).toBe(false);

    const ready = await adminGet('/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text).problems).toEqual(['site docker: no healthy write upstream (writes are paused; backups take reads only)']);
    const metrics = await scrape();
    expect(sampleValue(metrics, 'registry_router_upstream_up', { role: 'write', upstream: hostedA.url })).toBe(0);
    expect(sampleValue(metrics, 'registry_router_upstream_up', { role: 'read', upstream: groupB.url })).toBe(1);
  });

  it('notices the restarted primary within the check interval, and pushes work again (to the primary only)', async () => {
    // The proxy asks its remote at start-up (and exits if it cannot reach it): hosted first.
    await hostedA.restart();
    await groupA.restart();
    const restarted = Date.now();
    await until(() => healthLines().filter((line) => line.event === 'upstream_up').length >= 2, 10_000);
    const noticed = Math.max(
      ...healthLines()
        .filter((line) => line.event === 'upstream_up')
        .map((line) => Date.parse(line.time)),
    );
    // One interval, plus the check itself and scheduling slack on a loaded 2-core machine.
    expect(noticed - restarted).toBeLessThan(INTERVAL * 1000 + 1000);
    expect(
      healthLines()
        .filter((line) => line.event === 'upstream_up')
        .every((line) => line.via === 'active'),
    ).toBe(true);
    expect((await adminGet('/readyz')).status).toBe(200);

    await copy(paused.ref(), dockerRef(router.url, 'team/new', '4.0'));
    expect(await inspectDigest(dockerRef(hostedA.url, 'team/new', '4.0'))).toBe(paused.manifestDigest);
    expect((await headManifest(hostedB.url, 'team/new', '4.0')).status).toBe(404);
    const before = accessLog().length;
    await pull('team/new', paused);
    await pull('team/app', images[0]!);
    // Reads are back on the primary.
    expect(
      new Set(
        accessLog()
          .slice(before)
          .filter((entry) => entry.role === 'read')
          .map((entry) => entry.upstream),
      ),
    ).toEqual(new Set([groupA.url]));
  });

  it('a download in flight when its upstream dies ends with a client-visible error, never a short 200', async () => {
    const size = 64 * MiB;
    const { digest } = await uploadBlob(router.url, 'team/big', size, { seed: `ha-big-${runtime}` });
    const res = await request(`${router.url}/v2/team/big/blobs/${digest}`);
    expect(res.statusCode).toBe(200);
    let received = 0;
    let killed: Promise<void> | undefined;
    const read = (async () => {
      for await (const chunk of res.body) {
        received += (chunk as Buffer).length;
        // Stop reading for a moment once the transfer runs, and kill the server sending it.
        if (!killed && received >= MiB) {
          killed = groupA.stop();
          await killed;
        }
      }
    })();
    await expect(read).rejects.toThrow();
    expect(received).toBeLessThan(size);
    await until(() => accessLog().some((entry) => entry.path === `/v2/team/big/blobs/${digest}` && entry.method === 'GET'));
    const entry = accessLog().find((e) => e.path === `/v2/team/big/blobs/${digest}` && e.method === 'GET')!;
    expect(entry).toMatchObject({ status: 200, upstream: groupA.url, error: expect.stringMatching(/^response body/) });
    expect(entry.bytesOut).toBeLessThan(size);
    await groupA.restart();
    // Back before or after a check noticed it was gone: either way, every server is up again within an interval or two.
    await until(async () => sumOf(await scrape(), 'registry_router_upstream_up') === 4, 10_000);
  });

  it('/metrics parses as Prometheus text and its counters match the requests made', async () => {
    const before = await scrape();
    const labels = { site: 'docker', role: 'read', upstream: groupA.url, status: '200' };
    for (let i = 0; i < 5; i++) {
      const res = await request(`${router.url}/v2/`);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    await until(() => accessLog().filter((entry) => entry.path === '/v2/' && entry.method === 'GET').length >= 5);
    const after = await scrape();
    expect(sampleValue(after, 'registry_router_requests_total', labels) - sampleValue(before, 'registry_router_requests_total', labels)).toBe(5);
    const histogram = { site: 'docker', role: 'read' };
    expect(
      sampleValue(after, 'registry_router_request_duration_seconds_count', histogram) -
        sampleValue(before, 'registry_router_request_duration_seconds_count', histogram),
    ).toBe(5);

    // Every request the suite made is in the access log; the counters agree with it line by line.
    const log = accessLog();
    expect(sumOf(after, 'registry_router_requests_total')).toBe(log.length);
    const counts = new Map<string, number>();
    const bytesOut = new Map<string, number>();
    const bytesIn = new Map<string, number>();
    for (const entry of log) {
      const series = JSON.stringify([entry.site ?? '', entry.role ?? '', entry.upstream ?? '']);
      const key = JSON.stringify([entry.site ?? '', entry.role ?? '', entry.upstream ?? '', String(entry.status)]);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      bytesOut.set(series, (bytesOut.get(series) ?? 0) + entry.bytesOut);
      bytesIn.set(series, (bytesIn.get(series) ?? 0) + entry.bytesIn);
    }
    const samples = after.get('registry_router_requests_total')!.samples;
    expect(samples).toHaveLength(counts.size);
    for (const sample of samples) {
      const { site, role, upstream, status } = sample.labels as Record<string, string>;
      expect(sample.value, `${site} ${role} ${upstream} ${status}`).toBe(counts.get(JSON.stringify([site, role, upstream, status])));
    }
    for (const sample of after.get('registry_router_sent_bytes_total')!.samples) {
      expect(sample.value).toBe(bytesOut.get(JSON.stringify([sample.labels.site, sample.labels.role, sample.labels.upstream])));
    }
    for (const sample of after.get('registry_router_received_bytes_total')!.samples) {
      expect(sample.value).toBe(bytesIn.get(JSON.stringify([sample.labels.site, sample.labels.role, sample.labels.upstream])));
    }
    expect(sumOf(after, 'registry_router_request_duration_seconds_count')).toBe(log.length);
    // The big blob went up and came down (in part) through the router.
    expect(sampleValue(after, 'registry_router_received_bytes_total', { role: 'write', upstream: hostedA.url })).toBeGreaterThanOrEqual(64 * MiB);
    expect(sumOf(after, 'registry_router_upstream_up')).toBe(4);
    expect(sumOf(after, 'registry_router_upstream_transfers_in_flight')).toBe(0);
    expect(sampleValue(after, 'registry_router_upstream_failures_total', { upstream: groupA.url })).toBeGreaterThanOrEqual(0);
  });
});

async function until(condition: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
